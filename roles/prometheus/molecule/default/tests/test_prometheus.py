"""Prometheus on a monitor host: hardened unit, rules loaded, inventory targets scraped, bad config refused."""

import json
import time
from pathlib import Path

import yaml
from webdemo_tools import hostcheck

testinfra_hosts = ["ansible://monitor"]
SCENARIO = Path(__file__).resolve().parent.parent
RULE_FILE = SCENARIO.parents[3] / "files" / "prometheus" / "webdemo.yml"


def api(host, path):
    return json.loads(host.check_output("curl -sS --fail --max-time 5 http://localhost:9090%s", path))["data"]


def test_service_runs_under_its_own_unit(host):
    service = host.service("prometheus")
    assert service.is_running and service.is_enabled
    assert host.file("/etc/systemd/system/prometheus.service").contains("ProtectSystem=strict")
    assert host.process.get(comm="prometheus").user == "prometheus"


def test_sandbox_exposure_is_at_most_2_5(host):
    hostcheck.assert_hardened(host, "prometheus.service")


def test_alert_rules_are_loaded_with_the_overrides_applied(host):
    rules = {rule["name"]: rule for group in api(host, "/api/v1/rules")["groups"] for rule in group["rules"]}
    groups = yaml.safe_load(RULE_FILE.read_text())["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert {"HighLatency", "Up", "LoadBalancerDown", "Watchdog"} <= alerts <= set(rules)
    # Every rule evaluates (a rule failing here would fire PrometheusRuleEvaluationFailures in production).
    assert all(rule["health"] != "err" for rule in rules.values()), {n: r.get("lastError") for n, r in rules.items()}
    # converge.yml: HighLatency {for: 15s, range: 1m}, Up {for: 15s} over files/prometheus/webdemo.yml's 5m.
    assert (rules["HighLatency"]["duration"], rules["Up"]["duration"]) == (15, 15)
    assert "[1m]" in rules["HighLatency"]["query"] and "[5m]" not in rules["HighLatency"]["query"]
    assert host.file("/etc/prometheus/rules/webdemo.yml").exists


def test_targets_come_from_the_inventory_and_are_up(host):
    name = host.check_output("hostname")
    deadline = time.monotonic() + 30
    while True:
        targets = api(host, "/api/v1/targets")["activeTargets"]
        health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}
        if health.get(("node", name)) == "up" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert health[("prometheus", name)] == "up", health
    assert health[("node", name)] == "up", health
    # Inventory targets carry their groups in `role` (LoadBalancerDown tells lbs apart by it).
    roles = {(t["labels"]["job"], t["labels"]["instance"]): t["labels"].get("role") for t in targets}
    assert roles[("node", name)] == "monitor", roles
    # The monitor group has this host only; the backend group is empty here, so no backend job exists.
    assert not any(job == "app" for job, _ in health)


def test_size_retention_and_resend_delay_are_set(host):
    """A full disk cannot stop ingestion silently; the resend delay is the role's default (Prometheus's own)."""
    flags = api(host, "/api/v1/status/flags")
    assert flags["storage.tsdb.retention.size"] == "10GiB", flags
    assert flags["storage.tsdb.retention.time"] == "15d", flags
    assert flags["rules.alert.resend-delay"] == "1m", flags


def test_rejected_config_fails_the_play_and_keeps_the_live_one(host):
    hostcheck.assert_rejected_config_keeps_the_live_one(
        host, SCENARIO / "bad-config.yml", "/etc/prometheus/prometheus.yml", "prometheus"
    )
    assert host.check_output("curl -sS --fail --max-time 5 http://localhost:9090/-/ready")
