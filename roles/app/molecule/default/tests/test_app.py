"""The app role's host, checked from outside: unit, sandbox, socket, API and metrics."""

import json
import re
import shlex

from webdemo_tools.hostcheck import assert_hardened

testinfra_hosts = ["ansible://backend"]

SOCKET = "/run/webdemo.sock"


def curl(host, path, *args):
    command = ["curl", "-sS", "--max-time", "5", "--unix-socket", SOCKET, *args, "http://localhost" + path]
    cmd = host.run(" ".join(shlex.quote(arg) for arg in command))
    assert cmd.rc == 0, cmd.stderr
    return cmd.stdout


def test_socket_and_service_are_enabled_and_running(host):
    for unit in ("webdemo.socket", "webdemo.service"):
        service = host.service(unit)
        assert service.is_enabled, unit
        assert service.is_running, unit
    socket = host.file(SOCKET)
    assert socket.is_socket
    assert socket.group == "www-data"
    assert socket.mode == 0o660


def test_gunicorn_runs_as_the_service_user_with_three_workers(host):
    processes = host.process.filter(comm="gunicorn")
    assert len(processes) == 4, processes  # the arbiter and app_workers=3 workers
    assert {p.user for p in processes} == {"webdemo"}


def test_code_is_owned_by_root_and_config_is_not_world_readable(host):
    assert host.file("/opt/webdemo/current/venv/bin/gunicorn").user == "root"
    env = host.file("/etc/webdemo/webdemo.env")
    assert env.user == "root" and env.group == "webdemo" and env.mode == 0o640
    assert host.user("webdemo").shell == "/usr/sbin/nologin"


def test_health_answers(host):
    assert json.loads(curl(host, "/api/v1/health")) == {"success": True}


def test_info_has_the_os_facts(host):
    info = json.loads(curl(host, "/api/v1/info"))
    assert info["name"] == "Linux"
    assert info["hostname"] == host.check_output("hostname")
    assert 0 < info["freeMem"] <= info["totalMem"]


def test_unknown_route_is_json_404(host):
    out = curl(host, "/api/v1/users", "-w", "\\n%{http_code}")
    body, status = out.rsplit("\n", 1)
    assert status == "404"
    assert json.loads(body)["success"] is False


def test_histogram_counts_every_request_across_workers(host):
    def health_count():
        text = curl(host, "/metrics")
        match = re.search(
            r'^http_request_duration_seconds_count\{method="GET",path="/api/v1/health",status_code="200"\} (\S+)$',
            text,
            re.M,
        )
        return float(match.group(1)) if match else 0.0

    before = health_count()
    for _ in range(30):
        curl(host, "/api/v1/health")
    assert health_count() - before == 30


def test_unit_sandbox_exposure_is_at_most_2_5(host):
    assert_hardened(host, "webdemo.service")


def test_service_has_no_network_and_a_fresh_metrics_directory(host):
    unit = host.check_output("systemctl show webdemo.service -p PrivateNetwork -p RuntimeDirectory -p Type")
    assert "PrivateNetwork=yes" in unit
    assert "Type=notify" in unit
    assert "webdemo/prometheus" in unit
    listing = host.check_output("ls /run/webdemo/prometheus")
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
