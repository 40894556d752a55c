#!/usr/bin/env bash
# `ansible-playbook loadtest.yml` as users run it, on the running lab, twice and short:
# - the lab's two loadgen hosts make it a distributed run (an engine on gen1 and gen2, driven from gen1): it must
#   meet the SLO with zero failed samples, bring back jmeter/results.jtl and jmeter/report/ (with JMeter's
#   statistics.json), and the merged results must hold samples of both engines;
# - a single-engine run (loadtest_engines=[]) with a p95 budget no service meets must fail, saying so.
# Progress goes to stdout as it happens: the log directory first, then each play and task of the playbook as it
# starts (seconds since the step began) and a line per finished step with its duration.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.venv/bin:$PATH"
log_dir=$(mktemp -d -t webdemo-loadtest-XXXXXX)
short=(-e loadtest_threads=5 -e loadtest_rampup=2 -e loadtest_duration=10 -e loadtest_think_time_ms=100)
started=$SECONDS
echo "loadtest-test: logs in $log_dir"

fail() {
  echo "loadtest-test: $*" >&2
  exit 1
}

# playbook LOG ARGS...: loadtest.yml with ARGS, the whole output in LOG, each PLAY/TASK line echoed as it starts.
# Returns ansible-playbook's exit status.
playbook() {
  local log=$1 step_start=$SECONDS line status
  shift
  set +e
  ansible-playbook loadtest.yml -i inventories/local "$@" 2>&1 | tee "$log" | while IFS= read -r line; do
    case $line in
      "PLAY ["* | "TASK ["*) printf '   %4ds  %s\n' "$((SECONDS - step_start))" "${line%% \**}" ;;
    esac
  done
  status=${PIPESTATUS[0]}
  set -e
  echo "   finished in $((SECONDS - step_start)) s (exit $status)"
  return "$status"
}

echo "-- step 1/2: loadtest.yml, short distributed run (gen1 + gen2) against the lab's lb (log: $log_dir/pass.log)"
# Zero assertion failures allowed here (the users' default budget is 1%).
if ! playbook "$log_dir/pass.log" "${short[@]}" -e loadtest_max_error_pct=0; then
  tail -n 80 "$log_dir/pass.log"
  fail "the short load test failed"
fi
# The summary as the playbook showed it: the lines of the "Show the summary" task, up to the next task.
sed -n '/^TASK \[.*Show the summary\]/,/^TASK \[.*Fail when/p' "$log_dir/pass.log" |
  grep -v -E '^TASK \[|^(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day |^$' || true
test -s jmeter/results.jtl || fail "jmeter/results.jtl is missing"
test -s jmeter/report/index.html || fail "jmeter/report/index.html is missing"
test -s jmeter/report/statistics.json || fail "jmeter/report/statistics.json is missing"
head -n 1 jmeter/results.jtl | grep -q '^timeStamp,elapsed,label,responseCode' || fail "results.jtl has no CSV header"
grep -q 'engines: 2 (samples: webdemo-lab-gen1:1099 [0-9]*, webdemo-lab-gen2:1099 [0-9]*)' "$log_dir/pass.log" ||
  fail "the distributed run did not merge samples of both engines"
echo "-- step 1/2 passed: both engines merged, results.jtl and report fetched, SLO met"

echo "-- step 2/2: loadtest.yml, one engine, with a p95 budget of 1 ms must fail (log: $log_dir/fail.log)"
if playbook "$log_dir/fail.log" "${short[@]}" -e '{"loadtest_engines": []}' -e loadtest_max_p95_ms=1; then
  fail "a 1 ms p95 budget passed: the SLO gate does not work"
fi
grep -q 'one engine on gen1' "$log_dir/fail.log" || fail "the run was not single-engine"
grep -q 'SLO MISSED' "$log_dir/fail.log" || { tail -n 40 "$log_dir/fail.log"; fail "failed without the SLO message"; }
echo "-- step 2/2 passed: the single-engine run failed on the SLO, as it must"
echo "loadtest-test: OK in $((SECONDS - started)) s (distributed run merged both engines, results.jtl and report" \
  "fetched, SLO gate fails a missed budget)"
