"""Alertmanager: hardened unit, no cluster port, HTTPS with basic auth only, webhook delivery for real, bad config
refused."""

import json
import time
from pathlib import Path

from webdemo_tools import hostcheck

testinfra_hosts = ["ansible://monitor"]
SCENARIO = Path(__file__).resolve().parent.parent
CA = "/etc/prometheus/alertmanager-tls/ca.crt"


def test_service_runs_without_a_cluster_listener(host):
    assert host.service("prometheus-alertmanager").is_running
    assert host.socket("tcp://0.0.0.0:9093").is_listening
    assert not host.socket("tcp://0.0.0.0:9094").is_listening


def test_the_api_answers_https_with_the_credentials_only(host):
    """Whoever reaches :9093 could silence or inject alerts: 401 without credentials, 200 with them, the CA
    needed, plain HTTP refused."""
    for url in ("https://localhost:9093/api/v2/status", "https://localhost:9093/-/ready"):
        print(url, hostcheck.assert_closed_to_strangers(host, url, CA))
    alert = json.dumps([{"labels": {"alertname": "Injected"}}])
    url, header = "https://localhost:9093/api/v2/alerts", "Content-Type: application/json"
    response = hostcheck.request(host, url, "--cacert", CA, "-H", header, "-d", alert)
    assert response.status == 401, "an alert was accepted without credentials"


def test_sandbox_exposure_is_at_most_2_5(host):
    hostcheck.assert_hardened(host, "prometheus-alertmanager.service")


def test_both_receiver_types_are_configured(host):
    config = host.file("/etc/prometheus/alertmanager.yml").content_string
    assert "webhook_configs" in config and "email_configs" in config


def test_an_alert_reaches_the_webhook(host):
    host.run("rm -f /var/lib/webhook-receiver/alerts.jsonl")
    alert = [{"labels": {"alertname": "MoleculeProbe", "job": "molecule"}, "annotations": {"summary": "probe"}}]
    user, password = hostcheck.monitoring_credentials(host)
    posted = hostcheck.request(
        host,
        "https://localhost:9093/api/v2/alerts",
        "--cacert",
        CA,
        "-u",
        f"{user}:{password}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(alert),
    )
    assert posted.status == 200, posted
    deadline = time.monotonic() + 30
    while not host.file("/var/lib/webhook-receiver/alerts.jsonl").exists:
        assert time.monotonic() < deadline, "no notification reached the webhook receiver within 30 s"
        time.sleep(0.5)
    payload = json.loads(host.file("/var/lib/webhook-receiver/alerts.jsonl").content_string.splitlines()[0])["payload"]
    assert payload["receiver"] == "test-webhook"
    assert payload["alerts"][0]["labels"]["alertname"] == "MoleculeProbe"


def test_rejected_config_fails_the_play_and_keeps_the_live_one(host):
    hostcheck.assert_rejected_config_keeps_the_live_one(
        host, SCENARIO / "bad-config.yml", "/etc/prometheus/alertmanager.yml", "prometheus-alertmanager"
    )
