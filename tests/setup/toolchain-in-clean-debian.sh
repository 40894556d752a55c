#!/usr/bin/env bash
# The toolchain part of scripts/setup.sh on a clean Debian 12: `scripts/setup.sh go java` in a throw-away container
# of the lab's base image (debootstrap minbase: no go, no Java, nothing but Debian's minimal system and python3),
# then the pinned Go toolchain must report its version (GOTOOLCHAIN=<pin> go version) and build a program, and javac
# and mvn must run. It proves that setup brings the pinned Go up where nothing is preinstalled: Debian's golang-go
# (1.19, older than the toolchain switch of go 1.21) downloads the pinned toolchain from the Go module proxy.
# helm is not built here.
#
#   tests/setup/toolchain-in-clean-debian.sh            the go and java steps
#   tests/setup/toolchain-in-clean-debian.sh --go-only  the go step only
#
# Time here (2 cores): ~2 min the first time (apt, the ~70 MB toolchain, the standard library compiled), ~80 s
# afterwards (~60 s with --go-only). .cache/clean-debian keeps apt's downloaded packages, the module cache (the
# toolchain) and Go's build cache between runs; the container itself starts clean every time.
# Needs a Docker engine (scripts/docker-engine.sh) and the base image (scripts/build-base-image.sh): both are made
# here when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

with_java=true
case "${1:-}" in
  --go-only) with_java=false ;;
  "") ;;
  *) echo "usage: $0 [--go-only]" >&2; exit 2 ;;
esac

image=${WEBDEMO_BASE_IMAGE:-webdemo-lab-base:bookworm}
cache=$PWD/.cache/clean-debian
# The pin, from its one place: the line GO_TOOLCHAIN=${GO_TOOLCHAIN:-go1.X.Y} of scripts/install-helm.sh.
# shellcheck disable=SC2016 # the $ and braces are the line's own text
pin=$(sed -n 's/^GO_TOOLCHAIN=${GO_TOOLCHAIN:-\(go[0-9.]*\)}$/\1/p' scripts/install-helm.sh)
[[ -n "$pin" ]] || { echo "toolchain-in-clean-debian: no GO_TOOLCHAIN pin in scripts/install-helm.sh" >&2; exit 1; }

scripts/docker-engine.sh >/dev/null
scripts/build-base-image.sh

mkdir -p "$cache/apt-archives/partial" "$cache/gopath" "$cache/go-build"
mounts=(
  -v "$PWD:/src:ro"
  -v "$cache/apt-archives:/var/cache/apt/archives"
  -v "$cache/gopath:/root/go"
  -v "$cache/go-build:/root/.cache/go-build"
)
# The container trusts the certificate authorities this machine trusts (a TLS-inspecting proxy's among them), as a
# bare machine on the same network would have them in its own store. The image's own store is left as it is.
if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
  mounts+=(-v /etc/ssl/certs/ca-certificates.crt:/etc/webdemo-host-ca.crt:ro -e SSL_CERT_FILE=/etc/webdemo-host-ca.crt)
fi

steps=(go)
$with_java && steps+=(java)

start=$SECONDS
echo "toolchain-in-clean-debian: scripts/setup.sh ${steps[*]} in a clean $image (expecting $pin)"
docker run --rm "${mounts[@]}" -e PIN="$pin" -e WITH_JAVA="$with_java" "$image" bash -c '
set -euo pipefail
for cmd in go javac mvn; do
  if command -v "$cmd" >/dev/null; then echo "not a clean machine: $cmd is installed" >&2; exit 1; fi
done
/src/scripts/setup.sh "$@"

# The go the project uses, as install-helm.sh reports it ("go: <path>: go version ...").
line=$(/src/scripts/install-helm.sh --go-only | grep "== install-helm: go: ")
go=$(sed "s/^== install-helm: go: \([^:]*\): .*/\1/" <<<"$line")
echo "check: Debian go: $(command -v go) $(go version | cut -d" " -f3); the project go: $go"
version=$(GOTOOLCHAIN=$PIN "$go" version | cut -d" " -f3)
[[ "$version" == "$PIN" ]] || { echo "FAIL: GOTOOLCHAIN=$PIN $go version prints $version" >&2; exit 1; }
echo "check: GOTOOLCHAIN=$PIN go version: $(GOTOOLCHAIN=$PIN "$go" version)"

mkdir /tmp/hello && cd /tmp/hello
cat >main.go <<GO
package main

import "runtime"

func main() { println("check: a program built and run by", runtime.Version()) }
GO
GOTOOLCHAIN=$PIN GOFLAGS= "$go" mod init example.com/hello >/dev/null 2>&1
GOTOOLCHAIN=$PIN GOFLAGS= "$go" build -o hello . && ./hello

if [[ "$WITH_JAVA" == true ]]; then
  echo "check: $(javac -version 2>&1); $(mvn -v 2>/dev/null | sed -n "1{s/\x1b\[[0-9;]*m//g;p}")"
fi
' setup "${steps[@]}"
echo "toolchain-in-clean-debian: PASS in $((SECONDS - start)) s"
