#!/usr/bin/env bash
# Builds the parts of the lab's one-node Kubernetes cluster (roles/k8s_lab) into .cache/k8s, from the Go module proxy
# and Debian's mirror (no container registry and no GitHub release is reachable here):
#   bin/      kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl (k8s.io/kubernetes),
#             etcd (go.etcd.io/etcd/server/v3), coredns (CoreDNS with the plugins the cluster uses), metrics-server,
#             crictl (the node's CRI client: the teardown removes pods through it, so CNI cleans up), pause:
#             ONE `go build` of the module scripts/k8s (its go.mod replaces each Kubernetes staging module with the
#             published v0.X.Y of the same release), so the common packages compile once
#   images/   pause, coredns and metrics-server as `FROM scratch` images (docker build, docker save), imported into
#             the cluster's containerd by the role; images/refs lists their references
#   crds/     the ExternalSecret and ServiceMonitor CRDs from the manifests their Go modules ship
# Pins: scripts/k8s/versions.env (+ go.mod/go.sum). Cached: rebuilt only when a pin, the module, its commands or this
# script change (their hash is .cache/k8s/stamp); a second run takes seconds.
#   scripts/build-k8s.sh           build what is missing or stale
#   scripts/build-k8s.sh --force   rebuild
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
src=$root/scripts/k8s
out=${WEBDEMO_K8S_CACHE:-$root/.cache/k8s}
# shellcheck source=k8s/versions.env
source "$src/versions.env"

say() { printf '== build-k8s: %s\n' "$*"; }
die() {
  printf 'build-k8s: %s\n' "$*" >&2
  exit 1
}

force=false
case "${1:-}" in
  --force) force=true ;;
  "") ;;
  *) die "usage: $0 [--force]" ;;
esac

want=$(cat "$src/versions.env" "$src/go.mod" "$src/go.sum" "$0" $(find "$src/cmd" "$src/tools.go" -type f | sort) |
  sha256sum | cut -c1-16)
if ! $force && [[ "$(cat "$out/stamp" 2>/dev/null)" == "$want" ]]; then
  say "up to date in $out ($want)"
  exit 0
fi

# The pinned Go toolchain (scripts/install-helm.sh fetches it when missing; GO_TOOLCHAIN is pinned there).
go=$(scripts/install-helm.sh --go-only | sed -n 's/^== install-helm: go: \([^:]*\): .*/\1/p')
[[ -x "$go" ]] || die "no Go toolchain: run scripts/setup.sh go"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

# go.mod must require exactly the pins.
check_pin() { # $1 module, $2 version from versions.env
  local got
  got=$(cd "$src" && "$go" list -m -f '{{.Version}}' "$1")
  [[ "$got" == "$2" ]] || die "$1 is $got in scripts/k8s/go.mod, $2 in versions.env: make them agree"
}
check_pin k8s.io/kubernetes "$KUBERNETES_VERSION"
check_pin go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
check_pin github.com/coredns/coredns "$COREDNS_VERSION"
check_pin sigs.k8s.io/metrics-server "$METRICS_SERVER_VERSION"
check_pin sigs.k8s.io/cri-tools "$CRI_TOOLS_VERSION"

rm -rf "$out/bin.new" && mkdir -p "$out/bin.new" "$out/images" "$out/crds"
minor=${KUBERNETES_VERSION#v1.}
minor=${minor%%.*}
# Without the version stamps the commands report v0.0.0-master and helm refuses a chart's kubeVersion.
ldflags="-s -w
  -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1
  -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean
  -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1
  -X k8s.io/client-go/pkg/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitTreeState=clean"
start=$SECONDS
say "go build of 11 commands ($KUBERNETES_VERSION, etcd $ETCD_VERSION, CoreDNS $COREDNS_VERSION," \
  "metrics-server $METRICS_SERVER_VERSION; ~6 min on 2 cores with a cold cache)"
(cd "$src" && "$go" build -trimpath -ldflags "$ldflags" -o "$out/bin.new/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy \
  k8s.io/kubernetes/cmd/kubectl sigs.k8s.io/metrics-server/cmd/metrics-server sigs.k8s.io/cri-tools/cmd/crictl \
  ./cmd/etcd ./cmd/coredns ./cmd/pause)
say "built in $((SECONDS - start)) s: $(ls "$out/bin.new" | tr '\n' ' ')"
got=$("$out/bin.new/kubelet" --version)
[[ "$got" == "Kubernetes $KUBERNETES_VERSION" ]] || die "kubelet reports '$got', expected Kubernetes $KUBERNETES_VERSION"
rm -rf "$out/bin" && mv "$out/bin.new" "$out/bin"

# Images: each a static binary FROM scratch (docker build needs no registry for scratch), saved for ctr import.
image() { # $1 name, $2 tag, $3 binary, $4... entrypoint arguments after the binary
  local name=$1 tag=$2 binary=$3 ctx
  shift 3
  ctx=$(mktemp -d)
  cp "$out/bin/$binary" "$ctx/$binary"
  {
    echo "FROM scratch"
    echo "COPY $binary /$binary"
    echo "USER 65534:65534"
    printf 'ENTRYPOINT ["/%s"' "$binary"
    for arg in "$@"; do printf ', "%s"' "$arg"; done
    echo "]"
  } >"$ctx/Dockerfile"
  docker build -q --label webdemo.k8s=true -t "webdemo-k8s/$name:$tag" "$ctx" >/dev/null
  docker save -o "$out/images/$name.tar" "webdemo-k8s/$name:$tag"
  printf '%s=docker.io/webdemo-k8s/%s:%s\n' "$name" "$name" "$tag" >>"$out/images/refs.new"
  rm -rf "$ctx"
  say "image webdemo-k8s/$name:$tag -> $out/images/$name.tar"
}
rm -f "$out/images/refs.new"
image pause "$KUBERNETES_VERSION" pause
image coredns "$COREDNS_VERSION" coredns
image metrics-server "$METRICS_SERVER_VERSION" metrics-server
# name=reference of each image, read by roles/k8s_lab (the references the cluster's objects name).
mv "$out/images/refs.new" "$out/images/refs"

# CRDs from the modules that define them (`go mod download` unpacks the module; the yaml is in its tree).
crd() { # $1 module, $2 version, $3 path in the module, $4 file name
  local dir
  dir=$(cd "$src" && "$go" mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [[ -f "$dir/$3" ]] || die "$1@$2 has no $3"
  install -m 0644 "$dir/$3" "$out/crds/$4"
  say "CRD $4 from $1@$2"
}
crd github.com/external-secrets/external-secrets "$EXTERNAL_SECRETS_VERSION" \
  config/crds/bases/external-secrets.io_externalsecrets.yaml externalsecrets.yaml
crd github.com/prometheus-operator/prometheus-operator "$PROMETHEUS_OPERATOR_VERSION" \
  example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml servicemonitors.yaml

echo "$want" >"$out/stamp"
say "done: $out ($want) in $((SECONDS - start)) s"
