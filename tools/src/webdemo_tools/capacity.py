"""Capacity search on the running lab: the most requests/s the lab sustains through lb1 at p95 <= 150 ms.

    webdemo-capacity                                       # steps 10,20,40,60,80,120 threads
    webdemo-capacity --threads 40,80 --engines 2 --duration 60

Not a test: a measurement. Each step is one `ansible-playbook loadtest.yml -i inventories/local` run with no
think time (a closed loop: N threads each send the next request as soon as the last one is answered), so the
offered load grows with N until the lab saturates and latency, not throughput, grows. For each step it reports,
over the steady window (the ramp-up left out): throughput, p50/p95/p99 and errors from jmeter/results.jtl, and
the CPU each lab container used, read from the Docker engine's cumulative counters through the Docker SDK
(cores = CPU seconds per second; the machine has `nproc` of them). The load generator runs on the same cores as
the service, so its share is reported next to the service's: the throughput found is what the service gives with
a generator beside it, a lower bound for the service alone. Stops after the first step that misses the SLO (and
after --max-steps); every step is bounded by loadtest.yml's own timeout.

Run it anywhere inside the repository (it finds the directory holding loadtest.yml). Writes
bench/results/loadtest-capacity-<stamp>.md and each step's log under bench/results/loadtest-capacity-<stamp>/.
Needs the lab (`ansible-playbook site.yml -i inventories/local`) and the Docker engine (DOCKER_HOST or its socket).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from webdemo_tools import loadtest_summary as summary
from webdemo_tools.repo import find_root

LAB_LABEL = "webdemo.lab"
HOST = "(machine)"


def lab_containers(client: docker.DockerClient) -> list[str]:
    """Names of the lab's running containers (label webdemo.lab)."""
    containers = client.containers.list(filters={"label": LAB_LABEL, "status": "running"})
    return sorted(c.name for c in containers)


def cpu_seconds(client: docker.DockerClient, container: str) -> float:
    """CPU seconds the container has used since it started (the counter `docker stats` reads)."""
    stats = client.api.stats(container, stream=False, one_shot=True)
    return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


def host_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (not idle or iowait), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuSampler:
    """Cumulative CPU seconds of each container and of the machine, sampled every `interval` s on a thread."""

    client: docker.DockerClient
    containers: list[str]
    interval: float = 1.0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        now = time.time()
        try:
            counters = {c: cpu_seconds(self.client, c) for c in self.containers}
            counters[HOST] = host_busy_seconds()
        except (OSError, KeyError, docker.errors.DockerException):
            return  # a missed sample only widens the window
        self.samples.append((now, counters))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
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


def steady_step(samples: list[summary.Sample], rampup_s: int, threads: int, engines: int, cores=None) -> Step:
    """Figures of the samples that started after the ramp-up, up to the last sample's end."""
    first, end = summary.run_window_s(samples)
    start = first + rampup_s
    steady = [s for s in samples if s.timestamp_ms / 1000 >= start]
    if not steady or end <= start:
        raise RuntimeError(f"no samples after the {rampup_s} s ramp-up at {threads} threads")
    elapsed = [float(s.elapsed_ms) for s in steady]
    errors = sum(not s.success for s in steady)
    return Step(
        threads=threads,
        engines=engines,
        throughput=len(steady) / (end - start),
        p50_ms=summary.percentile(elapsed, 50),
        p95_ms=summary.percentile(elapsed, 95),
        p99_ms=summary.percentile(elapsed, 99),
        error_pct=100 * errors / len(steady),
        samples=len(steady),
        cores=cores(start, end) if cores else {},
    )


def playbook_command(threads: int, args: argparse.Namespace) -> list[str]:
    """`ansible-playbook loadtest.yml` for one step (the same virtualenv's ansible-playbook as this tool's)."""
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    command = [
        str(ansible_playbook) if ansible_playbook.is_file() else shutil.which("ansible-playbook") or "ansible-playbook",
        "loadtest.yml", "-i", "inventories/local",
        "-e", f"loadtest_threads={threads}", "-e", f"loadtest_rampup={args.rampup}",
        "-e", f"loadtest_duration={args.duration + args.rampup}", "-e", "loadtest_think_time_ms=0",
        # The gate is applied here, on the steady window: the playbook's own gate must not stop the search.
        "-e", "loadtest_max_p95_ms=1000000", "-e", "loadtest_max_error_pct=100",
    ]  # fmt: skip
    if args.engines == 1:
        command += ["-e", json.dumps({"loadtest_engines": []})]
    return command


def run_step(
    threads: int,
    args: argparse.Namespace,
    client: docker.DockerClient,
    containers: list[str],
    root: Path,
    log_dir: Path,
) -> Step:
    log = log_dir / f"threads-{threads}.log"
    with CpuSampler(client, containers) as sampler, log.open("w") as out:
        result = subprocess.run(  # noqa: S603 (argv built here)
            playbook_command(threads, args), cwd=root, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"loadtest.yml failed at {threads} threads (exit {result.returncode}); see {log}")
    samples = summary.read_jtl(root / "jmeter" / "results.jtl")
    return steady_step(samples, args.rampup, threads, args.engines, sampler.cores_between)


def meets_slo(step: Step, max_p95_ms: float) -> bool:
    return step.p95_ms <= max_p95_ms and step.error_pct <= 1


def format_steps(steps: list[Step], containers: list[str], max_p95_ms: float) -> str:
    containers = [*containers, HOST]
    short = [c.removeprefix("webdemo-lab-") for c in containers]
    header = ["threads", "engines", "req/s", "p50", "p95", "p99", "err %", "SLO"] + [f"{n} cpu" for n in short]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for step in steps:
        cells = [
            str(step.threads), str(step.engines), f"{step.throughput:.0f}", f"{step.p50_ms:.0f}",
            f"{step.p95_ms:.0f}", f"{step.p99_ms:.0f}", f"{step.error_pct:.2f}",
            "met" if meets_slo(step, max_p95_ms) else "MISSED",
        ] + [f"{step.cores.get(c, float('nan')):.2f}" for c in containers]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_report(steps: list[Step], containers: list[str], args: argparse.Namespace, stamp: str) -> str:
    met = [s for s in steps if meets_slo(s, args.max_p95_ms)]
    cores = os.cpu_count()
    best = max(met, key=lambda s: s.throughput) if met else None
    verdict = (
        f"max throughput at p95 <= {args.max_p95_ms:g} ms: {best.throughput:.0f} req/s ({best.threads} threads); "
        f"load generator(s) used {sum(v for k, v in best.cores.items() if '-gen' in k):.2f} of {cores} cores, "
        f"the service (web + lb) {sum(v for k, v in best.cores.items() if '-web' in k or '-lb' in k):.2f}"
        if best
        else f"no step met p95 <= {args.max_p95_ms:g} ms"
    )
    return (
        f"# Lab capacity through lb1 ({stamp}, {cores} cores, {args.engines} JMeter engine(s), "
        f"{args.duration} s steady per step, think time 0)\n\n"
        f"Steady window only (ramp-up of {args.rampup} s left out). cpu = cores used (CPU s per s) per\n"
        f"container; {HOST} is the whole machine (lab, Docker, Ansible and all).\n\n"
        f"{format_steps(steps, containers, args.max_p95_ms)}\n\n{verdict}\n"
    )


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

    try:
        root = find_root()
        client = docker.from_env()
        containers = lab_containers(client)
    except (FileNotFoundError, docker.errors.DockerException) as error:
        print(f"capacity: {error}", file=sys.stderr)
        return 2
    if not any(c.endswith("-lb1") for c in containers):
        print("capacity: no running lab (ansible-playbook site.yml -i inventories/local)", file=sys.stderr)
        return 2
    containers = [c for c in containers if not c.endswith("-mirror")]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = root / "bench" / "results" / f"loadtest-capacity-{stamp}"
    log_dir.mkdir(parents=True, exist_ok=True)

    steps: list[Step] = []
    for threads in thread_steps:
        step = run_step(threads, args, client, containers, root, log_dir)
        steps.append(step)
        print(f"{threads:4d} threads: {step.throughput:7.0f} req/s, p95 {step.p95_ms:6.1f} ms, "
              f"errors {step.error_pct:.2f}%", flush=True)  # fmt: skip
        if not meets_slo(step, args.max_p95_ms):
            break

    report = format_report(steps, containers, args, stamp)
    (log_dir.parent / f"loadtest-capacity-{stamp}.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
