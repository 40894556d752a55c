"""Steady traffic through the lab's virtual IP while a fault happens, and the figures each scenario reports.

The client (webdemo_tools/traffic.py, standard library only) runs on the load generator gen1, inside the lab's
network, against the virtual IP the lbs share; it is bounded in time and count and stops by itself.
"""

import json
import time

import pytest
from webdemo_tools import traffic
from webdemo_tools.lab import CONTAINER_PREFIX, docker, docker_exec, lab_vip
from webdemo_tools.repo import root

CLIENT_HOST = "gen1"
REMOTE_DIR = "/var/tmp/webdemo-faults"
REPORT = []  # one row per scenario, printed at the end of the session
# How a request fails when the connection it travels on dies with the faulted part (not refused, not an error answer).


@pytest.fixture(scope="session")
def vip():
    """The virtual IP address the lbs share (without its prefix length)."""
    return lab_vip()


@pytest.fixture(scope="session")
def client_ready():
    docker_exec(CLIENT_HOST, "mkdir", "-p", REMOTE_DIR)
    docker("cp", traffic.__file__, f"{CONTAINER_PREFIX}{CLIENT_HOST}:{REMOTE_DIR}/traffic.py")


class Traffic:
    """`with Traffic(name, url) as load:` keeps requests flowing until the block ends, then `load.samples`."""

    def __init__(self, name, url, *, concurrency=4, pause_ms=25, max_seconds=420):
        self.name, self.url = name, url
        self.concurrency, self.pause_ms, self.max_seconds = concurrency, pause_ms, max_seconds
        self.out, self.stop_file = f"{REMOTE_DIR}/{name}.csv", f"{REMOTE_DIR}/{name}.stop"
        self.samples = []
        self.started = self.stopped = None

    def __enter__(self):
        docker_exec(CLIENT_HOST, "rm", "-f", self.out, self.stop_file)
        docker(
            "exec",
            "-d",
            CONTAINER_PREFIX + CLIENT_HOST,
            "python3",
            f"{REMOTE_DIR}/traffic.py",
            "--url",
            self.url,
            "--out",
            self.out,
            "--stop-file",
            self.stop_file,
            "--concurrency",
            str(self.concurrency),
            "--pause-ms",
            str(self.pause_ms),
            "--max-seconds",
            str(self.max_seconds),
        )
        self.started = time.time()
        time.sleep(3)  # steady traffic before the fault
        return self

    def __exit__(self, *exc):
        time.sleep(3)  # steady traffic after the recovery
        self.stopped = time.time()
        docker_exec(CLIENT_HOST, "touch", self.stop_file)
        deadline = time.monotonic() + 60
        while docker(
            "exec", CONTAINER_PREFIX + CLIENT_HOST, "pgrep", "-f", f"traffic.py.*{self.out}", check=False
        ).stdout:
            assert time.monotonic() < deadline, f"the traffic client of {self.name} did not stop"
            time.sleep(0.5)
        self.samples = traffic.read_csv(docker_exec(CLIENT_HOST, "cat", self.out))
        assert self.samples, f"{self.name}: the client sent no request"
        return False

    def report(self, fault_start, fault_end, recovered_s=None, *, in_flight=None, note=""):
        """Print and record the scenario's figures: the whole run and the fault window.

        in_flight=(t0, t1): the window in which the faulted part held connections that died with it; a failure
        there counts as in flight when its connection was lost (reset, closed, timed out), never when it was
        refused or answered with an error status, which count as failures beyond the in-flight ones.
        """
        total = traffic.summary(self.samples)
        during = traffic.summary(self.samples, since=fault_start, until=fault_end)
        lost_in_flight = 0
        if in_flight is not None:
            t0, t1 = in_flight
            lost_in_flight = traffic.lost_in_flight(self.samples, t0, t1)
        row = {
            "scenario": self.name,
            "sent": total["sent"],
            "failed": total["failed"],
            "in_flight_failed": lost_in_flight,
            "failures": total["failures"],
            "fault_p99_ms": during["p99_ms"],
            "fault_max_ms": during["max_ms"],
            "recovered_s": None if recovered_s is None else round(recovered_s, 1),
            "note": note,
        }
        REPORT.append(row)
        print(f"\n{self.name}: {json.dumps(row)}")
        return row


def wait_until(predicate, timeout, interval=0.2, what="condition"):
    """Seconds until predicate() is true; fails after timeout."""
    start = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except (AssertionError, OSError, ValueError):
            pass
        assert time.monotonic() - start < timeout, f"{what} not reached within {timeout} s"
        time.sleep(interval)


def pytest_sessionfinish(session, exitstatus):
    if not REPORT:
        return
    lines = [
        "",
        "fault suite under traffic (requests from gen1 through the virtual IP):",
        f"{'scenario':<34} {'sent':>7} {'failed':>6} {'in-flight':>9} {'p99 ms':>8} {'max ms':>8} {'back s':>7}",
    ]
    for row in REPORT:
        back = "-" if row["recovered_s"] is None else row["recovered_s"]
        lines.append(
            f"{row['scenario']:<34} {row['sent']:>7} {row['failed']:>6} {row['in_flight_failed']:>9} "
            f"{row['fault_p99_ms']:>8} {row['fault_max_ms']:>8} {back:>7}"
        )
    text = "\n".join(lines)
    print(text)
    out = root() / ".cache" / "faults-report.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(REPORT, indent=2))
