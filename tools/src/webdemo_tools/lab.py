"""The running local lab as tests and tools see it from the controller: its hosts, its published ports, its
playbooks. Shared by tests/lab (alerts and queries) and tests/faults (faults under traffic)."""

from __future__ import annotations

import functools
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from webdemo_tools import promhttp
from webdemo_tools.repo import ansible, root

# The lab publishes the lb's HTTPS on localhost:4443 (its plain HTTP, which only redirects, on localhost:4000) and
# Prometheus on localhost:9090 (inventories/local/group_vars/all.yml).
LB = "https://localhost:4443"
LB_HTTP = "http://localhost:4000"
# The lab's CA (roles/pki, made by playbooks/lab.yml): every lab certificate is signed by it.
LAB_CA = root() / ".cache" / "lab-pki" / "ca.crt"
# Prometheus and Alertmanager answer HTTPS with basic auth only (roles/prometheus, roles/alertmanager): see
# monitoring_access() for the credential and CA.
PROMETHEUS = "https://localhost:9090"
ALERTMANAGER = "https://localhost:9093"
CONTAINER_PREFIX = "webdemo-lab-"


def docker(*args: str, check: bool = True, timeout: int = 60) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603, S607
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def docker_exec(host: str, *command: str, check: bool = True, timeout: int = 60) -> str:
    """Run a command in a lab host (its inventory name) and return its output."""
    result = docker("exec", CONTAINER_PREFIX + host, *command, check=False, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{host}: {' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


def lab_tls_context() -> ssl.SSLContext:
    """A client context that trusts the lab's CA (and verifies names, as any client would)."""
    return ssl.create_default_context(cafile=str(LAB_CA))


def http_get(url: str, timeout: float = 5):
    context = lab_tls_context() if url.startswith("https:") else None
    with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310 (the lab's URLs)
        return response.status, response.read()


@functools.cache
def monitoring_access() -> promhttp.Access:
    """How the tests and tools reach the lab's monitoring plane: the lab's CA and the one monitoring credential,
    read from the lab inventory (webdemo_monitoring_username/_password in inventories/local/group_vars/all.yml,
    their one home: a lab-only value), never copied into a test."""
    values = inventory_vars("mon1")
    return promhttp.Access(
        ca_file=str(LAB_CA),
        username=values["webdemo_monitoring_username"],
        password=values["webdemo_monitoring_password"],
    )


def monitoring_get(url: str, timeout: float = 5):
    """GET of a monitoring endpoint (Prometheus, Alertmanager) with the lab's CA and credential: (status, body)."""
    with monitoring_access().open(url, timeout=timeout) as response:
        return response.status, response.read()


def monitoring_ready(base_url: str) -> bool:
    """Whether Prometheus or Alertmanager at base_url answers /-/ready (with the credential) right now."""
    try:
        return monitoring_get(base_url + "/-/ready")[0] == 200
    except OSError:
        return False


def prometheus_query(expr: str, at: float | None = None) -> list:
    params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
    _, body = monitoring_get(f"{PROMETHEUS}/api/v1/query?{urllib.parse.urlencode(params)}")
    return json.loads(body)["data"]["result"]


def send_requests(count: int, path: str = "/api/v1/health", max_seconds: float = 120) -> list:
    """A bounded burst of sequential requests through the lb; returns the status codes (or errors)."""
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


def inventory_vars(host: str) -> dict:
    """The inventory variables of a lab host as ansible-inventory shows them (not templated)."""
    result = ansible("ansible-inventory", "-i", "inventories/local", "--host", host, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]  # noqa: S101
    return json.loads(result.stdout)


def lab_vip() -> str:
    """The virtual IP address the lbs share (without its prefix length)."""
    return inventory_vars("lb1")["webdemo_vip"].split("/")[0]


def run_playbook(*args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """ansible-playbook on the lab's inventory, from the repository root."""
    result = ansible("ansible-playbook", "-i", "inventories/local", *args, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]  # noqa: S101
    return result
