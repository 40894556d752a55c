#!/usr/bin/env bash
# The lab's JMeter RMI keystore: one throw-away key pair (alias rmi) that every lab load generator gets, so the
# distributed load test runs over TLS in the lab as it does in production. Made once per machine with keytool
# (the JDK setup.sh installs); its password is in inventories/local/group_vars/loadgen.yml (lab only, not a
# secret: the key never leaves this machine and its containers). Production makes its own (roles/jmeter/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
keystore=.cache/lab-rmi/rmi_keystore.jks
password=webdemo-lab-only
if [ -s "$keystore" ] && keytool -list -keystore "$keystore" -storepass "$password" -alias rmi >/dev/null 2>&1; then
  echo "lab-rmi-keystore: $keystore is there"
  exit 0
fi
mkdir -p "$(dirname "$keystore")"
rm -f "$keystore"
keytool -genkeypair -alias rmi -keyalg RSA -keysize 2048 -validity 3650 -dname "CN=webdemo-lab-rmi" \
  -keystore "$keystore" -storetype JKS -storepass "$password" -keypass "$password" >/dev/null 2>&1
chmod 600 "$keystore"
echo "lab-rmi-keystore: made $keystore"
