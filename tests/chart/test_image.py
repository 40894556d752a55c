"""Smoke test of the built image (scripts/build-image.sh) under each server it can start (WEBDEMO_SERVER=gunicorn, the
default, or granian): run it the way the chart does, read-only with tmpfs mounts, as non-root, every capability dropped.

Per server: /api/v1/health answers, /metrics counts exactly the requests sent across both workers (the multiprocess
directory on the tmpfs), the processes are the server's master + 2 workers as uid 10001, the root filesystem is
read-only, `docker stop` (SIGTERM to the server as PID 1) lets an in-flight request finish and exits 0 in a few
seconds. An unknown WEBDEMO_SERVER stops the start with a message naming the variable.

Skips with the reason when no Docker engine answers or the image is not built. Containers are named
webdemo-test-<random> and removed afterwards, whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest

IMAGE = os.environ.get("WEBDEMO_IMAGE", "webdemo:dev")
PORT = int(os.environ.get("WEBDEMO_IMAGE_TEST_PORT", "18000"))
SERVERS = ("gunicorn", "granian")
# What `docker top` shows for each server's processes (master and workers run the same command line).
PROCESS = {
    "gunicorn": "bin/gunicorn -c python:webdemo.gunicorn_conf webdemo.wsgi:app",
    "granian": "bin/webdemo-granian",
}
# As the Dockerfile's comment and the chart's securityContext: read-only root, writable tmpfs for /tmp and /run/webdemo.
RUN_FLAGS = "--read-only --tmpfs /tmp --tmpfs /run/webdemo --cap-drop ALL --security-opt no-new-privileges".split()
COUNT_PREFIX = "http_request_duration_seconds_count{"


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return docker("version", "--format", "{{.Server.Version}}", check=False).returncode == 0


pytestmark = pytest.mark.skipif(not engine_answers(), reason="no Docker engine answers (docker version failed)")


@pytest.fixture(scope="module")
def image() -> str:
    if docker("image", "inspect", IMAGE, check=False).returncode != 0:
        pytest.skip(f"image {IMAGE} is not built: run scripts/build-image.sh")
    return IMAGE


def get(port: int, path: str, timeout: float = 5):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.status, response.read().decode()


def start(image: str, server: str, port: int, *env: str) -> str:
    """docker run -d the image with WEBDEMO_SERVER=server (and env), wait for /api/v1/health; the container's name."""
    name = f"webdemo-test-{uuid.uuid4().hex[:8]}"
    env_flags = [flag for pair in ("WEBDEMO_SERVER=" + server, *env) for flag in ("-e", pair)]
    docker("run", "-d", "--name", name, *RUN_FLAGS, *env_flags, "-p", f"127.0.0.1:{port}:8000", image)
    deadline = time.monotonic() + 30
    while True:
        try:
            if get(port, "/api/v1/health", timeout=3)[0] == 200:
                return name
        except OSError:
            pass
        if time.monotonic() > deadline:
            logs = docker("logs", name, check=False)
            docker("rm", "-f", name, check=False)
            pytest.fail(f"{image} ({server}) did not answer within 30 s:\n{logs.stdout}{logs.stderr}")
        time.sleep(0.5)


def remove(name: str) -> None:
    docker("rm", "-f", name, check=False)
    assert name not in docker("ps", "-a", "--format", "{{.Names}}").stdout


@pytest.fixture(scope="module", params=SERVERS)
def container(request, image):
    name = start(image, request.param, PORT)
    try:
        yield name, request.param
    finally:
        remove(name)


def health_count(port: int) -> float:
    status, body = get(port, "/metrics")
    assert status == 200
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(COUNT_PREFIX) and 'path="/api/v1/health"' in line
    )


def test_the_image_runs_the_chosen_server(container):
    name, server = container
    env = docker("exec", name, "sh", "-c", "echo $WEBDEMO_SERVER").stdout.strip()
    assert env == server
    top = docker("top", name, "-eo", "pid,args").stdout
    assert PROCESS[server] in top, top


def test_health(container):
    status, body = get(PORT, "/api/v1/health")
    assert (status, json.loads(body)) == (200, {"success": True})


def test_metrics_count_exactly_across_workers(container):
    before = health_count(PORT)
    sent = 40
    for _ in range(sent):  # a new connection each: both workers serve some
        assert get(PORT, "/api/v1/health")[0] == 200
    # Exact only when both workers write to the multiprocess directory (on the tmpfs) and /metrics sums them.
    assert health_count(PORT) - before == sent
    files = docker("exec", container[0], "ls", "/run/webdemo/prometheus").stdout.split()
    assert any(f.startswith("histogram_") and f.endswith(".db") for f in files), files


def test_runs_as_non_root_with_two_workers(container):
    name, server = container
    # Every process of the container, from the host's view of its PID namespace.
    top = docker("top", name, "-eo", "uid,pid,args").stdout.splitlines()[1:]
    uids = {line.split()[0] for line in top}
    assert uids == {"10001"}, top
    assert sum(PROCESS[server] in line for line in top) == 3, top  # master + 2 workers
    user = docker("inspect", "-f", "{{.Config.User}}", name).stdout.strip()
    assert user == "10001:10001"


def test_root_filesystem_is_read_only(container):
    result = docker("exec", container[0], "sh", "-c", "touch /opt/webdemo/x", check=False)
    assert result.returncode != 0
    assert "Read-only file system" in result.stderr


@pytest.mark.parametrize("server", SERVERS)
def test_docker_stop_is_graceful(image, server):
    """SIGTERM to the server as PID 1: the request in flight (1 s of test delay) gets its 200, the container exits 0
    long before docker's 10 s SIGKILL."""
    name = start(image, server, PORT + 1, "WEBDEMO_ALLOW_TEST_DELAY=true", "WEBDEMO_TEST_DELAY_SECONDS=1")
    try:
        answer: dict[str, object] = {}

        def in_flight() -> None:
            try:
                answer["status"], answer["body"] = get(PORT + 1, "/api/v1/health")
            except OSError as exc:
                answer["error"] = exc

        request = threading.Thread(target=in_flight)
        request.start()
        time.sleep(0.4)  # the request is in the worker, inside its 1 s delay
        started = time.monotonic()
        docker("stop", "-t", "10", name, timeout=30)
        took = time.monotonic() - started
        request.join(10)
        assert answer.get("status") == 200, answer
        state = docker("inspect", "-f", "{{.State.ExitCode}} {{.State.OOMKilled}}", name).stdout.split()
        logs = docker("logs", name, check=False)
        assert state == ["0", "false"], logs.stdout + logs.stderr
        assert took < 5, f"docker stop took {took:.1f} s"
    finally:
        remove(name)


@pytest.mark.parametrize("value", ["uwsgi", "gunicorn2"])
def test_an_unknown_server_fails_at_start_naming_the_variable(image, value):
    result = docker("run", "--rm", *RUN_FLAGS, "-e", f"WEBDEMO_SERVER={value}", image, timeout=60, check=False)
    assert result.returncode == 64, result
    assert f'WEBDEMO_SERVER must be gunicorn or granian, got "{value}"' in result.stderr
