"""Every PromQL expression of the Grafana dashboard and of the alert rules, evaluated against the lab's real
Prometheus after real traffic: none may error, none may be empty unless listed here with the reason."""

import os
import re
import subprocess
import sys
import time

import pytest
import yaml
from webdemo_tools import promhttp
from webdemo_tools.lab import PROMETHEUS, monitoring_access, prometheus_query, send_requests
from webdemo_tools.repo import root

pytestmark = pytest.mark.usefixtures("lab_is_up")

# Legitimately empty in a healthy lab: the rules' expressions only return series while an alert condition
# holds, and ALERTS only while an alert is pending/firing.
ALLOWED_EMPTY = ["ALERTS", "> 0", "< 1", "< 0.1"]


def test_every_dashboard_and_rule_expression_returns_data():
    # Traffic across several scrapes (5 s apart in the lab): rate() needs a counter that grows between two samples,
    # also right after a service restart has started every counter afresh. Bounded: at most 90 s.
    deadline, codes, rounds = time.monotonic() + 90, [], 0
    while True:
        codes += send_requests(20, "/api/v1/health") + send_requests(10, "/api/v1/info") + send_requests(5, "/nope")
        rounds += 1
        seen_404 = prometheus_query('sum(rate(http_request_duration_seconds_count{status_code="404"}[1m])) > 0')
        seen_200 = prometheus_query('sum(rate(http_request_duration_seconds_count{status_code="200"}[1m])) > 0')
        if seen_404 and seen_200:
            break
        assert time.monotonic() < deadline, "Prometheus did not see the traffic within 90 s"
        time.sleep(2)
    assert codes.count(200) == 30 * rounds and codes.count(404) == 5 * rounds, {c: codes.count(c) for c in set(codes)}
    # The checker as an operator runs it: HTTPS with the lab's CA and the monitoring credential (password from the
    # environment, never on the command line).
    access = monitoring_access()
    args = [sys.executable, "-m", "webdemo_tools.promql", "--prometheus", PROMETHEUS]
    args += ["--ca-file", access.ca_file, "--username", access.username]
    for allowed in ALLOWED_EMPTY:
        args += ["--allow-empty", allowed]
    rules = subprocess.run(
        ["docker", "exec", "webdemo-lab-mon1", "cat", "/etc/prometheus/rules/webdemo.yml"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rules_file = root() / ".cache" / "lab-rules.yml"
    rules_file.parent.mkdir(exist_ok=True)
    rules_file.write_text(rules)
    dashboards = sorted((root() / "files" / "grafana" / "dashboards").glob("*.json"))
    result = subprocess.run(
        [*args, *map(str, dashboards), str(rules_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, promhttp.PASSWORD_ENV: access.password},
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_expressions_have_data_below_their_threshold():
    """The rules' expressions are empty while no alert holds; their left-hand sides must still have series, or
    an alert could never fire (a renamed metric or label would silently disable it)."""
    rules = yaml.safe_load((root() / ".cache" / "lab-rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            left = re.split(r"\s[<>]=?\s", rule["expr"].strip())[0]
            assert prometheus_query(left), f"{rule['alert']}: {left} returned no series"
