"""Real gunicorn: multiprocess metric aggregation (also across kill -9) and graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

N = 300
M = 60


def scrape(server) -> dict[str, float]:
    """Sum of http_request_duration_seconds_count per path label, from one scrape."""
    res = requests.get(server.base + "/metrics", headers={"Connection": "close"}, timeout=5)
    assert res.status_code == 200
    assert res.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(res.text):
        for s in family.samples:
            if s.name == "http_request_duration_seconds_count":
                totals[s.labels["path"]] = totals.get(s.labels["path"], 0) + s.value
    return totals


def hit_health(server, count: int) -> None:
    # Connection: close, so every request is a new connection that any worker may accept.
    for _ in range(count):
        res = requests.get(
            server.base + "/api/v1/health", headers={"Connection": "close"}, timeout=5
        )
        assert res.status_code == 200


def pids_with_histogram_files(server) -> set[int]:
    names = os.listdir(server.multiproc_dir)
    return {int(n[len("histogram_") : -3]) for n in names if n.startswith("histogram_")}


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_counts_are_exact_across_workers_and_kill_9(start_gunicorn, worker_class):
    server = start_gunicorn(workers=3, WEBDEMO_WORKER_CLASS=worker_class)
    warmup = 1  # wait_ready's health request

    hit_health(server, N)
    first = scrape(server)
    assert first["/api/v1/health"] == warmup + N
    assert "/metrics" not in first  # a scrape is observed after it is served
    # The requests really spread: several workers wrote samples.
    contributors = pids_with_histogram_files(server) & server.worker_pids()
    assert len(contributors) >= 2, server.log()

    victim = max(contributors)
    before = server.worker_pids()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = server.worker_pids()
        if victim not in now and len(now) == 3:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"worker {victim} not replaced: {server.worker_pids()}")
    assert len(server.worker_pids() - before) == 1

    hit_health(server, M)
    second = scrape(server)
    assert second["/api/v1/health"] == warmup + N + M  # the dead worker's share is kept
    assert second["/metrics"] == 1  # exactly the first scrape


def test_sigterm_lets_in_flight_request_finish(start_gunicorn):
    server = start_gunicorn(
        workers=2,
        WEBDEMO_TEST_DELAY_SECONDS="1",
        WEBDEMO_ALLOW_TEST_DELAY="true",
        WEBDEMO_GRACEFUL_TIMEOUT="10",
    )
    result: dict[str, object] = {}

    def slow_request() -> None:
        start = time.monotonic()
        try:
            res = requests.get(server.base + "/api/v1/health", timeout=15)
            result["status"] = res.status_code
            result["body"] = res.json()
        except requests.RequestException as exc:  # reported by the assertion below
            result["error"] = repr(exc)
        result["elapsed"] = time.monotonic() - start

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.3)  # the request is now inside the 1 s handler
    sent = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert result.get("status") == 200, (result, server.log())
    assert result["body"] == {"success": True}
    assert result["elapsed"] >= 1.0
    assert server.proc.wait(timeout=12) == 0
    assert time.monotonic() - sent < 10, "shutdown waited for the graceful timeout"
    # no new connections after shutdown
    with pytest.raises(requests.ConnectionError):
        requests.get(server.base + "/api/v1/health", timeout=2)
