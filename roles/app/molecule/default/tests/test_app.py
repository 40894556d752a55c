"""The app role's hosts, checked from outside: unit, sandbox, socket, API and metrics, under each server.

webdemo-mol-1 runs gunicorn, webdemo-mol-2 granian (molecule.yml): every test runs on both.
"""

import json
import re
import shlex
import time

import pytest
from webdemo_tools.hostcheck import assert_hardened

testinfra_hosts = ["ansible://backend"]

SOCKET = "/run/webdemo.sock"
METRICS_DIR = "/run/webdemo/prometheus"
# The process name (comm) of the server's master and workers: the venv script ExecStart runs.
COMM = {"gunicorn": "gunicorn", "granian": "webdemo-granian"}


@pytest.fixture
def server(host):
    return host.ansible.get_variables()["app_server"]


def curl(host, path, *args):
    command = ["curl", "-sS", "--max-time", "5", "--unix-socket", SOCKET, *args, "http://localhost" + path]
    cmd = host.run(" ".join(shlex.quote(arg) for arg in command))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout


def health_count(host):
    text = curl(host, "/metrics")
    match = re.search(
        r'^http_request_duration_seconds_count\{method="GET",path="/api/v1/health",status_code="200"\} (\S+)$',
        text,
        re.M,
    )
    return float(match.group(1)) if match else 0.0


def hit_health(host, count):
    """`count` requests, each on a new connection (any worker may take it); all must answer 200."""
    script = (
        f"for i in $(seq {count}); do curl -sS -o /dev/null -w '%{{http_code}}\\n' --max-time 5 "
        f"-H 'Connection: close' --unix-socket {SOCKET} http://localhost/api/v1/health; done"
    )
    codes = host.check_output(script).split()
    assert codes == ["200"] * count, codes


def main_pid(host):
    return int(host.check_output("systemctl show -p MainPID --value webdemo.service"))


def worker_pids(host):
    return {int(pid) for pid in host.run("pgrep -P %s", str(main_pid(host))).stdout.split()}


def test_socket_and_service_are_enabled_and_running(host):
    for unit in ("webdemo.socket", "webdemo.service"):
        service = host.service(unit)
        assert service.is_enabled, unit
        assert service.is_running, unit
    socket = host.file(SOCKET)
    assert socket.is_socket
    assert socket.group == "www-data"
    assert socket.mode == 0o660


def test_the_server_serves_the_socket_systemd_owns(host, server):
    # Socket activation: the listening socket is systemd's (webdemo.socket), and the server's master holds that
    # very socket (passed as fd 3), not one it bound itself.
    listeners = host.check_output("ss -xlpn src %s", SOCKET)
    assert '("systemd",pid=1,' in listeners, listeners
    assert f'("{COMM[server]}",pid={main_pid(host)},fd=' in listeners, listeners
    assert f"ExecStart={{ path=/opt/webdemo/current/venv/bin/{COMM[server]} " in host.check_output(
        "systemctl show -p ExecStart webdemo.service"
    )


def test_the_server_runs_as_the_service_user_with_three_workers(host, server):
    processes = host.process.filter(comm=COMM[server])
    assert len(processes) == 4, processes  # the master and app_workers=3 workers
    assert {p.user for p in processes} == {"webdemo"}
    assert len(worker_pids(host)) == 3


def test_code_is_owned_by_root_and_config_is_not_world_readable(host, server):
    for script in ("gunicorn", "webdemo-granian"):  # both servers are in every release
        assert host.file(f"/opt/webdemo/current/venv/bin/{script}").user == "root"
    env = host.file("/etc/webdemo/webdemo.env")
    assert env.user == "root" and env.group == "webdemo" and env.mode == 0o640
    assert f"WEBDEMO_SERVER={server}" in env.content_string
    assert host.user("webdemo").shell == "/usr/sbin/nologin"


def test_health_answers(host):
    assert json.loads(curl(host, "/api/v1/health")) == {"success": True}


def test_info_has_the_os_facts(host):
    info = json.loads(curl(host, "/api/v1/info"))
    assert info["name"] == "Linux"
    assert info["hostname"] == host.check_output("hostname")
    assert 0 < info["freeMem"] <= info["totalMem"]


@pytest.mark.parametrize(
    ("path", "args", "status"),
    [
        ("/api/v1/users", [], "404"),
        ("/api/v1/" + "a" * 5000, [], "414"),
        ("/api/v1/health", ["-H", "X-Big: " + "b" * 9000], "431"),
        ("/api/v1/health", ["-H", f"Content-Length: {(1 << 20) + 1}"], "413"),
    ],
    ids=["unknown-route", "long-line", "big-header", "big-body"],
)
def test_client_mistakes_are_json_4xx_from_the_app_itself(host, path, args, status):
    out = curl(host, path, *args, "-w", "\\n%{http_code}")
    body, code = out.rsplit("\n", 1)
    assert code == status
    assert json.loads(body)["success"] is False


def test_histogram_counts_every_request_across_workers(host):
    before = health_count(host)
    hit_health(host, 30)
    assert health_count(host) - before == 30


def test_counts_stay_exact_after_kill_9_of_a_worker_which_is_respawned(host, server):
    before = health_count(host)
    hit_health(host, 30)
    workers = worker_pids(host)
    # A worker that served requests (it has a histogram file): its share must survive its death.
    served = {int(n[len("histogram_") : -3]) for n in host.file(METRICS_DIR).listdir() if n.startswith("histogram_")}
    victim = max(served & workers)
    host.check_output("kill -9 %s", str(victim))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = worker_pids(host)
        if victim not in now and len(now) == 3:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"{server}: worker {victim} not respawned: {worker_pids(host)}")
    assert len(worker_pids(host) - workers) == 1
    assert host.service("webdemo.service").is_running  # the master stayed: no unit restart
    hit_health(host, 30)
    assert health_count(host) - before == 60


def test_restart_is_graceful_and_loses_no_request(host, server):
    """systemctl restart with a request in flight (2 s of test latency, set for this test only through a runtime
    drop-in): the request finishes with 200, then a client sending during a restart sees no error."""
    drop_in = "/run/systemd/system/webdemo.service.d/zz-test-delay.conf"
    slow = (
        f"curl -sS -o /dev/null -w '%{{http_code}} %{{time_total}}' --max-time 30 --unix-socket {SOCKET} "
        "http://localhost/api/v1/health"
    )
    try:
        host.check_output(
            "mkdir -p %s && printf '[Service]\\nEnvironment=WEBDEMO_ALLOW_TEST_DELAY=true "
            "WEBDEMO_TEST_DELAY_SECONDS=2\\n' > %s && systemctl daemon-reload && systemctl restart webdemo.service",
            drop_in.rsplit("/", 1)[0],
            drop_in,
        )
        since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
        out = host.check_output(
            f"({slow} > /root/slow.out) & sleep 0.7; start=$(date +%s%N); systemctl restart webdemo.service; "
            "end=$(date +%s%N); wait; echo $(( (end - start) / 1000000 )) $(cat /root/slow.out)"
        )
        restart_ms, code, seconds = out.split()
        assert code == "200", out  # the in-flight request finished
        assert float(seconds) >= 2.0, out
        assert int(restart_ms) < 10_000, out  # stopped once the request was done, not at a timeout
        # systemd never had to kill anything: the stop ended when the request was done.
        journal = host.check_output("journalctl -u webdemo.service --since %s --no-pager", since)
        assert "timed out" not in journal and "SIGKILL" not in journal, journal
    finally:
        host.run("rm -f %s && systemctl daemon-reload && systemctl restart webdemo.service", drop_in)
    # Across a restart systemd holds the socket: requests wait in its backlog, none is refused. gunicorn loses
    # none; granian closes a connection accepted in the instant of its stop without an answer (curl: 000; the
    # rolling deploy drains the host from the load balancers first, so no request meets it there).
    codes = host.check_output(
        f"(for i in $(seq 200); do curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 10 "
        f"--unix-socket {SOCKET} http://localhost/api/v1/health; done > /root/loop.out) & "
        "sleep 0.3; systemctl restart webdemo.service; wait; cat /root/loop.out"
    ).split()
    assert len(codes) == 200, codes
    if server == "gunicorn":
        assert set(codes) == {"200"}, codes
    else:
        assert set(codes) <= {"200", "000"} and codes.count("000") <= 1, codes


def test_unit_sandbox_exposure_is_at_most_2_5(host):
    assert_hardened(host, "webdemo.service")


def test_service_has_no_network_and_a_fresh_metrics_directory(host):
    unit = host.check_output("systemctl show webdemo.service -p PrivateNetwork -p RuntimeDirectory -p Type")
    assert "PrivateNetwork=yes" in unit
    assert "Type=notify" in unit
    assert "webdemo/prometheus" in unit
    listing = host.check_output("ls %s", METRICS_DIR)
    assert listing  # the workers' files; the directory vanishes with the service (RuntimeDirectory)


def test_the_service_runs_the_current_release_pinned_to_its_version(host):
    current = host.file("/opt/webdemo/current")
    assert current.is_symlink
    release = current.linked_to.rsplit("/", 1)[-1]
    assert current.linked_to == f"/opt/webdemo/releases/{release}"
    installed = host.check_output(
        "/opt/webdemo/current/venv/bin/python -c %s", "import webdemo; print(webdemo.__version__)"
    )
    assert installed == release
    assert f'version="{release}"' in curl(host, "/metrics")
    assert not host.file("/opt/webdemo/venv").exists  # the single-virtualenv layout is gone
