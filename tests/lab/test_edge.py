"""The public edge as clients see it: the lbs' virtual IP over HTTPS.

- TLS: a real scanner (sslyze) checks the protocol and cipher matrix against Mozilla's "intermediate" profile;
  a client trusting the lab CA gets 200; plain HTTP redirects; HSTS and the security headers are on every answer.
- Abuse: one client flooding requests or opening thousands of connections gets 429 or is refused, while a second,
  well-behaved client keeps getting 200 (its p99 is printed).
- Hostile requests (oversized URL, header and body, bad methods, malformed Content-Length, random paths, slow
  clients): every answer is a JSON 4xx or a clean close, never a 5xx or a hang, and random paths do not add
  metric series.
"""

import json
import socket
import ssl
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from webdemo_tools import traffic
from webdemo_tools.lab import CONTAINER_PREFIX, LAB_CA, docker, docker_exec, lab_tls_context, lab_vip

WELL_BEHAVED, ABUSIVE = "gen1", "gen2"
REMOTE_DIR = "/var/tmp/webdemo-edge"
APP_SOCKET = "/run/webdemo.sock"


@pytest.fixture(scope="module")
def vip():
    return lab_vip()


# --- TLS ------------------------------------------------------------------------------------------------------


def test_tls_scan_is_compliant_with_mozilla_intermediate(vip, tmp_path):
    report = tmp_path / "sslyze.json"
    scan = subprocess.run(  # noqa: S603 (the venv's own sslyze)
        [
            str(Path(sys.executable).parent / "sslyze"),
            "--quiet",
            f"--json_out={report}",
            "--sslv2",
            "--sslv3",
            "--tlsv1",
            "--tlsv1_1",
            "--tlsv1_2",
            "--tlsv1_3",
            "--certinfo",
            f"--certinfo_ca_file={LAB_CA}",
            "--mozilla_config=intermediate",
            f"{vip}:443",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    result = json.loads(report.read_text())["server_scan_results"][0]["scan_result"]
    accepted = {
        name.removesuffix("_cipher_suites"): [
            suite["cipher_suite"]["name"] for suite in value["result"]["accepted_cipher_suites"]
        ]
        for name, value in result.items()
        if name.endswith("_cipher_suites")
    }
    print("\nTLS matrix of the edge (sslyze):")
    for protocol, suites in accepted.items():
        print(f"  {protocol:<8} {'refused' if not suites else ', '.join(suites)}")
    for old in ("ssl_2_0", "ssl_3_0", "tls_1_0", "tls_1_1"):
        assert accepted[old] == [], f"{old} accepted"
    assert accepted["tls_1_2"] and accepted["tls_1_3"]
    # TLS 1.2: forward secrecy and AEAD only (no CBC, no RSA key exchange).
    assert all(
        suite.startswith("TLS_ECDHE_") and ("GCM" in suite or "CHACHA20" in suite) for suite in accepted["tls_1_2"]
    )
    assert scan.returncode == 0 and "OK - Compliant" in scan.stdout, scan.stdout[-2000:]


def test_a_client_trusting_the_lab_ca_gets_200_with_hsts_and_security_headers(vip):
    import urllib.request

    with urllib.request.urlopen(f"https://{vip}/api/v1/health", timeout=5, context=lab_tls_context()) as answer:  # noqa: S310
        assert answer.status == 200
        assert json.loads(answer.read()) == {"success": True}
        assert answer.headers["Strict-Transport-Security"] == "max-age=63072000"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["X-Frame-Options"] == "DENY"


def test_a_client_without_the_ca_is_refused_by_its_own_verification(vip):
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connection(vip, ssl.create_default_context()).close()


def test_plain_http_redirects_to_https(vip):
    answer = raw_request(vip, b"GET /api/v1/health?x=1 HTTP/1.1\r\nHost: " + vip.encode() + b"\r\n\r\n", tls=False)
    assert answer.status == 301
    assert f"location: https://{vip}/api/v1/health?x=1" in answer.head


# --- Hostile requests -----------------------------------------------------------------------------------------


class Answer:
    def __init__(self, raw: bytes):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        self.head = head.decode(errors="replace").lower()
        first = self.head.split("\r\n", 1)[0].split()
        self.status = int(first[1]) if len(first) > 1 and first[1].isdigit() else None

    def json(self):
        return json.loads(self.body)


def tls_connection(vip, context=None):
    raw = socket.create_connection((vip, 443), timeout=15)
    return (context or lab_tls_context()).wrap_socket(raw, server_hostname=vip)


def raw_request(vip, data: bytes, *, tls=True, timeout=15.0) -> Answer:
    """Send bytes as they are and read until the server closes or the answer is complete."""
    conn = tls_connection(vip) if tls else socket.create_connection((vip, 80), timeout=timeout)
    conn.settimeout(timeout)
    received = b""
    try:
        conn.sendall(data)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
            head, sep, body = received.partition(b"\r\n\r\n")
            length = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
            if sep and length and len(body) >= int(length[0].split(b":")[1]):
                break
    finally:
        conn.close()
    return Answer(received)


def request_bytes(vip, method="GET", path="/api/v1/health", headers=(), body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {vip}", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.mark.parametrize(
    ("name", "method", "path", "headers", "body", "expected"),
    [
        ("oversized URL", "GET", "/api/v1/health?" + "a" * 10000, (), b"", 414),
        ("oversized header", "GET", "/api/v1/health", ("X-Big: " + "a" * 9000,), b"", 400),
        ("too many big headers", "GET", "/api/v1/health", tuple(f"X-H{i}: {'a' * 7000}" for i in range(6)), b"", 400),
        ("oversized body", "POST", "/api/v1/health", ("Content-Length: 2000000",), b"x" * 1000, 413),
        ("unknown method", "BREW", "/api/v1/health", (), b"", 405),
        ("wrong method", "DELETE", "/api/v1/health", (), b"", 405),
        ("malformed method", "G@T", "/api/v1/health", (), b"", 400),
        ("Content-Length not a number", "POST", "/api/v1/health", ("Content-Length: abc",), b"", 400),
        ("negative Content-Length", "POST", "/api/v1/health", ("Content-Length: -1",), b"", 400),
        ("two Content-Lengths", "POST", "/api/v1/health", ("Content-Length: 1", "Content-Length: 2"), b"x", 400),
        (
            "Content-Length with chunked",
            "POST",
            "/api/v1/health",
            ("Content-Length: 3", "Transfer-Encoding: chunked"),
            b"0\r\n\r\n",
            400,
        ),
        ("path outside the root", "GET", "/../../etc/passwd", (), b"", 400),
        ("unknown route", "GET", "/api/v1/users", (), b"", 404),
    ],
)
def test_hostile_request_gets_a_json_4xx(vip, name, method, path, headers, body, expected):
    answer = raw_request(vip, request_bytes(vip, method, path, headers, body))
    assert answer.status == expected, f"{name}: {answer.head[:200]}"
    assert "content-type: application/json" in answer.head, name
    assert answer.json()["success"] is False


def test_slow_clients_are_cut_off_cleanly(vip):
    """A request line that never ends and a body that never comes: closed (or a JSON 408) within the timeouts."""
    for name, data in [
        ("slow header", f"GET /api/v1/health HTTP/1.1\r\nHost: {vip}\r\nX-Slow: ".encode()),
        ("slow body", request_bytes(vip, "POST", "/api/v1/health", ("Content-Length: 100",), b"x" * 10)),
    ]:
        started = time.monotonic()
        answer = raw_request(vip, data, timeout=30)
        elapsed = time.monotonic() - started
        print(f"\n{name}: {answer.status or 'closed'} after {elapsed:.1f} s")
        assert elapsed < 20, name
        assert answer.status in (None, 408), name
        if answer.status:
            assert answer.json()["status"] == 408


def series_count():
    metrics = docker_exec("web1", "curl", "-sS", "--unix-socket", APP_SOCKET, "http://localhost/metrics")
    return sum(1 for line in metrics.splitlines() if line.startswith("http_request_duration_seconds_count"))


def test_random_paths_get_json_404_and_add_no_metric_series(vip):
    before = series_count()
    statuses = set()
    for _ in range(200):
        path = f"/{uuid.uuid4().hex}/{uuid.uuid4().hex[:8]}"
        answer = raw_request(vip, request_bytes(vip, path=path))
        statuses.add(answer.status)
        assert answer.json()["success"] is False
    assert statuses == {404}
    # The route template labels the series, so 200 unknown paths are one series ("404" of the not-found route).
    assert series_count() <= before + 1


# --- Abuse ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clients():
    for host in (WELL_BEHAVED, ABUSIVE):
        docker_exec(host, "mkdir", "-p", REMOTE_DIR)
        docker("cp", traffic.__file__, f"{CONTAINER_PREFIX}{host}:{REMOTE_DIR}/traffic.py")


def well_behaved_traffic(vip, name, seconds):
    """Start the well-behaved client on gen1 (4 workers, 20 ms pauses) for a bounded time; returns its CSV path."""
    out = f"{REMOTE_DIR}/{name}.csv"
    docker(
        "exec", "-d", CONTAINER_PREFIX + WELL_BEHAVED, "python3", f"{REMOTE_DIR}/traffic.py",
        "--url", f"https://{vip}/api/v1/health", "--out", out, "--concurrency", "4", "--pause-ms", "20",
        "--max-seconds", str(seconds),
    )  # fmt: skip
    return out


def collect(out, seconds):
    """The well-behaved client's samples and summary, once it has written them (it stops by itself)."""
    deadline = time.monotonic() + seconds + 30
    while docker("exec", CONTAINER_PREFIX + WELL_BEHAVED, "test", "-s", out, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"{out} was not written"
        time.sleep(1)
    samples = traffic.read_csv(docker_exec(WELL_BEHAVED, "cat", out))
    return samples, traffic.summary(samples)


def test_a_request_flood_gets_429_while_another_client_keeps_200(vip, clients):
    out = well_behaved_traffic(vip, "flood", 25)
    time.sleep(3)
    # One output file per request (-o with a glob needs #1), in a scratch directory removed afterwards.
    flood = docker_exec(
        ABUSIVE, "bash", "-c",
        f"rm -rf {REMOTE_DIR}/flood && mkdir -p {REMOTE_DIR}/flood && curl -sS --parallel --parallel-max 100 "
        f"--max-time 60 -o '{REMOTE_DIR}/flood/#1' -w '%{{http_code}}\\n' 'https://{vip}/api/v1/health?[1-6000]'; "
        f"rm -rf {REMOTE_DIR}/flood",
        timeout=120,
    )  # fmt: skip
    codes = flood.split()
    counts = {code: codes.count(code) for code in sorted(set(codes))}
    samples, summary = collect(out, 25)
    print(f"\nflood from {ABUSIVE}: {len(codes)} requests, {counts}")
    print(f"well-behaved {WELL_BEHAVED} meanwhile: {summary}")
    assert set(codes) <= {"200", "429"}, counts
    assert counts.get("429", 0) >= len(codes) // 2
    assert summary["failed"] == 0 and summary["sent"] > 100, summary


def test_thousands_of_connections_from_one_client_leave_others_served(vip, clients):
    """gen2 opens 3000 TLS connections to the edge and holds them: beyond the firewall's per-source cap (512,
    roles/firewall) they are reset; gen1's requests keep succeeding meanwhile."""
    docker("cp", str(Path(__file__).with_name("hold_connections.py")), f"{CONTAINER_PREFIX}{ABUSIVE}:{REMOTE_DIR}/")
    out = well_behaved_traffic(vip, "connections", 40)
    time.sleep(2)
    held = json.loads(
        docker_exec(ABUSIVE, "python3", f"{REMOTE_DIR}/hold_connections.py", vip, "3000", "8", timeout=240)
    )
    samples, summary = collect(out, 40)
    print(f"\n3000 connections from {ABUSIVE}: {held}")
    print(f"well-behaved {WELL_BEHAVED} meanwhile: {summary}")
    assert held["opened"] + held["refused"] + held["failed"] == 3000
    assert held["opened"] <= 512 and held["refused"] >= 3000 - 512 - held["failed"], held
    assert summary["failed"] == 0 and summary["sent"] > 100, summary
