"""Prometheus on a monitor host: hardened unit, HTTPS with basic auth only, rules loaded, every target scraped
with the credentials (the exporters' too), bad config refused."""

import time
from pathlib import Path

import yaml
from webdemo_tools import hostcheck

testinfra_hosts = ["ansible://monitor"]
SCENARIO = Path(__file__).resolve().parent.parent
RULE_FILE = SCENARIO.parents[3] / "files" / "prometheus" / "webdemo.yml"
CA = "/etc/prometheus/tls/ca.crt"


def api(host, path):
    return hostcheck.get_secured_json(host, f"https://localhost:9090{path}", CA)["data"]


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


def test_every_endpoint_answers_https_with_the_credentials_only(host):
    """Prometheus, the node exporter and the nginx exporter's TLS front: 401 without credentials, 200 with them,
    the CA needed, plain HTTP refused."""
    name = host.check_output("hostname")
    for url in (
        "https://localhost:9090/api/v1/status/buildinfo",
        "https://localhost:9090/-/ready",
        f"https://{name}:9100/metrics",
        f"https://{name}:9113/metrics",
    ):
        print(url, hostcheck.assert_closed_to_strangers(host, url, CA))
    # The nginx exporter itself listens on the loopback only, behind its front.
    assert host.socket("tcp://127.0.0.1:9114").is_listening
    assert not host.socket("tcp://0.0.0.0:9114").is_listening


def test_targets_come_from_the_inventory_and_are_up(host):
    """Every target is scraped over HTTPS with the credentials (up == 1): itself and the exporters. The
    alertmanager job's target (the monitor group on 9093) has no Alertmanager in this scenario; its own scenario and
    the lab scrape it."""
    name = host.check_output("hostname")
    expected = {("prometheus", name), ("node", name), ("nginx", name)}
    deadline = time.monotonic() + 30
    while True:
        targets = [t for t in api(host, "/api/v1/targets")["activeTargets"] if t["labels"]["job"] != "alertmanager"]
        health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}
        if set(health) == expected and set(health.values()) == {"up"} or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert set(health) == expected and set(health.values()) == {"up"}, health
    assert {t["scrapeUrl"].split(":")[0] for t in targets} == {"https"}, [t["scrapeUrl"] for t in targets]
    up = {r["metric"]["job"]: r["value"][1] for r in api(host, "/api/v1/query?query=up")["result"]}
    assert {job: up[job] for job, _ in expected} == {"prometheus": "1", "node": "1", "nginx": "1"}, up
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
    assert api(host, "/api/v1/status/buildinfo")["version"]
