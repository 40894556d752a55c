"""A bounded HTTP client that keeps steady traffic on one URL and records every request.

    python3 traffic.py --url https://172.30.0.250/api/v1/health --out /tmp/run.csv [--cafile ca.crt] \\
        [--concurrency 4] [--pause-ms 5] [--max-seconds 300] [--max-requests 200000] [--stop-file /tmp/stop]

Standard library only, so it runs as is on a lab host (the fault suite copies it to the load generator and runs
it there, next to the load balancers). Each worker thread keeps one keep-alive connection and sends GET
requests one after another (https: URLs over TLS, verified against the system's trust store or --cafile); a
request counts as failed when it raises (refused, reset, timed out, TLS error) or answers anything but 200. A
failed connection is replaced by a new one for the next request: nothing is retried. Like urllib3 (requests) and
browsers, a worker does not send on a kept-alive connection the server has already closed (an idle keep-alive
connection may be closed at any time, RFC 9112 9.3; nginx does so at every reload): it opens a new one instead.
A connection the server closes after the request was sent still counts as a failure.

It stops by itself: after --max-seconds, after --max-requests, or as soon as --stop-file exists. The CSV has a
line per request: start (epoch seconds), elapsed_ms, outcome (the status code, or the exception's name).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import select
import ssl
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    start: float
    elapsed_ms: float
    outcome: str

    @property
    def ok(self) -> bool:
        return self.outcome == "200"

    @property
    def end(self) -> float:
        return self.start + self.elapsed_ms / 1000


def closed_by_peer(connection) -> bool:
    """True when an idle kept-alive connection is readable: the server closed it (or sent what no request asked)."""
    sock = connection.sock
    if sock is None:
        return False
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def connector(url, *, timeout=10, cafile=None):
    """A function that opens a new connection to the URL's host: TLS (verified) for https, plain for http."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        return lambda: http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout, context=context)
    return lambda: http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)


def run(
    url,
    *,
    concurrency=4,
    pause_ms=5.0,
    max_seconds=300.0,
    max_requests=200_000,
    stop_file=None,
    timeout=10,
    cafile=None,
):
    """Send requests until a bound is reached; return the samples in start order."""
    parts = urllib.parse.urlsplit(url)
    connect = connector(url, timeout=timeout, cafile=cafile)
    path = parts.path or "/"
    deadline = time.monotonic() + max_seconds
    samples: list[Sample] = []
    lock = threading.Lock()
    budget = [max_requests]

    def stopped() -> bool:
        if time.monotonic() >= deadline:
            return True
        if stop_file is not None:
            try:
                open(stop_file).close()  # noqa: SIM115, PTH123 (existence is the signal)
                return True
            except OSError:
                pass
        return False

    def worker():
        connection = None
        while not stopped():
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            if connection is not None and closed_by_peer(connection):
                connection.close()
                connection = None
            if connection is None:
                connection = connect()
            start, begun = time.time(), time.monotonic()
            try:
                connection.request("GET", path, headers={"User-Agent": "webdemo-fault-suite"})
                response = connection.getresponse()
                response.read()
                outcome = str(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as error:
                outcome = type(error).__name__
                connection.close()
                connection = None
            with lock:
                samples.append(Sample(start, (time.monotonic() - begun) * 1000, outcome))
            if pause_ms:
                time.sleep(pause_ms / 1000)
        if connection is not None:
            connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + timeout + 5)
    return sorted(samples, key=lambda s: s.start)


# How a request fails when the connection it was on dies (the peer crashed, was killed or vanished), as opposed to
# a refused connection or an error status.
CONNECTION_LOST = frozenset(
    {"RemoteDisconnected", "ConnectionResetError", "BrokenPipeError", "IncompleteRead", "TimeoutError"}
)


def lost_in_flight(samples, t0, t1):
    """Failed requests that were on the wire in [t0, t1] and died with their connection (never refused or answered
    with an error status): what a killed process took with it."""
    return sum(1 for s in samples if not s.ok and s.outcome in CONNECTION_LOST and s.start <= t1 and s.end >= t0)


def percentile(values, p):
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


def summary(samples, since=None, until=None):
    """Counts and p99 of the requests that started in [since, until)."""
    window = [s for s in samples if (since is None or s.start >= since) and (until is None or s.start < until)]
    failed = [s for s in window if not s.ok]
    outcomes: dict[str, int] = {}
    for sample in failed:
        outcomes[sample.outcome] = outcomes.get(sample.outcome, 0) + 1
    return {
        "sent": len(window),
        "failed": len(failed),
        "failures": outcomes,
        "p50_ms": round(percentile([s.elapsed_ms for s in window], 50), 1),
        "p99_ms": round(percentile([s.elapsed_ms for s in window], 99), 1),
        "max_ms": round(max((s.elapsed_ms for s in window), default=0.0), 1),
    }


def write_csv(samples, path):
    with open(path, "w", newline="") as out:  # noqa: PTH123
        writer = csv.writer(out)
        writer.writerow(["start", "elapsed_ms", "outcome"])
        for s in samples:
            writer.writerow([f"{s.start:.6f}", f"{s.elapsed_ms:.3f}", s.outcome])


def read_csv(text):
    rows = csv.DictReader(text.splitlines())
    return [Sample(float(r["start"]), float(r["elapsed_ms"]), r["outcome"]) for r in rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--out", required=True, help="CSV of every request")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pause-ms", type=float, default=5.0, help="pause of each worker between its requests")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--stop-file", help="stop as soon as this file exists")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--cafile", help="CA certificates to trust for https (default: the system's)")
    args = parser.parse_args(argv)
    if not 1 <= args.concurrency <= 64 or args.max_seconds <= 0 or args.max_requests <= 0:
        parser.error("--concurrency must be 1..64, --max-seconds and --max-requests positive")
    samples = run(
        args.url,
        concurrency=args.concurrency,
        pause_ms=args.pause_ms,
        max_seconds=args.max_seconds,
        max_requests=args.max_requests,
        stop_file=args.stop_file,
        timeout=args.timeout,
        cafile=args.cafile,
    )
    write_csv(samples, args.out)
    print(json.dumps(summary(samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
