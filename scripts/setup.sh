#!/usr/bin/env bash
# One-command setup of a controller (Debian 12, root, nothing needed beforehand but Debian's minimal system): Debian
# packages, the Python virtualenv from the hashed lock, a Docker engine, the lab's systemd base image, the pinned Go
# toolchain and the helm/kubeconform built with it, Java/Maven and the JMeter archive the lab serves.
#
#   scripts/setup.sh              every step below, in this order
#   scripts/setup.sh go java      some steps (each installs the Debian packages it needs)
#
#   packages    the Debian packages of every step, in one apt run
#   venv        .venv: pip install --require-hashes -r requirements-dev.lock, then app/ and tools/ editable
#               (--no-deps); the collections checked against requirements.yml
#   docker      a Docker engine (scripts/docker-engine.sh)
#   base-image  the lab's image webdemo-lab-base:bookworm (scripts/build-base-image.sh)
#   go          the pinned Go toolchain (scripts/install-helm.sh --go-only): Debian's golang-go when there is no go,
#               which fetches the pinned toolchain from the Go module proxy
#   java        Java and Maven (Debian's default-jdk-headless and maven when missing)
#   helm        helm and kubeconform, pinned, built from the Go module proxy (scripts/install-helm.sh)
#   k8s         the lab's Kubernetes cluster parts (scripts/build-k8s.sh, pins in scripts/k8s/) and the node's
#               Debian packages (containerd, runc, CNI plugins, conntrack)
#   jmeter      the JMeter archive assembled from Maven Central (scripts/build-jmeter-mirror.sh)
#   keystore    the lab's JMeter RMI keystore (scripts/make-lab-rmi-keystore.sh)
#
# Each step prints how long it usually takes the first time on 2 cores, then how long it took.
# Idempotent: a second run finds everything in place, changes nothing and takes well under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

all_steps=(packages venv docker base-image go java helm k8s jmeter keystore)

say() { printf '\n== setup: %s\n' "$*"; }

# Debian packages: the Docker engine, debootstrap for the base image, wrk + nginx for the benchmark,
# python3-venv for the virtualenv; prometheus + prometheus-alertmanager for promtool/amtool and the PromQL tests
# (installing them starts nothing where systemd is not PID 1).
base_packages=(docker.io debootstrap python3-venv wrk nginx-light curl prometheus prometheus-alertmanager)

# Any go bootstraps the pinned toolchain (scripts/install-helm.sh says how); machines without one get Debian's. The
# toolchain and the modules come over HTTPS: go reads the system's CA certificates (not in Debian's minimal images).
go_packages() {
  echo ca-certificates
  command -v go >/dev/null || [[ -x /usr/local/go/bin/go ]] || echo golang-go
}
# Java and Maven assemble JMeter from Maven Central (scripts/build-jmeter-mirror.sh) and make the lab's keystore;
# machines that already have them (e.g. from another source) keep theirs.
java_packages() {
  command -v mvn >/dev/null || echo maven
  command -v javac >/dev/null || echo default-jdk-headless
}

apt_updated=false
apt_install() { # installs those of "$@" that are not installed yet
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! $apt_updated; then
    apt-get -o DPkg::Lock::Timeout=300 update -q
    apt_updated=true
  fi
  apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}"
}

step_packages() {
  local packages
  mapfile -t packages < <(go_packages; java_packages)
  apt_install "${base_packages[@]}" "${packages[@]}"
  # The controller only needs promtool/amtool: where systemd runs, keep the packaged services from holding the
  # ports the lab publishes (9090, 9093).
  if [[ -d /run/systemd/system ]]; then
    systemctl disable --now prometheus prometheus-alertmanager 2>/dev/null || true
  fi
}

# Pinned Python tooling from the hashed lock (generated from requirements-dev.txt: the command is at its top).
# Reinstalled only when the lock or the editable packages' metadata change (their hash is the stamp).
step_venv() {
  local python=${WEBDEMO_PYTHON:-python3} stamp=.venv/.requirements.sha256 want
  want=$(cat requirements-dev.lock app/pyproject.toml tools/pyproject.toml | sha256sum | cut -d' ' -f1)
  if [[ -x .venv/bin/python && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
    echo "setup: .venv matches requirements-dev.lock"
  else
    apt_install python3-venv
    [[ -x .venv/bin/python ]] || "$python" -m venv .venv
    .venv/bin/pip install -q --require-hashes -r requirements-dev.lock
    # The lock has their dependencies and their build backend (setuptools): nothing unhashed is fetched.
    .venv/bin/pip install -q --no-deps --no-build-isolation -e app -e tools
    .venv/bin/pip check
    echo "$want" >"$stamp"
  fi
  .venv/bin/python scripts/check-collections.py
}

step_docker() {
  apt_install docker.io
  scripts/docker-engine.sh
}

step_base-image() {
  apt_install debootstrap
  scripts/build-base-image.sh
}

step_go() {
  local packages
  mapfile -t packages < <(go_packages)
  apt_install "${packages[@]}"
  scripts/install-helm.sh --go-only
}

step_java() {
  local packages
  mapfile -t packages < <(java_packages)
  apt_install "${packages[@]}"
  # mvn -v colours its first line even when not on a terminal.
  echo "setup: $(javac -version 2>&1), $(mvn -v 2>/dev/null | sed -n '1{s/\x1b\[[0-9;]*m//g;p}')"
}

step_helm() {
  scripts/install-helm.sh
}

step_k8s() {
  apt_install containerd runc containernetworking-plugins conntrack iptables && scripts/build-k8s.sh
}

step_jmeter() {
  scripts/build-jmeter-mirror.sh
}

step_keystore() {
  scripts/make-lab-rmi-keystore.sh
}

# What each step does and how long it usually takes the first time here (2 cores); a second run takes seconds.
declare -A what=(
  [packages]="Debian packages (~3 min the first time)"
  [venv]="Python virtualenv from requirements-dev.lock (~2.5 min the first time)"
  [docker]="Docker engine (~5 s when it has to be started)"
  [base-image]="lab base image (debootstrap, ~60 s the first time)"
  [go]="pinned Go toolchain from the Go module proxy (~1 min the first time)"
  [java]="Java and Maven (Debian's when missing, ~1 min the first time)"
  [helm]="helm and kubeconform, pinned, built with go install (~4 min the first time)"
  [k8s]="Kubernetes cluster parts, one go build from the Go module proxy, cached by pin (~9 min the first time)"
  [jmeter]="JMeter archive from Maven Central, the lab's http://mirror:8088/ (~70 s the first time)"
  [keystore]="JMeter RMI keystore of the lab, for the distributed load test over TLS (~2 s the first time)"
)

steps=("$@")
((${#steps[@]})) || steps=("${all_steps[@]}")
for step in "${steps[@]}"; do
  [[ -v "what[$step]" ]] || { echo "setup: unknown step '$step' (steps: ${all_steps[*]})" >&2; exit 2; }
done

total=$SECONDS
for step in "${steps[@]}"; do
  say "${what[$step]}"
  start=$SECONDS
  "step_$step"
  echo "== setup: $step done in $((SECONDS - start)) s"
done

say "done in $((SECONDS - total)) s (${steps[*]})"
if [[ "${steps[*]}" == "${all_steps[*]}" ]]; then
  echo "Next: source .venv/bin/activate && ansible-playbook site.yml -i inventories/local   (or: scripts/test.sh)"
  echo "root: $root"
fi
