# The webdemo API image: gunicorn (the app's own webdemo.gunicorn_conf, the default) or granian (the app's launcher
# webdemo-granian), picked at start by WEBDEMO_SERVER=gunicorn|granian, as uid 10001 on 0.0.0.0:8000.
#
# BASE_IMAGE: any Debian bookworm image. The default is the lab's own debootstrap image (scripts/build-base-image.sh):
# no registry is reachable on the lab machines. The release workflow passes debian:bookworm-slim. Both stages use the
# same base, so the virtualenv built in the first runs unchanged in the second (same /usr/bin/python3 3.11).
#
#   scripts/build-image.sh     # prepares .cache/image-wheels, then docker build (a bare `docker build .` needs that dir)
#   docker run --read-only --tmpfs /tmp --tmpfs /run/webdemo -p 127.0.0.1:8000:8000 webdemo:dev
#   docker run --read-only --tmpfs /tmp --tmpfs /run/webdemo -e WEBDEMO_SERVER=granian -p 127.0.0.1:8000:8000 webdemo:dev
ARG BASE_IMAGE=webdemo-lab-base:bookworm

FROM ${BASE_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# python3-venv brings ensurepip (pip) for the virtualenv; the lab base has python3 without it, slim has neither.
RUN apt-get update -q \
    && apt-get install -y -q --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
# The wheelhouse (the app's wheel + the exact pins of app/requirements.txt, cp311 manylinux) is prepared on the build
# host by scripts/build-image.sh / the release workflow: the build itself never reaches PyPI (on the lab machines PyPI
# is only reachable through the host's TLS-inspecting proxy, whose CA the image does not and should not carry).
COPY app/requirements.txt /src/requirements.txt
COPY .cache/image-wheels/ /src/wheels/
RUN python3 -m venv /opt/webdemo/venv \
    && /opt/webdemo/venv/bin/pip install -q --require-virtualenv --no-index --find-links /src/wheels \
       -r /src/requirements.txt webdemo \
    && /opt/webdemo/venv/bin/pip uninstall -q -y setuptools pip \
    && /opt/webdemo/venv/bin/python -c "import webdemo.wsgi, webdemo.granian_server, gunicorn, granian, psutil" \
    && test -x /opt/webdemo/venv/bin/webdemo-granian

FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# python3 only (no venv/pip at run time); the lab base already has it, debian:bookworm-slim does not.
# The entrypoint creates PROMETHEUS_MULTIPROC_DIR inside an empty tmpfs mounted over /run/webdemo (docker gives the
# tmpfs the mode of the image's directory, not its owner: hence 1777, like /tmp), then execs the server WEBDEMO_SERVER
# names (or the command given to `docker run`), so the server's master is PID 1 and gets SIGTERM directly: both stop
# accepting, let in-flight requests finish (WEBDEMO_GRACEFUL_TIMEOUT) and exit 0. Neither writes outside the tmpfs
# mounts (granian binds 0.0.0.0:8000 itself when no systemd socket is passed). An unknown WEBDEMO_SERVER stops the
# start with a message naming the variable. In Kubernetes the emptyDir is mounted at the directory itself (fsGroup
# 10001).
RUN if ! command -v python3 >/dev/null; then \
        apt-get update -q && apt-get install -y -q --no-install-recommends python3 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 webdemo \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin webdemo \
    && install -d -m 1777 /run/webdemo \
    && install -d -o 10001 -g 10001 -m 0750 /run/webdemo/prometheus \
    && printf '%s\n' '#!/bin/sh' \
       '# webdemo-entrypoint [command...]: without a command, the server WEBDEMO_SERVER names (default gunicorn).' \
       'set -eu' \
       'if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then mkdir -p "$PROMETHEUS_MULTIPROC_DIR"; fi' \
       'if [ "$#" -eq 0 ]; then' \
       '  server=$(printf %s "${WEBDEMO_SERVER:-}" | tr -d " \t" | tr "[:upper:]" "[:lower:]")' \
       '  case "${server:-gunicorn}" in' \
       '    gunicorn) set -- gunicorn -c python:webdemo.gunicorn_conf webdemo.wsgi:app ;;' \
       '    granian) set -- webdemo-granian ;;' \
       '    *) echo "webdemo-entrypoint: WEBDEMO_SERVER must be gunicorn or granian, got \"$WEBDEMO_SERVER\"" >&2' \
       '       exit 64 ;;' \
       '  esac' \
       'fi' \
       'exec "$@"' \
       >/usr/local/bin/webdemo-entrypoint \
    && chmod 0755 /usr/local/bin/webdemo-entrypoint
COPY --from=build /opt/webdemo/venv /opt/webdemo/venv

# Settings (app/README.md); Kubernetes overrides them from the chart's ConfigMap.
ENV PATH=/opt/webdemo/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WEBDEMO_SERVER=gunicorn \
    WEBDEMO_BIND=0.0.0.0:8000 \
    WEBDEMO_WORKERS=2 \
    PROMETHEUS_MULTIPROC_DIR=/run/webdemo/prometheus

USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=2)"]
# No command: the entrypoint starts the server WEBDEMO_SERVER names; a command (the chart's `helm test` pod) runs as is.
ENTRYPOINT ["/usr/local/bin/webdemo-entrypoint"]
CMD []
