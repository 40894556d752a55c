"""The lab's one-node Kubernetes cluster (roles/k8s_lab), the production release path against it, and traffic.

`scripts/test.sh k8s` starts the cluster (playbooks/k8s-lab.yml -i inventories/local-k8s) before these tests and
removes it after (playbooks/lab-destroy.yml). Every request goes to the release's Service address (a ClusterIP that
kube-proxy's rules on this machine route to the pods): nothing leaves the machine.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
import urllib.parse

import pytest
from webdemo_tools import traffic
from webdemo_tools.repo import ansible, root

ROOT = root()
CACHE = ROOT / ".cache" / "k8s"
KUBECONFIG = CACHE / "kubeconfig"
KUBECTL = CACHE / "bin" / "kubectl"
CRICTL = CACHE / "bin" / "crictl"
HELM = ROOT / ".cache" / "bin" / "helm"
INVENTORY = "inventories/local-k8s"
NAMESPACE = "webdemo"
RELEASE = "webdemo"
SELECTOR = "app.kubernetes.io/name=webdemo,app.kubernetes.io/instance=webdemo"
CONTAINERD_SOCKET = "/run/webdemo-k8s/containerd/containerd.sock"
# How a request fails when the connection it travels on dies with the pod (not refused, not an error answer).
REPORT: list[dict] = []


def run(*argv, timeout=300, check=True, stdin=None) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 (the project's own tools)
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False, input=stdin
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, argv))} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


def kubectl(*args, check=True, timeout=300) -> subprocess.CompletedProcess:
    return run(KUBECTL, "--kubeconfig", KUBECONFIG, *args, check=check, timeout=timeout)


def kubectl_json(*args):
    return json.loads(kubectl(*args, "-o", "json").stdout)


def helm(*args, check=True, timeout=300) -> subprocess.CompletedProcess:
    return run(HELM, "--kubeconfig", KUBECONFIG, "--namespace", NAMESPACE, *args, check=check, timeout=timeout)


def release_playbook(extra: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """`ansible-playbook playbooks/k8s.yml -i inventories/local-k8s`: the production path, unchanged."""
    args = ["playbooks/k8s.yml", "-i", INVENTORY]
    if extra:
        args += ["-e", json.dumps(extra)]
    return ansible("ansible-playbook", *args, local=True, timeout=timeout)


def import_image(source: str, *tags: str) -> None:
    """Tag a Docker image and import it into the cluster's containerd (docker save | ctr import)."""
    for tag in tags:
        run("docker", "tag", source, tag)
    saved = subprocess.run(["docker", "save", *tags], capture_output=True, check=True, timeout=300)  # noqa: S607
    subprocess.run(  # noqa: S603
        ["ctr", "--address", CONTAINERD_SOCKET, "--namespace", "k8s.io", "images", "import", "-"],  # noqa: S607
        input=saved.stdout,
        capture_output=True,
        check=True,
        timeout=300,
    )


def service_url() -> str:
    service = kubectl_json("-n", NAMESPACE, "get", "service", RELEASE)
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}/api/v1/health"


def deployment() -> dict:
    return kubectl_json("-n", NAMESPACE, "get", "deployment", RELEASE)


def app_pods() -> list[dict]:
    pods = kubectl_json("-n", NAMESPACE, "get", "pods", "-l", SELECTOR)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def wait_until(predicate, timeout, interval=1.0, what="condition"):
    """Seconds until predicate() is true; fails after timeout."""
    start = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except (AssertionError, OSError, ValueError, KeyError, subprocess.SubprocessError):
            pass
        assert time.monotonic() - start < timeout, f"{what} not reached within {timeout} s"
        time.sleep(interval)


def rolled_out(replicas: int | None = None) -> bool:
    d = deployment()
    spec, status = d["spec"], d.get("status", {})
    want = replicas if replicas is not None else spec["replicas"]
    return (
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas") == want
        and status.get("availableReplicas") == want
        and status.get("replicas") == want
    )


class Traffic:
    """`with Traffic(name) as load:` keeps requests flowing to the Service until the block ends, then `load.samples`.

    A new connection per request (`Connection: close`): kube-proxy balances connections, not requests, so each request
    is routed by the Service's endpoints as they are at that moment, the way independent clients are. Bounded: stops
    after max_seconds or max_requests, whichever comes first, or when the block ends.
    """

    def __init__(self, name, url, *, concurrency=4, pause_ms=20, max_seconds=600, max_requests=200_000, timeout=10):
        self.name, self.url = name, url
        self.concurrency, self.pause_ms, self.timeout = concurrency, pause_ms, timeout
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self.samples: list[traffic.Sample] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _worker(self, deadline):
        parts = urllib.parse.urlsplit(self.url)
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                if len(self.samples) >= self.max_requests:
                    return
            start, begun = time.time(), time.monotonic()
            connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=self.timeout)
            try:
                connection.request("GET", parts.path, headers={"Connection": "close", "User-Agent": "webdemo-k8s"})
                response = connection.getresponse()
                body = response.read()
                outcome = str(response.status) if body.startswith(b'{"success": true') else f"body:{response.status}"
            except (OSError, http.client.HTTPException) as error:
                outcome = type(error).__name__
            finally:
                connection.close()
            with self._lock:
                self.samples.append(traffic.Sample(start, (time.monotonic() - begun) * 1000, outcome))
            if self.pause_ms:
                time.sleep(self.pause_ms / 1000)

    def __enter__(self):
        deadline = time.monotonic() + self.max_seconds
        self._threads = [
            threading.Thread(target=self._worker, args=(deadline,), daemon=True) for _ in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()
        time.sleep(2)  # steady traffic before the change
        return self

    def __exit__(self, *exc):
        time.sleep(2)  # steady traffic after it
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        self.samples.sort(key=lambda s: s.start)
        assert self.samples, f"{self.name}: the client sent no request"
        return False

    def report(self, *, in_flight=None, **figures):
        """Print and record the figures: requests sent, failed, failed on a lost connection inside in_flight=(t0, t1)
        (the requests the killed process held), their outcomes, plus the scenario's own figures."""
        total = traffic.summary(self.samples)
        lost = 0
        if in_flight is not None:
            t0, t1 = in_flight
            lost = traffic.lost_in_flight(self.samples, t0, t1)
        row = {
            "scenario": self.name,
            "sent": total["sent"],
            "failed": total["failed"],
            "in_flight_failed": lost,
            "failures": total["failures"],
            "p99_ms": total["p99_ms"],
            **figures,
        }
        REPORT.append(row)
        print(f"\n{self.name}: {json.dumps(row)}")
        return row


def record(name: str, **figures) -> dict:
    row = {"scenario": name, **figures}
    REPORT.append(row)
    print(f"\n{name}: {json.dumps(row)}")
    return row


@pytest.fixture(scope="session")
def cluster():
    """The running cluster (started by `scripts/test.sh k8s`, or by hand with playbooks/k8s-lab.yml)."""
    if not KUBECONFIG.is_file():
        pytest.fail(
            "no local cluster: ansible-playbook playbooks/k8s-lab.yml -i inventories/local-k8s "
            "(scripts/test.sh k8s does it)"
        )
    nodes = kubectl_json("get", "nodes")["items"]
    assert len(nodes) == 1
    return nodes[0]


def pytest_sessionfinish(session, exitstatus):
    if not REPORT:
        return
    print("\nlocal Kubernetes cluster (requests from this machine to the release's Service):")
    for row in REPORT:
        print(json.dumps(row))
    out = ROOT / ".cache" / "k8s-report.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(REPORT, indent=2))
