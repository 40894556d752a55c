#!/usr/bin/env bash
# Capacity of the lab under each HTTP server (a measurement, not a test): for gunicorn, then granian, the backends
# are switched with the rolling deploy and `webdemo-capacity` steps the load through the VIP until p95 > 150 ms.
#
#   bench/capacity-servers.sh                          # steps 20,40,80,120,160 threads, 30 s each
#   THREADS=10,20,40 DURATION=40 bench/capacity-servers.sh
#
# The lbs' per-client abuse limits (200 r/s, 128 connections) would cap one generator far below the service's
# capacity, so they are lifted for the measurement (lb.yml with the limits at 0) and put back afterwards, with the
# backends on the inventory's server, whatever happens. Needs the running lab (ansible-playbook site.yml).
# Prints each step; writes bench/results/loadtest-capacity-<stamp>.md per server and a summary table at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
THREADS="${THREADS:-20,40,80,120,160}"
DURATION="${DURATION:-30}"
log_dir=$(mktemp -d /tmp/webdemo-capacity.XXXXXX)
echo "capacity-servers: logs in $log_dir"

quiet_playbook() {  # log-name playbook args...
  local log="$log_dir/$1.log"
  shift
  ansible-playbook "$@" >"$log" 2>&1 || { tail -n 40 "$log"; echo "capacity-servers: $* failed" >&2; return 1; }
}

restore() {
  echo "-- restoring the backends' server and the lbs' limits from the inventory"
  quiet_playbook restore-backend playbooks/backend.yml
  quiet_playbook restore-lb playbooks/lb.yml
}
trap restore EXIT

echo "-- lifting the lbs' per-client limits for the measurement"
quiet_playbook lift-limits playbooks/lb.yml -e '{"nginx_limit_req_rate": "0r/s", "nginx_limit_conn_per_client": 0}'

summary=()
for server in gunicorn granian; do
  echo "-- backends on $server (rolling deploy)"
  quiet_playbook "backend-$server" playbooks/backend.yml -e "app_server=$server"
  echo "-- capacity with $server"
  webdemo-capacity --threads "$THREADS" --duration "$DURATION" | tee "$log_dir/capacity-$server.txt"
  report=$(ls -t bench/results/loadtest-capacity-*.md | head -n 1)
  summary+=("$server: $report")
done
echo "-- reports"
printf '  %s\n' "${summary[@]}"
