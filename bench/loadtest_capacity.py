"""Capacity search on the running lab: the most requests/s the lab sustains through lb1 at p95 <= 150 ms.

    .venv/bin/python bench/loadtest_capacity.py                      # steps 10,20,40,60,80,120 threads
    .venv/bin/python bench/loadtest_capacity.py --threads 40,80 --engines 2 --duration 60

Not a test: a measurement. Each step is one `ansible-playbook loadtest.yml -i inventories/local` run with no
think time (a closed loop: N threads each send the next request as soon as the last one is answered), so the
offered load grows with N until the lab saturates and latency, not throughput, grows. For each step it reports,
over the steady window (the ramp-up left out): throughput, p50/p95/p99 and errors from jmeter/results.jtl, and
the CPU each lab container used, read from the Docker engine's cumulative counters (cores = CPU seconds per
second; the machine has `nproc` of them). The load generator runs on the same cores as the service, so its
share is reported next to the service's: the throughput found is what the service gives with a generator
beside it, a lower bound for the service alone. Stops after the first step that misses the SLO (and after
--max-steps); every step is bounded by loadtest.yml's own timeout.

Writes bench/results/loadtest-capacity-<stamp>.md. Needs the lab (`ansible-playbook site.yml -i
inventories/local`) and the Docker socket.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER_SOCKET = "/var/run/docker.sock"
LAB_LABEL = "webdemo.lab"

_spec = importlib.util.spec_from_file_location("jmeter_summary", ROOT / "jmeter" / "summary.py")
summary = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = summary
_spec.loader.exec_module(summary)


class DockerConnection(http.client.HTTPConnection):
    """HTTP over the Docker engine's unix socket (the API docker stats uses)."""

    def __init__(self, path: str = DOCKER_SOCKET) -> None:
        super().__init__("localhost", timeout=10)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def docker_get(path: str):
    connection = DockerConnection()
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"docker API {path}: HTTP {response.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        connection.close()


def lab_containers() -> list[str]:
    filters = json.dumps({"label": [LAB_LABEL], "status": ["running"]})
    containers = docker_get(f"/containers/json?filters={urllib.parse.quote(filters)}")
    return sorted(c["Names"][0].lstrip("/") for c in containers)


def cpu_seconds(container: str) -> float:
    stats = docker_get(f"/containers/{container}/stats?stream=false&one-shot=true")
    return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


HOST = "(machine)"


def host_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (not idle or iowait), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuSampler:
    """Cumulative CPU seconds of each container, sampled every `interval` s on a thread."""

    containers: list[str]
    interval: float = 1.0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            try:
                counters = {c: cpu_seconds(c) for c in self.containers}
                counters[HOST] = host_busy_seconds()
                self.samples.append((now, counters))
            except (OSError, RuntimeError):
                pass  # a missed sample only widens the window
            self._stop.wait(self.interval)

    def __enter__(self) -> CpuSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def cores_between(self, start: float, end: float) -> dict[str, float]:
        """CPU cores each container used between the samples nearest inside [start, end]."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return {}
        (t0, first), (t1, last) = inside[0], inside[-1]
        return {c: (last[c] - first[c]) / (t1 - t0) for c in first}


@dataclass(frozen=True)
class Step:
    threads: int
    engines: int
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    error_pct: float
    samples: int
    cores: dict[str, float]


def steady_window(samples: list, rampup_s: int) -> tuple[float, float]:
    start = min(s.timestamp_ms for s in samples) / 1000 + rampup_s
    end = max(s.timestamp_ms + s.elapsed_ms for s in samples) / 1000
    return start, end


def run_step(threads: int, args: argparse.Namespace, containers: list[str], log_dir: Path) -> Step:
    command = [
        str(ROOT / ".venv" / "bin" / "ansible-playbook"), "loadtest.yml", "-i", "inventories/local",
        "-e", f"loadtest_threads={threads}", "-e", f"loadtest_rampup={args.rampup}",
        "-e", f"loadtest_duration={args.duration + args.rampup}", "-e", "loadtest_think_time_ms=0",
        # The gate is applied here, on the steady window: the playbook's own gate must not stop the search.
        "-e", "loadtest_max_p95_ms=1000000", "-e", "loadtest_max_error_pct=100",
    ]  # fmt: skip
    if args.engines == 1:
        command += ["-e", json.dumps({"loadtest_engines": []})]
    log = log_dir / f"threads-{threads}.log"
    with CpuSampler(containers) as sampler, log.open("w") as out:
        result = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)  # noqa: S603 (argv built here)
    if result.returncode != 0:
        raise RuntimeError(f"loadtest.yml failed at {threads} threads (exit {result.returncode}); see {log}")
    samples = summary.read_jtl(ROOT / "jmeter" / "results.jtl")
    start, end = steady_window(samples, args.rampup)
    steady = [s for s in samples if s.timestamp_ms / 1000 >= start]
    elapsed = sorted(float(s.elapsed_ms) for s in steady)
    errors = sum(not s.success for s in steady)
    return Step(
        threads=threads,
        engines=args.engines,
        throughput=len(steady) / (end - start),
        p50_ms=summary.percentile(elapsed, 50),
        p95_ms=summary.percentile(elapsed, 95),
        p99_ms=summary.percentile(elapsed, 99),
        error_pct=100 * errors / len(steady),
        samples=len(steady),
        cores=sampler.cores_between(start, end),
    )


def format_steps(steps: list[Step], containers: list[str], max_p95_ms: float) -> str:
    containers = [*containers, HOST]
    short = [c.removeprefix("webdemo-lab-") for c in containers]
    header = ["threads", "engines", "req/s", "p50", "p95", "p99", "err %", "SLO"] + [f"{n} cpu" for n in short]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for step in steps:
        met = step.p95_ms <= max_p95_ms and step.error_pct <= 1
        cells = [
            str(step.threads), str(step.engines), f"{step.throughput:.0f}", f"{step.p50_ms:.0f}",
            f"{step.p95_ms:.0f}", f"{step.p99_ms:.0f}", f"{step.error_pct:.2f}", "met" if met else "MISSED",
        ] + [f"{step.cores.get(c, float('nan')):.2f}" for c in containers]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="10,20,40,60,80,120", help="thread counts, in increasing order")
    parser.add_argument("--engines", type=int, choices=(1, 2), default=1, help="JMeter engines (2: distributed)")
    parser.add_argument("--duration", type=int, default=40, help="seconds of each step after its ramp-up")
    parser.add_argument("--rampup", type=int, default=5, help="ramp-up seconds (left out of the figures)")
    parser.add_argument("--max-p95-ms", type=float, default=150, help="the SLO's p95 budget")
    parser.add_argument("--max-steps", type=int, default=8, help="never run more steps than this")
    args = parser.parse_args(argv)
    thread_steps = [int(t) for t in args.threads.split(",")][: args.max_steps]

    containers = lab_containers()
    if not any(c.endswith("-lb1") for c in containers):
        print("loadtest_capacity: no running lab (ansible-playbook site.yml -i inventories/local)", file=sys.stderr)
        return 2
    containers = [c for c in containers if not c.endswith("-mirror")]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = ROOT / "bench" / "results" / f"loadtest-capacity-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)

    steps: list[Step] = []
    for threads in thread_steps:
        step = run_step(threads, args, containers, log_dir)
        steps.append(step)
        print(f"{threads:4d} threads: {step.throughput:7.0f} req/s, p95 {step.p95_ms:6.1f} ms, "
              f"errors {step.error_pct:.2f}%", flush=True)  # fmt: skip
        if step.p95_ms > args.max_p95_ms or step.error_pct > 1:
            break

    met = [s for s in steps if s.p95_ms <= args.max_p95_ms and s.error_pct <= 1]
    table = format_steps(steps, containers, args.max_p95_ms)
    cores = os.cpu_count()
    best = max(met, key=lambda s: s.throughput) if met else None
    verdict = (
        f"max throughput at p95 <= {args.max_p95_ms:g} ms: {best.throughput:.0f} req/s ({best.threads} threads); "
        f"load generator(s) used {sum(v for k, v in best.cores.items() if '-gen' in k):.2f} of {cores} cores, "
        f"the service (web + lb) {sum(v for k, v in best.cores.items() if '-web' in k or '-lb' in k):.2f}"
        if best
        else f"no step met p95 <= {args.max_p95_ms:g} ms"
    )
    report = (
        f"# Lab capacity through lb1 ({stamp}, {cores} cores, {args.engines} JMeter engine(s), "
        f"{args.duration} s steady per step, think time 0)\n\n"
        f"Steady window only (ramp-up of {args.rampup} s left out). cpu = cores used (CPU s per s) per\n"
        f"container; {HOST} is the whole machine (lab, Docker, Ansible and all).\n\n"
        f"{table}\n\n{verdict}\n"
    )
    (log_dir.parent / f"loadtest-capacity-{stamp}.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
