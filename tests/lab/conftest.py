"""Fixtures for tests against the running local lab (brought up by tests/lab/site.sh / site.yml)."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LB = "http://localhost:4000"
PROMETHEUS = "http://localhost:9090"


def docker_exec(host, *command, check=True):
    result = subprocess.run(
        ["docker", "exec", f"webdemo-lab-{host}", *command], capture_output=True, text=True, timeout=60, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{host}: {' '.join(command)} failed: {result.stderr}")
    return result.stdout


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback URLs of the lab)
        return response.status, response.read()


def prometheus_query(expr):
    query = urllib.parse.urlencode({"query": expr})
    _, body = http_get(f"{PROMETHEUS}/api/v1/query?{query}")
    return json.loads(body)["data"]["result"]


def send_requests(count, path="/api/v1/health", max_seconds=120):
    """A bounded burst of sequential requests through the lb; returns the status codes."""
    codes, deadline = [], time.monotonic() + max_seconds
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        try:
            codes.append(http_get(LB + path)[0])
        except urllib.error.HTTPError as error:  # a 4xx/5xx answer is a status, not a failure to connect
            codes.append(error.code)
        except OSError as error:
            codes.append(str(error))
    return codes


def run_playbook(*args):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/local", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="session")
def lab_is_up():
    try:
        status, _ = http_get(LB + "/api/v1/health")
        http_get(PROMETHEUS + "/-/ready")
    except OSError as error:
        pytest.fail(f"the lab is not running (run: ansible-playbook site.yml -i inventories/local): {error}")
    assert status == 200
