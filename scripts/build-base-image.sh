#!/usr/bin/env bash
# Build the lab's systemd base image (Debian bookworm, systemd as PID 1) with debootstrap + docker import.
# No registry is reachable here, so nothing is pulled: the rootfs comes from Debian's mirror.
# Rebuilt only when this script's inputs change (their hash is stored as an image label).
set -euo pipefail

image=${WEBDEMO_BASE_IMAGE:-webdemo-lab-base:bookworm}
suite=${WEBDEMO_BASE_SUITE:-bookworm}
# The mirror the machine's own apt uses (deb822 or one-line format), unless given.
mirror=${WEBDEMO_DEBIAN_MIRROR:-$(
  { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
    grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } |
  grep -v security | head -n 1 || true)}
mirror=${mirror:-http://deb.debian.org/debian}
packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps
# Units that fight across containers (gettys grab the VM's ttys) or run apt behind Ansible's back.
masked="getty.target getty-static.service console-getty.service getty@.service autovt@.service
serial-getty@.service apt-daily.timer apt-daily-upgrade.timer"

inputs_hash=$(printf '%s\n' "$suite" "$packages" "$masked" "$(sha256sum "$0" | cut -d' ' -f1)" |
  sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "webdemo.inputs" }}' "$image" 2>/dev/null || true)
if [[ "$current" == "$inputs_hash" ]]; then
  echo "base-image: $image is up to date ($inputs_hash)"
  exit 0
fi

workdir=$(mktemp -d /var/tmp/webdemo-rootfs.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
rootfs=$workdir/rootfs
echo "base-image: debootstrap $suite from $mirror (about a minute)"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 ||
  { tail -n 30 "$workdir/debootstrap.log" >&2; exit 1; }

for unit in $masked; do ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"; done
# Each container must get its own machine id at boot.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/*
# An old mtime makes Ansible's apt cache_valid_time run apt-get update (a fresh one makes it skip it and fail).
touch -d @0 "$rootfs/var/lib/apt/lists"

echo "base-image: importing"
tar -C "$rootfs" -c . | docker import --change 'CMD ["/lib/systemd/systemd"]' - "$image-rootfs" >/dev/null
# docker import cannot set STOPSIGNAL; systemd stops cleanly (and fast) on SIGRTMIN+3.
printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\nLABEL webdemo.inputs=%s webdemo.lab=true\n' "$image-rootfs" "$inputs_hash" |
  docker build -q -t "$image" - >/dev/null
docker rmi "$image-rootfs" >/dev/null
echo "base-image: built $image ($inputs_hash)"
