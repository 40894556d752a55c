#!/usr/bin/env bash
# `ansible-playbook loadtest.yml` as users run it, on the running lab, twice and short:
# - the lab's two loadgen hosts make it a distributed run (an engine on gen1 and gen2, driven from gen1): it must
#   meet the SLO with zero failed samples, bring back jmeter/results.jtl and jmeter/report/, and the merged
#   results must hold samples of both engines;
# - a single-engine run (loadtest_engines=[]) with a p95 budget no service meets must fail, saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
log_dir=$(mktemp -d)
short=(-e loadtest_threads=5 -e loadtest_rampup=2 -e loadtest_duration=10 -e loadtest_think_time_ms=100)

echo "-- loadtest.yml, short distributed run (gen1 + gen2) against the lab's lb"
# Zero assertion failures allowed here (the users' default budget is 1%).
if ! ansible-playbook loadtest.yml -i inventories/local "${short[@]}" -e loadtest_max_error_pct=0 >"$log_dir/pass.log" 2>&1; then
  tail -n 80 "$log_dir/pass.log"
  echo "loadtest-test: the short load test failed" >&2
  exit 1
fi
sed -n '/TASK \[Show the summary\]/,/TASK \[Fail when/p' "$log_dir/pass.log" | grep -v '^TASK\|^Monday\|^$' || true
test -s jmeter/results.jtl || { echo "loadtest-test: jmeter/results.jtl is missing" >&2; exit 1; }
test -s jmeter/report/index.html || { echo "loadtest-test: jmeter/report/index.html is missing" >&2; exit 1; }
head -n 1 jmeter/results.jtl | grep -q '^timeStamp,elapsed,label,responseCode' ||
  { echo "loadtest-test: results.jtl has no CSV header" >&2; exit 1; }
grep -q 'engines: 2 (samples: webdemo-lab-gen1:1099 [0-9]*, webdemo-lab-gen2:1099 [0-9]*)' "$log_dir/pass.log" ||
  { echo "loadtest-test: the distributed run did not merge samples of both engines" >&2; exit 1; }

echo "-- loadtest.yml, one engine, with a p95 budget of 1 ms must fail"
if ansible-playbook loadtest.yml -i inventories/local "${short[@]}" -e '{"loadtest_engines": []}' \
  -e loadtest_max_p95_ms=1 >"$log_dir/fail.log" 2>&1; then
  echo "loadtest-test: a 1 ms p95 budget passed: the SLO gate does not work" >&2
  exit 1
fi
grep -q 'one engine on gen1' "$log_dir/fail.log" || { echo "loadtest-test: the run was not single-engine" >&2; exit 1; }
grep -q 'SLO MISSED' "$log_dir/fail.log" || { tail -n 40 "$log_dir/fail.log"; echo "loadtest-test: failed without the SLO message" >&2; exit 1; }
echo "loadtest-test: OK (distributed run merged both engines, results.jtl and report fetched, SLO gate fails a missed budget)"
