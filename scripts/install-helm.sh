#!/usr/bin/env bash
# Installs the pinned Kubernetes tooling the chart tests and the k8s role need into .cache/bin:
#   helm         helm.sh/helm/v3/cmd/helm                      (HELM_VERSION)
#   kubeconform  github.com/yannh/kubeconform/cmd/kubeconform  (KUBECONFORM_VERSION)
# Both are built from source with `go install` through the Go module proxy (the only route to them on machines that
# reach package registries but not GitHub releases). Idempotent: a binary already at the pinned version is kept.
# Building helm takes a few minutes on 2 cores; kubeconform well under one.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=${HELM_VERSION:-v3.21.4}
KUBECONFORM_VERSION=${KUBECONFORM_VERSION:-v0.7.0}
bindir=${WEBDEMO_TOOLS_BIN:-$PWD/.cache/bin}

say() { printf '== install-helm: %s\n' "$*"; }

[[ -x /usr/local/go/bin/go ]] && PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || {
  echo "install-helm: 'go' is not installed (apt-get install golang-go, or a Go toolchain >= the one helm needs)" >&2
  exit 1
}
mkdir -p "$bindir"

# helm prints e.g. v3.19.5+g<sha>; the build from `go install` carries the module version.
helm_version() { "$bindir/helm" version --template '{{.Version}}' 2>/dev/null || true; }
# kubeconform -v prints main.version, stamped below (its source default is "development").
kubeconform_version() { "$bindir/kubeconform" -v 2>/dev/null || true; }

install_module() { # $1 = module path@version, $2 = binary name, $3 = extra -ldflags (version stamps)
  local tmp
  tmp=$(mktemp -d)
  # GOBIN receives the binary; GOFLAGS is reset: a -mod=vendor from the environment breaks a module install.
  say "building $1 (go $(go env GOVERSION))"
  GOBIN=$tmp GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath -ldflags "-s -w $3" "$1"
  mv -f "$tmp/$2" "$bindir/$2"
  rmdir "$tmp"
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
  if [[ "$got" != "$HELM_VERSION" ]]; then
    echo "install-helm: built helm reports '$got', expected $HELM_VERSION" >&2
    exit 1
  fi
  say "helm $HELM_VERSION installed in $bindir"
fi

if [[ "$(kubeconform_version)" == "$KUBECONFORM_VERSION" ]]; then
  say "kubeconform $KUBECONFORM_VERSION present"
else
  install_module "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" kubeconform \
    "-X main.version=$KUBECONFORM_VERSION"
  got=$(kubeconform_version)
  if [[ "$got" != "$KUBECONFORM_VERSION" ]]; then
    echo "install-helm: built kubeconform reports '$got', expected $KUBECONFORM_VERSION" >&2
    exit 1
  fi
  say "kubeconform $KUBECONFORM_VERSION installed in $bindir"
fi
