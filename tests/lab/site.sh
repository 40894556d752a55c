#!/usr/bin/env bash
# The user's entry point, tested as the user runs it: site.yml brings up the local lab and deploys the stack;
# a second run must report changed=0 on every host; then the API must answer on the published port.
# The lab is destroyed first (a clean start) and left running afterwards.
# Progress: the log directory is printed first, then one line per play and per finished task with its time.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
log_dir=$(mktemp -d /tmp/webdemo-lab-test.XXXXXX)
echo "lab-test: logs in $log_dir"

# ansible-playbook with its full log in a file and a line per play/task on the terminal (the stage is minutes long).
playbook() {
  local log=$1
  shift
  local start=$SECONDS status=0 pid
  ansible-playbook "$@" >"$log" 2>&1 &
  pid=$!
  tail --pid="$pid" -n +1 -f "$log" | grep --line-buffered -E '^(PLAY \[|TASK \[)' |
    while IFS= read -r line; do printf '  [%4ss] %s\n' "$((SECONDS - start))" "${line%% \**}"; done || true
  wait "$pid" || status=$?
  echo "  done in $((SECONDS - start)) s (exit $status, log $log)"
  return "$status"
}

# Start from nothing, as a new user does (only the lab's own containers are removed); the lab stays up afterwards.
echo "-- destroy any earlier lab"
playbook "$log_dir/destroy.log" playbooks/lab-destroy.yml -i inventories/local >/dev/null ||
  { tail -n 30 "$log_dir/destroy.log"; exit 1; }

for run in 1 2; do
  echo "-- site.yml run $run"
  if ! playbook "$log_dir/run$run.log" site.yml -i inventories/local; then
    tail -n 60 "$log_dir/run$run.log"
    echo "lab-test: site.yml run $run failed" >&2
    exit 1
  fi
  sed -n '/PLAY RECAP/,/^$/p' "$log_dir/run$run.log"
done
if grep -E '^[^ ].* changed=[1-9]' <(sed -n '/PLAY RECAP/,/^$/p' "$log_dir/run2.log"); then
  echo "lab-test: the second run of site.yml changed something (not idempotent)" >&2
  exit 1
fi

echo "-- requests through https://localhost:4443 (lb1's HTTPS; the client trusts the lab CA)"
https=(curl -sS --max-time 5 --cacert .cache/lab-pki/ca.crt)
test "$("${https[@]}" https://localhost:4443/api/v1/health)" = '{"success": true}'
hosts=$(for _ in $(seq 1 20); do "${https[@]}" https://localhost:4443/api/v1/info; echo; done |
  python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["hostname"] for l in sys.stdin if l.strip()})))')
test "$hosts" = "web1 web2" || { echo "lab-test: lb reached '$hosts', expected both backends" >&2; exit 1; }
test "$("${https[@]}" -o /dev/null -w '%{http_code}' https://localhost:4443/api/v1/users)" = 404
# Plain HTTP only redirects to HTTPS.
test "$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 5 http://localhost:4000/api/v1/health)" = \
  "301 https://localhost/api/v1/health"
echo "lab-test: OK (both backends behind lb, idempotent second run)"
