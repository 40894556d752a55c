#!/usr/bin/env bash
# Build the app's container image with the local Docker engine: webdemo:<git short sha> and webdemo:dev.
#   scripts/build-image.sh                          # FROM the lab's own base image (no registry is reachable here)
#   BASE_IMAGE=debian:bookworm-slim scripts/build-image.sh
#   scripts/build-image.sh --wheels-only            # only the wheelhouse (.cache/image-wheels), for the release workflow
# A dirty working tree is tagged <sha>-dirty, so a SHA tag always names exactly what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."

base=${BASE_IMAGE:-webdemo-lab-base:bookworm}
name=${WEBDEMO_IMAGE_NAME:-webdemo}
sha=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
if [[ -n "$(git status --porcelain -- Dockerfile .dockerignore app 2>/dev/null)" ]]; then
  sha+=-dirty
fi

# The wheelhouse the Dockerfile installs from (--no-index): the app's wheel and the exact pins, as binary wheels for
# the image's CPython 3.11 on x86_64 (Debian bookworm), whatever Python runs this script.
wheels=.cache/image-wheels
python=${PYTHON:-$PWD/.venv/bin/python}
[[ -x "$python" ]] || python=python3
rm -rf "$wheels" && mkdir -p "$wheels"
# Built from a copy: an in-tree build writes app/build, which a concurrent `pip wheel` of the backend role also uses.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp -r app/pyproject.toml app/README.md app/src "$src/"
rm -rf "$src"/src/*.egg-info
"$python" -m pip wheel -q --no-deps -w "$wheels" "$src"
"$python" -m pip download -q --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3 \
  --abi none --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any \
  -d "$wheels" -r app/requirements.txt
echo "build-image: wheelhouse in $wheels: $(cd "$wheels" && echo *)"
[[ "${1:-}" == --wheels-only ]] && exit 0

if [[ "$base" == webdemo-lab-base:* ]] && ! docker image inspect "$base" >/dev/null 2>&1; then
  echo "build-image: base image $base is missing: run scripts/setup.sh (it builds it with debootstrap)" >&2
  exit 1
fi
echo "build-image: $name:$sha and $name:dev from $base"
docker build --pull=false --build-arg "BASE_IMAGE=$base" \
  --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  -t "$name:$sha" -t "$name:dev" .
echo "build-image: built $name:$sha ($(docker image inspect -f '{{.Size}}' "$name:dev" | numfmt --to=iec))"
