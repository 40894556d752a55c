"""Real servers, each test once under gunicorn and once under granian: multiprocess metric
aggregation (also across kill -9 of a worker, respawned), graceful SIGTERM, the socket handed over
as by systemd (and a restart on it that loses no request), the app's request limits as JSON."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
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
    res = server.get("/metrics", headers={"Connection": "close"})
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
        res = server.get("/api/v1/health", headers={"Connection": "close"})
        assert res.status_code == 200


def pids_with_histogram_files(server) -> set[int]:
    names = os.listdir(server.multiproc_dir)
    return {int(n[len("histogram_") : -3]) for n in names if n.startswith("histogram_")}


def wait_replaced(server, victim: int, before: set[int]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        now = server.worker_pids()
        if victim not in now and len(now) == server.workers:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(
            f"worker {victim} not replaced: {server.worker_pids()}\n{server.log()}"
        )
    assert len(server.worker_pids() - before) == 1


def test_counts_are_exact_across_workers_and_kill_9(start_server, server_kind):
    # granian's respawn is immediate, but it gives up when the same worker fails twice in 5.5 s (a
    # crash loop): one kill here.
    server = start_server(workers=3)
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
    wait_replaced(server, victim, before)

    hit_health(server, M)
    second = scrape(server)
    assert second["/api/v1/health"] == warmup + N + M  # the dead worker's share is kept
    assert second["/metrics"] == 1  # exactly the first scrape
    # The master marked the dead worker (prometheus_client's mark_process_dead ran for its pid).
    assert victim in pids_with_histogram_files(server)


@pytest.mark.parametrize("worker_class", ["sync", "gthread"])
def test_gunicorn_worker_classes_count_exactly(start_server, worker_class):
    server = start_server(workers=2, kind="gunicorn", WEBDEMO_WORKER_CLASS=worker_class)
    hit_health(server, 50)
    assert scrape(server)["/api/v1/health"] == 51


def test_stale_metric_files_are_wiped_at_start(tmp_path, start_server):
    stale = tmp_path / "s0" / "prometheus"
    stale.mkdir(parents=True)
    (stale / "histogram_999999.db").write_bytes(b"\0" * 16)
    server = start_server(workers=2)
    assert not (stale / "histogram_999999.db").exists()
    assert scrape(server)["/api/v1/health"] == 1


def _slow_request(server, result: dict) -> None:
    start = time.monotonic()
    try:
        res = server.get("/api/v1/health", timeout=15)
        result["status"] = res.status_code
        result["body"] = res.json()
    except requests.RequestException as exc:  # reported by the assertion below
        result["error"] = repr(exc)
    result["elapsed"] = time.monotonic() - start


def test_sigterm_lets_in_flight_request_finish(start_server):
    server = start_server(
        workers=2,
        WEBDEMO_TEST_DELAY_SECONDS="1",
        WEBDEMO_ALLOW_TEST_DELAY="true",
        WEBDEMO_GRACEFUL_TIMEOUT="10",
    )
    result: dict[str, object] = {}
    thread = threading.Thread(target=_slow_request, args=(server, result))
    thread.start()
    time.sleep(0.3)  # the request is now inside the 1 s handler
    sent = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert result.get("status") == 200, (result, server.log())
    assert result["body"] == {"success": True}
    assert result["elapsed"] >= 1.0
    assert server.proc.wait(timeout=12) == 0, server.log()
    assert time.monotonic() - sent < 10, "shutdown waited for the graceful timeout"
    # no new connections after shutdown
    with pytest.raises(requests.ConnectionError):
        server.get("/api/v1/health", timeout=2)


def test_graceful_timeout_bounds_the_stop(start_server):
    server = start_server(
        workers=2,
        ready_path="/metrics",  # health is slow here
        WEBDEMO_TEST_DELAY_SECONDS="30",
        WEBDEMO_ALLOW_TEST_DELAY="true",
        WEBDEMO_GRACEFUL_TIMEOUT="2",
    )
    result: dict[str, object] = {}
    thread = threading.Thread(target=_slow_request, args=(server, result), daemon=True)
    thread.start()
    time.sleep(0.5)
    sent = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=15)
    assert time.monotonic() - sent < 8, server.log()  # 2 s grace, then the busy worker is killed
    assert not server.worker_pids()


def test_serves_the_socket_systemd_hands_over(start_server, unix_listener):
    server = start_server(workers=2, listener=unix_listener)
    assert server.get("/api/v1/health").json() == {"success": True}
    # The server uses the inherited socket: its own processes hold no other listening socket, and
    # it never unlinks the socket file it does not own.
    path = unix_listener.getsockname()
    server.stop()
    assert os.path.exists(path)
    probe = socket.socket(socket.AF_UNIX)
    probe.settimeout(2)
    probe.connect(path)  # still accepted into the backlog: the socket outlives the server
    probe.close()


def test_restart_on_the_inherited_socket(start_server, unix_listener, server_kind):
    """What `systemctl restart webdemo` does: the old server stops (gracefully), a new one starts
    on the same socket; a client sending all along sees a pause, no refused connection and no
    error status.

    gunicorn loses nothing. granian (hyper) closes, at its graceful stop, the connections a worker
    has accepted but whose request it has not read yet: a client that connected in that instant
    gets its connection closed without a response (measured: 22 of 280,000 requests over six
    restarts of a tight loop). Across a deploy no request meets that window, because the rolling
    deploy takes the host out of the load balancers before it restarts (roles/app)."""
    first = start_server(workers=2, listener=unix_listener)
    stop = threading.Event()
    outcome: dict = {"ok": 0, "failed": []}

    def client() -> None:
        import http.client

        while not stop.is_set():
            conn = http.client.HTTPConnection("localhost", timeout=15)
            conn.sock = socket.socket(socket.AF_UNIX)
            conn.sock.settimeout(15)
            try:
                conn.sock.connect(unix_listener.getsockname())
                conn.request("GET", "/api/v1/health")
                status = conn.getresponse().status
                if status == 200:
                    outcome["ok"] += 1
                else:
                    outcome["failed"].append(status)
            except OSError as exc:
                outcome["failed"].append(exc)
            finally:
                conn.close()

    thread = threading.Thread(target=client)
    thread.start()
    time.sleep(0.5)
    first.stop()
    start_server(workers=2, listener=unix_listener)
    time.sleep(0.5)
    stop.set()
    thread.join(timeout=20)
    assert outcome["ok"] > 20
    if server_kind == "gunicorn":
        assert outcome["failed"] == [], outcome
    else:
        # Only connections closed without a response, and rarely: never a refused connection
        # (the socket stays with its owner) nor an error status.
        closed = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)
        assert all(isinstance(f, closed) for f in outcome["failed"]), outcome
        assert len(outcome["failed"]) <= 3, outcome


LIMIT_CASES = {
    "long path": ("/api/v1/" + "a" * 5000, {}, 414, "request line too long"),
    "long query": ("/api/v1/health?" + "q" * 4070, {}, 414, "request line too long"),
    "big header": ("/api/v1/health", {"X-Big": "b" * 9000}, 431, "request header fields too large"),
    "big body": (
        "/api/v1/health",
        {"Content-Length": str((1 << 20) + 1)},
        413,
        "request body too large",
    ),
    "unknown route": ("/api/v1/nothing", {}, 404, "not found"),
}


def test_limits_are_the_apps_json_under_both_servers(start_server):
    server = start_server(workers=1, WEBDEMO_METRICS_ENABLED="false")
    for case, (path, headers, status, error) in LIMIT_CASES.items():
        head, body = raw_request(server, path, headers)
        assert head.split(b" ")[1] == str(status).encode(), (case, head)
        assert b"content-type: application/json" in head.lower(), (case, head)
        assert json.loads(body) == {"success": False, "error": error}, case
    # The servers' own parsers refuse malformed framing and more than 100 header fields before any
    # app runs (so not JSON), with the same status under both.
    head, _ = raw_request(server, "/api/v1/health", {"Content-Length": "abc"})
    assert head.split(b" ")[1] == b"400", head
    head, _ = raw_request(server, "/api/v1/health", {f"X-H{i}": "1" for i in range(60)})
    assert head.split(b" ")[1] == b"200", head
    head, _ = raw_request(server, "/api/v1/health", {f"X-H{i}": "1" for i in range(120)})
    assert head.split(b" ")[1] == b"431", head


def raw_request(server, path: str, headers: dict[str, str]) -> tuple[bytes, bytes]:
    """Raw HTTP/1.1, so that no client library rewrites the request; (head, body)."""
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body
