"""The fault suite's traffic client against a real HTTP server on loopback: it counts what it sends and what
fails, and stops by itself."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from webdemo_tools import traffic


class Flaky(BaseHTTPRequestHandler):
    """200 for /ok; 503 for /fail; the connection dropped without an answer for /drop; for /idle-close a 200
    that keeps the connection alive by its headers, then closed by the server while idle (nginx at a reload)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/drop":
            self.close_connection = True
            return
        status = 200 if self.path == "/ok" else 503
        if self.path == "/idle-close":
            status = 200
            self.close_connection = True
        body = b'{"success": true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_counts_every_request_and_stops_at_the_request_bound():
    server = serve()
    try:
        samples = traffic.run(f"http://127.0.0.1:{server.server_port}/ok", concurrency=3, pause_ms=0, max_requests=90)
    finally:
        server.shutdown()
    assert len(samples) == 90
    assert traffic.summary(samples)["failed"] == 0
    assert [s.start for s in samples] == sorted(s.start for s in samples)


def test_a_non_200_answer_and_a_dropped_connection_are_failures():
    server = serve()
    try:
        bad = traffic.run(f"http://127.0.0.1:{server.server_port}/fail", concurrency=1, pause_ms=0, max_requests=5)
        dropped = traffic.run(f"http://127.0.0.1:{server.server_port}/drop", concurrency=1, pause_ms=0, max_requests=3)
    finally:
        server.shutdown()
    assert traffic.summary(bad)["failures"] == {"503": 5}
    assert traffic.summary(dropped)["failed"] == 3
    assert all(s.outcome != "200" for s in dropped)


def test_a_kept_alive_connection_the_server_closed_while_idle_is_not_reused():
    server = serve()
    try:
        samples = traffic.run(
            f"http://127.0.0.1:{server.server_port}/idle-close", concurrency=2, pause_ms=50, max_requests=20
        )
    finally:
        server.shutdown()
    assert len(samples) == 20
    assert {s.outcome for s in samples} == {"200"}


def test_a_refused_connection_is_a_failure_and_the_time_bound_holds():
    server = serve()
    port = server.server_port
    server.shutdown()
    server.server_close()
    started = time.monotonic()
    samples = traffic.run(f"http://127.0.0.1:{port}/ok", concurrency=2, pause_ms=50, max_seconds=1.0)
    assert time.monotonic() - started < 5
    assert samples and all(s.outcome == "ConnectionRefusedError" for s in samples)


def test_the_stop_file_ends_the_run(tmp_path):
    server = serve()
    stop = tmp_path / "stop"
    threading.Timer(0.5, stop.touch).start()
    try:
        started = time.monotonic()
        traffic.run(f"http://127.0.0.1:{server.server_port}/ok", pause_ms=10, max_seconds=30, stop_file=str(stop))
    finally:
        server.shutdown()
    assert time.monotonic() - started < 5


def test_summary_windows_and_csv_round_trip(tmp_path):
    samples = [traffic.Sample(100.0 + i, 10.0 * (i + 1), "200" if i % 4 else "ConnectionResetError") for i in range(8)]
    window = traffic.summary(samples, since=102.0, until=106.0)
    assert window["sent"] == 4 and window["failed"] == 1 and window["p99_ms"] == 60.0
    path = tmp_path / "run.csv"
    traffic.write_csv(samples, path)
    assert traffic.read_csv(path.read_text()) == samples


def test_only_connections_lost_inside_the_window_count_as_in_flight():
    samples = [
        traffic.Sample(10.0, 500.0, "RemoteDisconnected"),  # on the wire at 10.2: in flight
        traffic.Sample(10.1, 150.0, "ConnectionResetError"),  # on the wire until 10.25: in flight
        traffic.Sample(10.0, 50.0, "ConnectionResetError"),  # over before the window
        traffic.Sample(10.2, 5.0, "ConnectionRefusedError"),  # refused: never in flight
        traffic.Sample(10.3, 5.0, "502"),  # an answer: never in flight
        traffic.Sample(12.0, 5.0, "RemoteDisconnected"),  # after the window
        traffic.Sample(10.4, 5.0, "200"),
    ]
    assert traffic.lost_in_flight(samples, 10.2, 11.0) == 2
