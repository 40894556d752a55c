#!/usr/bin/env bash
# The chart, image and k8s-role tests (the `chart` stage of scripts/test.sh):
#   1. helm lint --strict for every value set in charts/webdemo/ci/
#   2. pytest tests/chart: kubeconform -strict of every rendered object against schemas generated offline
#      (tests/chart/k8s_schemas.py -> .cache/k8s-schemas), chart behaviours, bad values, the release workflow
#      (.github/workflows/release.yaml: pins, OIDC, tags, OCI chart push), the k8s role up to the credentials step,
#      and the image smoke test (run, /api/v1/health, /metrics, non-root, read-only)
# The image is built first (scripts/build-image.sh) unless WEBDEMO_SKIP_IMAGE_BUILD=1.
# Needs scripts/install-helm.sh (helm + kubeconform in .cache/bin) and the .venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.cache/bin:$PWD/.venv/bin:$PATH"

for bin in helm kubeconform; do
  command -v "$bin" >/dev/null || { echo "chart: $bin missing: run scripts/install-helm.sh" >&2; exit 1; }
done
echo "chart: $(helm version --short), kubeconform $(kubeconform -v)"

for values in charts/webdemo/ci/*-values.yaml; do
  echo "-- helm lint --strict -f $values"
  helm lint --strict charts/webdemo --namespace prod --values "$values"
done

python tests/chart/k8s_schemas.py .cache/k8s-schemas

if [[ "${WEBDEMO_SKIP_IMAGE_BUILD:-0}" != 1 ]]; then
  if docker version >/dev/null 2>&1; then
    scripts/build-image.sh
  else
    echo "chart: NOTE no Docker engine answers: the image is not built and its smoke test will skip" >&2
  fi
fi

pytest -q -p no:cacheprovider -ra tests/chart "$@"
