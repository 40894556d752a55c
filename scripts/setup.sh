#!/usr/bin/env bash
# One-command setup of a controller (Debian 12, root): Debian packages, the pinned Python virtualenv with
# Ansible and its collections, a Docker engine, and the lab's systemd base image.
# Idempotent: a second run finds everything in place and changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

say() { printf '\n== setup: %s\n' "$*"; }

# Debian packages: the Docker engine, debootstrap for the base image, wrk + nginx for the benchmark,
# python3-venv for the virtualenv; prometheus + prometheus-alertmanager for promtool/amtool and the PromQL tests
# (installing them starts nothing where systemd is not PID 1).
apt_packages=(docker.io debootstrap python3-venv wrk nginx-light curl prometheus prometheus-alertmanager)
# Java and Maven assemble JMeter from Maven Central (scripts/build-jmeter-mirror.sh); machines that already have
# them (e.g. from another source) keep theirs.
command -v mvn >/dev/null || apt_packages+=(maven)
command -v javac >/dev/null || apt_packages+=(default-jdk-headless)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -q
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}"
  # The controller only needs promtool/amtool: where systemd runs, keep the packaged services from holding the
  # ports the lab publishes (9090, 9093).
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now prometheus prometheus-alertmanager 2>/dev/null || true
  fi
else
  say "Debian packages present"
fi

# Pinned Python tooling. Reinstalled only when a requirements file changes (their hash is the stamp).
python=${WEBDEMO_PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(cat requirements-dev.txt app/requirements.txt app/requirements-test.txt jmeter/requirements.txt | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  say "installing the Python virtualenv (.venv)"
  [[ -x .venv/bin/python ]] || "$python" -m venv .venv
  .venv/bin/pip install -q -r requirements-dev.txt -r app/requirements.txt -r app/requirements-test.txt \
    -r jmeter/requirements.txt
  .venv/bin/pip install -q --no-deps -e app
  echo "$want" >"$stamp"
else
  say "virtualenv up to date"
fi
.venv/bin/python scripts/check-collections.py

say "Docker engine"
scripts/docker-engine.sh

say "lab base image"
scripts/build-base-image.sh

say "helm and kubeconform (pinned, built from the Go module proxy)"
scripts/install-helm.sh

say "JMeter mirror (assembled from Maven Central, served to the lab as http://mirror:8088/)"
scripts/build-jmeter-mirror.sh

say "JMeter RMI keystore of the lab (distributed load test over TLS)"
scripts/make-lab-rmi-keystore.sh

say "done. Next: source .venv/bin/activate && ansible-playbook site.yml -i inventories/local   (or: scripts/test.sh)"
echo "root: $root"
