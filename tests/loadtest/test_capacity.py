"""webdemo_tools.capacity without a lab: the Docker SDK calls, the steady window, the SLO stop and the report."""

import argparse
from pathlib import Path

import pytest
from webdemo_tools import capacity
from webdemo_tools import loadtest_summary as summary

FIXTURES = Path(__file__).resolve().parent / "fixtures"


class FakeContainer:
    def __init__(self, name):
        self.name = name


class FakeDocker:
    """The two Docker SDK calls the tool makes, with the answers a Docker engine gives."""

    def __init__(self):
        self.calls = []
        self.containers = self
        self.api = self

    def list(self, filters):
        self.calls.append(("list", filters))
        return [FakeContainer(n) for n in ("webdemo-lab-web1", "webdemo-lab-lb1", "webdemo-lab-mirror")]

    def stats(self, container, stream, one_shot):
        self.calls.append(("stats", container, stream, one_shot))
        return {"cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}}}


def test_lab_containers_and_cpu_come_from_the_docker_sdk():
    client = FakeDocker()
    assert capacity.lab_containers(client) == ["webdemo-lab-lb1", "webdemo-lab-mirror", "webdemo-lab-web1"]
    assert capacity.cpu_seconds(client, "webdemo-lab-lb1") == 2.5
    assert client.calls == [
        ("list", {"label": "webdemo.lab", "status": "running"}),
        ("stats", "webdemo-lab-lb1", False, True),
    ]


def test_cpu_sampler_turns_counters_into_cores():
    sampler = capacity.CpuSampler(FakeDocker(), ["webdemo-lab-lb1"])
    sampler.samples = [(100.0, {"webdemo-lab-lb1": 10.0}), (101.0, {"webdemo-lab-lb1": 10.5}),
                       (104.0, {"webdemo-lab-lb1": 13.0}), (110.0, {"webdemo-lab-lb1": 20.0})]  # fmt: skip
    assert sampler.cores_between(100.5, 105) == {"webdemo-lab-lb1": 2.5 / 3}
    assert sampler.cores_between(105, 106) == {}
    sampler.sample()
    assert sampler.samples[-1][1]["webdemo-lab-lb1"] == 2.5 and capacity.HOST in sampler.samples[-1][1]


def test_steady_step_leaves_the_rampup_out():
    samples = summary.read_jtl(FIXTURES / "small.jtl")  # A every 0.5 s from t0, B at t0+5.0 and t0+5.6, end t0+6
    step = capacity.steady_step(samples, rampup_s=3, threads=4, engines=1)
    # Samples starting at t0+3.0 or later: A 70, 80 (failed), 90, 100 and B 200, 400 (failed), over 3.0 s.
    assert (step.samples, step.throughput, step.error_pct) == (6, 2.0, pytest.approx(100 * 2 / 6))
    assert step.p50_ms == summary.percentile([70, 80, 90, 100, 200, 400], 50) == 95.0
    assert (step.threads, step.engines, step.cores) == (4, 1, {})
    with pytest.raises(RuntimeError, match="no samples after the 10 s ramp-up"):
        capacity.steady_step(samples, rampup_s=10, threads=4, engines=1)


def test_report_stops_at_the_slo_and_names_the_best_step():
    def step(threads, throughput, p95, cores):
        return capacity.Step(threads, 1, throughput, 10, p95, 2 * p95, 0.0, 1000, cores)

    steps = [
        step(10, 700, 40, {"webdemo-lab-gen1": 0.7, "webdemo-lab-web1": 0.6, "webdemo-lab-lb1": 0.5}),
        step(20, 650, 170, {}),
    ]
    assert [capacity.meets_slo(s, 150) for s in steps] == [True, False]
    args = argparse.Namespace(max_p95_ms=150, engines=1, duration=40, rampup=5)
    report = capacity.format_report(steps, ["webdemo-lab-gen1", "webdemo-lab-lb1", "webdemo-lab-web1"], args, "now")
    assert "| threads | engines | req/s | p50 | p95 | p99 | err % | SLO | gen1 cpu | lb1 cpu | web1 cpu |" in report
    assert "| 10 | 1 | 700 | 10 | 40 | 80 | 0.00 | met | 0.70 | 0.50 | 0.60 |" in report
    assert "| 20 | 1 | 650 | 10 | 170 | 340 | 0.00 | MISSED | nan | nan | nan |" in report
    assert "max throughput at p95 <= 150 ms: 700 req/s (10 threads); load generator(s) used 0.70 of" in report
    assert "the service (web + lb) 1.10" in report


def test_each_step_is_the_users_command_without_its_gate():
    args = argparse.Namespace(rampup=5, duration=40, engines=1)
    command = capacity.playbook_command(60, args)
    assert command[1:4] == ["loadtest.yml", "-i", "inventories/local"]
    assert "loadtest_threads=60" in command and "loadtest_duration=45" in command
    assert "loadtest_max_p95_ms=1000000" in command and command[-1] == '{"loadtest_engines": []}'
    assert '{"loadtest_engines": []}' not in capacity.playbook_command(
        60, argparse.Namespace(rampup=5, duration=40, engines=2)
    )


def test_root_is_found_from_inside_the_repository(tmp_path):
    root = Path(__file__).resolve().parents[2]
    assert capacity.find_root(root / "tests" / "loadtest") == root  # the one lookup of webdemo_tools.repo
    with pytest.raises(FileNotFoundError):
        capacity.find_root(tmp_path)
