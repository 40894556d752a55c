#!/usr/bin/env python3
"""Per-request cost of a webdemo worker under load, under gunicorn and granian, metrics on and off.

A measurement, not a test (nothing asserts). For each round, server and metrics setting it starts the
server with ONE worker on 127.0.0.1, loads it with wrk (keep-alive, like nginx's upstream connections)
and divides the worker process's CPU time (user + system, all its threads: for granian the Rust
runtime too) by the requests wrk completed: CPU microseconds per request. Variants are interleaved
within each round, and the median over rounds is reported, with the metrics cost as
(on - off) / on per server, measured in the same run.

    .venv/bin/python bench/profile_app.py [--rounds 3] [--seconds 5] [--path /api/v1/health]
    .venv/bin/python bench/profile_app.py --inprocess                      # the app's call alone
    .venv/bin/python bench/profile_app.py --cprofile [--server granian]   # where a worker's time goes

--inprocess times the app's WSGI call alone (no server, no socket) with metrics on and off, in CPU
time, with the environ each server builds (granian's includes the process environment): the
metrics cost in microseconds, steadier than the CPU per request of a loaded machine.

--cprofile profiles the worker's request thread with cProfile (the server's own Python included:
gunicorn's parser and writer; under granian only the WSGI call, the rest is Rust) and prints the top
functions by own time; cProfile's per-call overhead inflates small functions, so use it to find
hotspots and the CPU figures above for costs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "app" / "src"
COMMANDS = {
    "gunicorn": ["-m", "gunicorn", "-c", "python:webdemo.gunicorn_conf", "webdemo.wsgi:app"],
    "granian": ["-m", "webdemo.granian_server"],
}
# With --cprofile the server loads this module's app instead of webdemo.wsgi:app (see _profiled_app).
PROFILED = {
    "gunicorn": ["-m", "gunicorn", "-c", "python:webdemo.gunicorn_conf", "profile_app:profiled_app"],
    "granian": [
        "-c",
        "import profile_app, webdemo.granian_server as g; "
        "g.load_app = lambda: profile_app.profiled_app; raise SystemExit(g.main())",
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(
        self, kind: str, metrics: bool, workdir: Path, profile_out: Path | None = None, src: Path = SRC
    ) -> None:
        self.port = free_port()
        self.workdir = workdir
        prom = workdir / "prometheus"
        shutil.rmtree(prom, ignore_errors=True)
        prom.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WEBDEMO_") and k != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(
            PYTHONPATH=os.pathsep.join([str(src), str(Path(__file__).parent)]),
            WEBDEMO_BIND=f"127.0.0.1:{self.port}",
            WEBDEMO_WORKERS="1",
            WEBDEMO_METRICS_ENABLED="true" if metrics else "false",
            WEBDEMO_LOG_LEVEL="warning",
        )
        if metrics:
            # As deployed: multiprocess mode (file-backed values), whatever the worker count.
            env["PROMETHEUS_MULTIPROC_DIR"] = str(prom)
        command = COMMANDS[kind]
        if profile_out is not None:
            env["WEBDEMO_BENCH_PROFILE"] = str(profile_out)
            command = PROFILED[kind]
        self.log = open(workdir / f"{kind}.log", "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(  # noqa: S603
            [sys.executable, *command], env=env, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.master = psutil.Process(self.proc.pid)
        self.worker = self._wait_ready()

    def _wait_ready(self) -> psutil.Process:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            children = self.master.children()
            if children:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        if s.recv(64).startswith(b"HTTP/1.1 200"):
                            return children[0]
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready: see {self.log.name}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def wrk(port: int, path: str, seconds: float, connections: int) -> int:
    out = subprocess.run(  # noqa: S603
        ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", f"http://127.0.0.1:{port}{path}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"(\d+) requests in", out)
    if not match or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(out)
    return int(match.group(1))


def measure(kind: str, metrics: bool, args: argparse.Namespace, workdir: Path) -> dict:
    path, seconds, connections = args.path, args.seconds, args.connections
    server = Server(kind, metrics, workdir, src=args.src)
    try:
        wrk(server.port, path, 1, connections)  # warm-up
        before = cpu(server.worker)
        requests = wrk(server.port, path, seconds, connections)
        used = cpu(server.worker) - before
    finally:
        server.stop()
    return {"requests": requests, "req_per_s": requests / seconds, "cpu_us": used / requests * 1e6}


def run_bench(args: argparse.Namespace) -> dict:
    servers = ["gunicorn", "granian"] if args.server == "both" else [args.server]
    samples: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="webdemo-profile-") as tmp:
        for round_ in range(args.rounds):
            for kind in servers:
                for metrics in (True, False):
                    name = f"{kind} metrics {'on' if metrics else 'off'}"
                    sample = measure(kind, metrics, args, Path(tmp))
                    samples.setdefault(name, []).append(sample)
                    print(
                        f"round {round_ + 1} {name:<22} {sample['cpu_us']:7.1f} us CPU/request "
                        f"{sample['req_per_s']:9.0f} req/s",
                        file=sys.stderr,
                    )
    result = {"path": args.path, "rounds": args.rounds, "seconds": args.seconds, "variants": {}}
    print(f"\n{args.path}, 1 worker, wrk -c{args.connections}, median of {args.rounds} rounds")
    print(f"{'variant':<24}{'CPU us/request':>16}{'(min)':>8}{'req/s':>10}")
    for name, values in samples.items():
        us = statistics.median(v["cpu_us"] for v in values)
        low = min(v["cpu_us"] for v in values)
        rps = statistics.median(v["req_per_s"] for v in values)
        result["variants"][name] = {"cpu_us": round(us, 1), "cpu_us_min": round(low, 1), "req_per_s": round(rps)}
        print(f"{name:<24}{us:>16.1f}{low:>8.1f}{rps:>10.0f}")
    for kind in servers:
        on = result["variants"][f"{kind} metrics on"]["cpu_us"]
        off = result["variants"][f"{kind} metrics off"]["cpu_us"]
        # Per round too: the ratio of medians hides how much it moves.
        per_round = [
            (a["cpu_us"] - b["cpu_us"]) / a["cpu_us"]
            for a, b in zip(samples[f"{kind} metrics on"], samples[f"{kind} metrics off"], strict=True)
        ]
        result[f"{kind}_metrics_cost"] = round((on - off) / on, 4)
        print(
            f"{kind}: metrics cost {(on - off) / on:+.1%} of the request's CPU "
            f"(per round: {', '.join(f'{r:+.1%}' for r in per_round)})"
        )
    return result


def run_cprofile(args: argparse.Namespace) -> None:
    import pstats

    kinds = ["gunicorn", "granian"] if args.server == "both" else [args.server]
    with tempfile.TemporaryDirectory(prefix="webdemo-cprofile-") as tmp:
        for kind in kinds:
            out = Path(tmp) / f"{kind}.prof"
            server = Server(kind, True, Path(tmp), profile_out=out, src=args.src)
            try:
                wrk(server.port, args.path, args.seconds, args.connections)
                deadline = time.monotonic() + 10
                while not out.exists() and time.monotonic() < deadline:
                    time.sleep(0.2)
            finally:
                server.stop()
            print(f"\n=== {kind}: cProfile of the worker's request thread, {args.path}, top by own time")
            stats = pstats.Stats(str(out))
            stats.sort_stats("tottime").print_stats(args.top)


# --- the app's call alone (--inprocess) --------------------------------------------------------
# Headers as nginx (roles/nginx) sends them to the app.
NGINX_HEADERS = {
    "HTTP_HOST": "localhost",
    "HTTP_X_REQUEST_ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "HTTP_X_REAL_IP": "172.30.0.141",
    "HTTP_X_FORWARDED_FOR": "10.1.2.3, 172.30.0.141",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_CONNECTION": "",
    "HTTP_USER_AGENT": "ApacheJMeter/5.6.3",
    "HTTP_ACCEPT": "*/*",
}


def environ_of(kind: str, path: str) -> dict:
    import io

    base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }
    if kind == "gunicorn":
        base.update(RAW_URI=path, REMOTE_PORT="", **{"wsgi.file_wrapper": object, "gunicorn.socket": None})
        return {**base, **NGINX_HEADERS}
    # granian: environ = dict(os.environ) | {its keys} | scope (granian/wsgi.py)
    base.update(GATEWAY_INTERFACE="CGI/1.1", SERVER_SOFTWARE="Granian")
    return {**os.environ, **base, **NGINX_HEADERS}


def run_inprocess(args: argparse.Namespace) -> dict:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # prometheus_client picks file-backed values at import: re-run with the directory set.
        with tempfile.TemporaryDirectory(prefix="webdemo-inprocess-") as tmp:
            env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": tmp, "PYTHONPATH": str(args.src)}
            return json.loads(
                subprocess.run(  # noqa: S603
                    [sys.executable, __file__, *sys.argv[1:], "--quiet-json"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
    import timeit

    from webdemo.app import create_app
    from webdemo.settings import Settings

    apps = {
        "on": create_app(Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": os.environ["PROMETHEUS_MULTIPROC_DIR"]})),
        "off": create_app(Settings.from_env({"WEBDEMO_METRICS_ENABLED": "false"})),
    }

    def start_response(status, headers, exc_info=None):
        return None

    result: dict = {}
    for kind in ("gunicorn", "granian"):
        for path in ("/api/v1/health", "/api/v1/info", "/api/v1/nothing"):
            template = environ_of(kind, path)
            times: dict[str, list[float]] = {"on": [], "off": []}
            calls = {}
            for name, app in apps.items():

                def call(app=app, template=template):
                    b"".join(app(dict(template), start_response))

                call()
                calls[name] = call
            # Short blocks, alternated, so that a burst of other load on the machine hits both.
            n = 50
            for _ in range(args.repeats):
                for name, call in calls.items():
                    times[name].append(timeit.timeit(call, number=n, timer=time.process_time) / n * 1e6)
            on, off = statistics.median(times["on"]), statistics.median(times["off"])
            result[f"{kind} {path}"] = {
                "on_us": round(on, 2),
                "off_us": round(off, 2),
                "metrics_us": round(on - off, 2),
            }
    return result


def print_inprocess(result: dict) -> None:
    print(f"{'environ of / path':<34}{'metrics on':>12}{'off':>8}{'metrics':>9}   (CPU us per call)")
    for name, row in result.items():
        print(f"{name:<34}{row['on_us']:>12.2f}{row['off_us']:>8.2f}{row['metrics_us']:>9.2f}")


# --- the profiled app (loaded by the server under --cprofile) ------------------------------------
_profile = None
_app = None
_count = 0
PROFILE_REQUESTS = 1_000


def profiled_app(environ, start_response):
    """webdemo.wsgi:app with cProfile on in the calling (request) thread; dumps every N requests."""
    global _profile, _count, _app
    if _profile is None:
        import cProfile

        from webdemo.wsgi import app

        _app = app
        _profile = cProfile.Profile()
        _profile.enable()
    _count += 1
    if _count % PROFILE_REQUESTS == 0:  # the file holds the profile so far (workers have no atexit)
        _profile.disable()
        _profile.dump_stats(os.environ["WEBDEMO_BENCH_PROFILE"])
        _profile.enable()
    return _app(environ, start_response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["gunicorn", "granian", "both"], default="both")
    parser.add_argument("--path", default="/api/v1/health")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--cprofile", action="store_true", help="profile the worker with cProfile instead")
    parser.add_argument("--inprocess", action="store_true", help="time the app's WSGI call alone instead")
    parser.add_argument("--repeats", type=int, default=200, help="--inprocess: alternated blocks of 50 calls")
    parser.add_argument("--quiet-json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--src", type=Path, default=SRC, help="the app's source tree (e.g. an older one)")
    args = parser.parse_args()
    if shutil.which("wrk") is None and not args.inprocess:
        print("wrk is needed (apt-get install wrk)", file=sys.stderr)
        return 1
    if args.cprofile:
        run_cprofile(args)
        return 0
    if args.inprocess:
        result = run_inprocess(args)
        if args.quiet_json:
            print(json.dumps(result))
        else:
            print_inprocess(result)
            if args.json:
                args.json.write_text(json.dumps(result, indent=2) + "\n")
        return 0
    result = run_bench(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
