#!/usr/bin/env bash
# Installs the pinned Kubernetes tooling the chart tests and the k8s role need into .cache/bin:
#   helm         helm.sh/helm/v3/cmd/helm                      (HELM_VERSION)
#   kubeconform  github.com/yannh/kubeconform/cmd/kubeconform  (KUBECONFORM_VERSION)
# Both are built from source with `go install` through the Go module proxy (the only route to them on machines that
# reach package registries but not GitHub releases), by the pinned Go toolchain GO_TOOLCHAIN.
#
# The Go toolchain: any `go` on the machine bootstraps it (scripts/setup.sh installs Debian's golang-go when there is
# none). A go >= 1.21 switches to GO_TOOLCHAIN itself (GOTOOLCHAIN=GO_TOOLCHAIN: it downloads the toolchain module
# golang.org/toolchain from the module proxy); Debian 12's go 1.19 predates toolchain switching, so this script
# downloads the same module with `go mod download` and runs its go. Either way the toolchain lands in GOMODCACHE.
#
#   scripts/install-helm.sh            the toolchain, then helm and kubeconform
#   scripts/install-helm.sh --go-only  the toolchain only; prints its `go version`
# Idempotent: a binary already at the pinned version is kept. Building helm takes ~4 min on 2 cores the first time,
# kubeconform well under one; the toolchain download (~70 MB) ~20 s.
set -euo pipefail
cd "$(dirname "$0")/.."

# helm v3.21.4's go.mod requires go >= 1.26.0, kubeconform v0.7.0's >= 1.24: one toolchain for both, pinned here only.
GO_TOOLCHAIN=${GO_TOOLCHAIN:-go1.26.8}
HELM_VERSION=${HELM_VERSION:-v3.21.4}
KUBECONFORM_VERSION=${KUBECONFORM_VERSION:-v0.7.0}
bindir=${WEBDEMO_TOOLS_BIN:-$PWD/.cache/bin}

say() { printf '== install-helm: %s\n' "$*"; }
die() {
  printf 'install-helm: %s\n' "$*" >&2
  exit 1
}

go_only=false
case "${1:-}" in
  --go-only) go_only=true ;;
  "") ;;
  *) die "usage: $0 [--go-only]" ;;
esac

# Every go command below runs the pinned toolchain; a GOFLAGS from the environment (-mod=vendor, ...) breaks module
# downloads and installs outside a module.
export GOTOOLCHAIN=$GO_TOOLCHAIN GOFLAGS=

find_go() {
  local candidate
  for candidate in "$(command -v go || true)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
    [[ -n "$candidate" && -x "$candidate" ]] && { echo "$candidate"; return 0; }
  done
  return 1
}

# `go version` prints "go version go1.26.8 linux/amd64".
version_of() { "$1" version 2>/dev/null | awk '{print $3}'; }

# Sets $go to a go command that is GO_TOOLCHAIN.
ensure_go() {
  local found have dir
  found=$(find_go) || die "no 'go' command: run scripts/setup.sh (it installs Debian's golang-go), or install any Go"
  have=$(version_of "$found")
  if [[ "$have" == "$GO_TOOLCHAIN" ]]; then
    # The found go is the pin, or (>= 1.21) switched to it through GOTOOLCHAIN.
    go=$found
    return 0
  fi
  # A go that ignores GOTOOLCHAIN (< 1.21), or one that could not switch: fetch the toolchain module directly.
  local module platform json
  platform=$(GOTOOLCHAIN=local "$found" env GOHOSTOS)-$(GOTOOLCHAIN=local "$found" env GOHOSTARCH)
  module=golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.$platform
  say "$found is ${have:-unusable} (no switch to $GO_TOOLCHAIN): downloading $module" \
    "from $(GOTOOLCHAIN=local "$found" env GOPROXY)"
  json=$(GOTOOLCHAIN=local "$found" mod download -json "$module" 2>&1) || true
  # `go mod download -json` prints the module's fields, "Dir" (where it is unpacked) or "Error".
  field() { sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" <<<"$json"; }
  dir=$(field Dir)
  [[ -n "$dir" && -f "$dir/bin/go" ]] ||
    die "could not download $module: $(field Error || true) (GOPROXY must reach the Go module proxy)"
  # Module zips carry no execute bits: set them on the commands, as go's own toolchain switch does.
  find "$dir/bin" "$dir/pkg/tool" -type f ! -perm -u+x -exec chmod a+x {} +
  go=$dir/bin/go
  have=$(version_of "$go")
  [[ "$have" == "$GO_TOOLCHAIN" ]] || die "$go reports '$have', expected $GO_TOOLCHAIN"
}

ensure_go
say "go: $go: $("$go" version) (GOTOOLCHAIN=$GOTOOLCHAIN, GOPROXY=$("$go" env GOPROXY))"
if $go_only; then
  exit 0
fi

mkdir -p "$bindir"

# helm prints e.g. v3.19.5+g<sha>; the build from `go install` carries the module version.
helm_version() { "$bindir/helm" version --template '{{.Version}}' 2>/dev/null || true; }
# kubeconform -v prints main.version, stamped below (its source default is "development").
kubeconform_version() { "$bindir/kubeconform" -v 2>/dev/null || true; }

install_module() { # $1 = module path@version, $2 = binary name, $3 = extra -ldflags (version stamps)
  local tmp start=$SECONDS
  tmp=$(mktemp -d)
  # GOBIN receives the binary.
  say "building $1 ($GO_TOOLCHAIN)"
  GOBIN=$tmp GOFLAGS=-buildvcs=false CGO_ENABLED=0 "$go" install -trimpath -ldflags "-s -w $3" "$1"
  mv -f "$tmp/$2" "$bindir/$2"
  rmdir "$tmp"
  say "built $2 in $((SECONDS - start))s"
}

if [[ "$(helm_version)" == "$HELM_VERSION" ]]; then
  say "helm $HELM_VERSION present"
else
  # helm's release Makefile stamps its version and the newest Kubernetes minor it knows (client-go v0.N -> 1.N, used by
  # `helm lint`/`template` as .Capabilities.KubeVersion) with -X; a plain `go install` would report "v3.21" and 1.20.
  # k8s minor of this helm: client-go in its go.mod (v3.21.x: v0.36 -> 1.36).
  k8s_minor=${HELM_K8S_MINOR:-36}
  x=helm.sh/helm/v3
  install_module "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" helm \
    "-X $x/internal/version.version=$HELM_VERSION -X $x/internal/version.metadata= -X $x/internal/version.gitTreeState=clean \
     -X $x/pkg/lint/rules.k8sVersionMajor=1 -X $x/pkg/lint/rules.k8sVersionMinor=$k8s_minor \
     -X $x/pkg/chartutil.k8sVersionMajor=1 -X $x/pkg/chartutil.k8sVersionMinor=$k8s_minor"
  got=$(helm_version)
  [[ "$got" == "$HELM_VERSION" ]] || die "built helm reports '$got', expected $HELM_VERSION"
  say "helm $HELM_VERSION installed in $bindir"
fi

if [[ "$(kubeconform_version)" == "$KUBECONFORM_VERSION" ]]; then
  say "kubeconform $KUBECONFORM_VERSION present"
else
  install_module "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" kubeconform \
    "-X main.version=$KUBECONFORM_VERSION"
  got=$(kubeconform_version)
  [[ "$got" == "$KUBECONFORM_VERSION" ]] || die "built kubeconform reports '$got', expected $KUBECONFORM_VERSION"
  say "kubeconform $KUBECONFORM_VERSION installed in $bindir"
fi
