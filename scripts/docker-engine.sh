#!/usr/bin/env bash
# Make sure a Docker engine answers. If one already runs (a user's own Docker), use it untouched;
# otherwise start Debian's dockerd in the background (no systemd as PID 1 on these machines).
set -euo pipefail

log=/var/log/webdemo-dockerd.log
timeout_s=${WEBDEMO_DOCKERD_TIMEOUT:-60}

if docker info >/dev/null 2>&1; then
  echo "docker-engine: an engine already answers; using it"
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker-engine: dockerd is not installed (run scripts/setup.sh)" >&2
  exit 1
fi
echo "docker-engine: starting dockerd (log: $log)"
# setsid: the engine outlives this shell; it is the project's own engine, started on demand.
setsid nohup dockerd >>"$log" 2>&1 </dev/null &
for _ in $(seq 1 "$timeout_s"); do
  if docker info >/dev/null 2>&1; then
    echo "docker-engine: dockerd answers"
    exit 0
  fi
  sleep 1
done
echo "docker-engine: dockerd did not answer within ${timeout_s}s; last log lines:" >&2
tail -n 20 "$log" >&2
exit 1
