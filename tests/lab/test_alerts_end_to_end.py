"""The Up and HighLatency alerts end to end in the lab: a fault on a backend -> Prometheus -> Alertmanager ->
the webhook receiver on mon1. Each test measures the time from the fault to the notification and prints it.

Lab timings (inventories/local/group_vars/monitor.yml): scrape and evaluation every 5 s, `for: 15s`,
Alertmanager group_wait 1 s; production keeps 5 minutes.
"""

import json
import time

import pytest
from webdemo_tools.lab import docker_exec, prometheus_query, run_playbook, send_requests

RECEIVER_LOG = "/var/lib/webhook-receiver/alerts.jsonl"
pytestmark = pytest.mark.usefixtures("lab_is_up")


def notifications():
    text = docker_exec("mon1", "sh", "-c", f"cat {RECEIVER_LOG} 2>/dev/null || true")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def wait_for_notification(alertname, status, since, timeout, labels=None, while_waiting=None):
    """The first notification at or after `since` with an alert of that name and status; seconds it took."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for note in notifications():
            if note["received_at"] < since:
                continue
            for alert in note["payload"]["alerts"]:
                if (
                    alert["labels"]["alertname"] == alertname
                    and alert["status"] == status
                    and all(alert["labels"].get(k) == v for k, v in (labels or {}).items())
                ):
                    return note["received_at"] - since
        if while_waiting:
            while_waiting()
        else:
            time.sleep(1)
    raise AssertionError(f"no {status} {alertname} notification {labels or ''} within {timeout} s")


def test_up_alert_fires_when_a_backend_stops_and_resolves_when_it_returns():
    assert len(prometheus_query('up{job="app"} == 1')) == 2, "both backends must be up before the test"
    fault = time.time()
    docker_exec("web1", "systemctl", "stop", "webdemo.socket", "webdemo.service")
    try:
        fired_after = wait_for_notification("Up", "firing", fault, timeout=120, labels={"instance": "web1"})
    finally:
        restored = time.time()
        docker_exec("web1", "systemctl", "start", "webdemo.socket", "webdemo.service")
    resolved_after = wait_for_notification("Up", "resolved", restored, timeout=120, labels={"instance": "web1"})
    print(
        f"\nUp: fault -> firing notification {fired_after:.1f} s; "
        f"restore -> resolved notification {resolved_after:.1f} s"
    )


def test_high_latency_fires_when_the_api_slows_down():
    delay = 0.3  # seconds; p95 must cross the 150 ms threshold
    applied = time.time()
    # The rolling deploy restarts one backend at a time and checks each with real requests, which already run
    # with the delay: the alert may fire while the play still runs, so the clock starts with the deploy.
    run_playbook(
        "playbooks/backend.yml",
        "--tags",
        "app_configure,app_service",
        "-e",
        "app_allow_test_delay=true",
        "-e",
        f"app_test_delay_seconds={delay}",
    )
    deployed = time.time()
    try:
        fired_after = wait_for_notification(
            "HighLatency",
            "firing",
            applied,
            timeout=150 + deployed - applied,
            labels={"job": "app"},
            while_waiting=lambda: send_requests(10, "/api/v1/info", max_seconds=10),
        )
    finally:
        run_playbook("playbooks/backend.yml", "--tags", "app_configure,app_service")
    print(
        f"\nHighLatency: delay deployed -> firing notification {fired_after:.1f} s "
        f"(the rolling deploy of the delay took {deployed - applied:.1f} s)"
    )
    assert send_requests(5) == [200] * 5
