#!/usr/bin/env bash
# The whole test suite, in named stages. `scripts/test.sh` runs them all; `scripts/test.sh lint unit` runs some.
#   lint      yamllint, ansible-lint (production profile), ruff
#   unit      the app's pytest suite (unit + real gunicorn integration), the roles' bad-input tests, promtool
#             unit tests of the alert rules, the PromQL checker against a real Prometheus
#   setup     the toolchain part of scripts/setup.sh (go, java) in a clean Debian 12 container of the lab's base
#             image: Debian's go 1.19 fetches the pinned Go toolchain from the module proxy
#   chart     helm lint/template + kubeconform on four value sets, chart unit tests, bad values, the k8s role up
#             to the cluster boundary, the container image built and smoke-tested
#   k8s       the lab's one-node Kubernetes cluster (scripts/build-k8s.sh, cached; playbooks/k8s-lab.yml): the production
#             release path (playbooks/k8s.yml -i inventories/local-k8s: helm upgrade --install --atomic --wait, helm
#             test), the pods, a rolling update and an atomic rollback under traffic, pods killed, HPA out and in
#             (tests/k8s); the cluster is removed afterwards (playbooks/lab-destroy.yml)
#   molecule  `molecule test` of every role scenario
#   stack     (only when named) `molecule test` of the stack scenario, molecule/default
#   lab       tests/lab/site.sh: site.yml on inventories/local twice (second run must change nothing), requests on
#             :4443 (HTTPS) and :4000 (redirect); then loadtest.yml: a short distributed run (gen1 + gen2) that must
#             pass with both engines merged, and a single-engine run with a 1 ms p95 budget that must fail; then
#             tests/lab: the edge (TLS, abuse, hostile requests), the firewall's port matrix, the closed monitoring
#             plane, every dashboard/rule query against the lab's Prometheus, alerts delivered end to end, no
#             secret in --diff -v output
#   faults    on the lab left running: deploy, failed deploy, rollback, crashed/hung app, lost backend, crashed
#             nginx, lost lb, crashed Prometheus, Alertmanager down, each under traffic through the virtual IP
# Exits non-zero when any stage fails. Needs scripts/setup.sh first.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 NO_COLOR=1

all_stages=(lint unit setup chart k8s molecule lab faults)
stages=("$@")
((${#stages[@]})) || stages=("${all_stages[@]}")

stage_lint() {
  local status=0
  yamllint -s . || status=1
  ansible-lint --profile production --offline --nocolor || status=1
  ruff check . || status=1
  ruff format --check . || status=1
  return $status
}

stage_unit() {
  pytest -q -p no:cacheprovider app/tests tests --ignore=tests/lab --ignore=tests/chart \
    --ignore=tests/faults/test_faults.py --ignore=tests/k8s
}

stage_setup() {
  tests/setup/toolchain-in-clean-debian.sh
}

stage_chart() {
  tests/chart/run.sh
}

# The cluster's parts are built once (cached by their pins); the app's image is built when missing. The cluster is
# removed whatever the tests found, so a failed run leaves nothing behind.
stage_k8s() {
  local status=0
  scripts/build-k8s.sh || return 1
  docker image inspect webdemo:dev >/dev/null 2>&1 || scripts/build-image.sh || return 1
  ansible-playbook playbooks/k8s-lab.yml -i inventories/local-k8s || status=1
  if ((status == 0)); then
    pytest -q -p no:cacheprovider -s tests/k8s || status=1
  fi
  ansible-playbook playbooks/lab-destroy.yml -i inventories/local-k8s || status=1
  return $status
}

# The role scenarios. The stack scenario (`molecule test` at the root: site.yml over three hosts, a backend stopped
# under traffic) is its own stage, `stack`, outside the default run: the lab and faults stages prove the same on the
# full lab, and the whole run stays inside CI's time.
stage_stack() {
  molecule test
}

stage_molecule() {
  local dir start
  for dir in roles/app roles/nginx roles/keepalived roles/firewall roles/prometheus roles/alertmanager roles/grafana roles/jmeter; do
    echo "-- molecule test in $dir"
    start=$SECONDS
    (cd "$dir" && molecule test) || return 1
    echo "-- molecule test in $dir: passed in $((SECONDS - start)) s"
  done
}

stage_lab() {
  # The load test before the lab tests: it installs JMeter on the generators, whose secrets the leak test renders.
  tests/lab/site.sh && tests/loadtest/run.sh && pytest -q -p no:cacheprovider -s tests/lab
}

# Needs the lab the `lab` stage leaves running (or: ansible-playbook site.yml -i inventories/local).
stage_faults() {
  pytest -q -p no:cacheprovider -s tests/faults/test_faults.py
}

passed=0 failed=0 report=()
for stage in "${stages[@]}"; do
  if ! declare -F "stage_$stage" >/dev/null; then
    echo "unknown stage: $stage (stages: ${all_stages[*]} stack)" >&2
    exit 2
  fi
  echo "==== stage $stage"
  start=$SECONDS
  if "stage_$stage"; then
    passed=$((passed + 1)) report+=("PASS $stage $((SECONDS - start))s")
  else
    failed=$((failed + 1)) report+=("FAIL $stage $((SECONDS - start))s")
  fi
done
echo "==== summary"
printf '%s\n' "${report[@]}"
echo "stages: $passed passed, $failed failed"
((failed == 0))
