"""The k8s role up to the boundary this machine has: no EKS cluster and no AWS account are reachable.

Each case runs the real `ansible-playbook playbooks/k8s.yml -i inventories/production` (the inventory's example
values, overridden with -e). Nothing is mocked: the AWS CLI is isolated from any credentials on this machine
(empty config/credential files, no profile, no instance metadata), so the valid case fails for real at
`aws eks update-kubeconfig`. The objects the lint step renders for the production inventory (the role's security
baseline under the inventory's values) are checked too. What lies beyond (helm upgrade --install against a cluster,
helm test) is not exercised here; roles/k8s/README.md says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, tool

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

pytestmark = pytest.mark.skipif(tool("helm") is None, reason="helm is not installed: run scripts/install-helm.sh")


def playbook(
    tmp_path, extra: dict, inventory: str = "inventories/production", args: tuple = (), env: dict | None = None
) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        ANSIBLE_NOCOLOR="1",
        HOME=str(tmp_path),  # the default kubeconfig path lands in the test's own directory
        **(env or {}),
    )
    return subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "playbooks/k8s.yml",
            "-i",
            inventory,
            "-e",
            json.dumps(extra),
            "-e",
            "ansible_python_interpreter=" + sys.executable,
            *args,
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_playbook(tmp_path, extra: dict, inventory: str = "inventories/production") -> tuple[int, str]:
    result = playbook(tmp_path, extra, inventory)
    return result.returncode, result.stdout + result.stderr


def reached(output: str, task: str) -> bool:
    return f"TASK [k8s : {task}]" in output


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param({"k8s_cluster_name": ""}, "k8s_cluster_name=", id="empty-cluster-name"),
        pytest.param({"k8s_cluster_name": "prod cluster!"}, "k8s_cluster_name=prod cluster!", id="bad-cluster-name"),
        pytest.param({"k8s_aws_region": "europe"}, "k8s_aws_region=europe", id="bad-region"),
        pytest.param({"k8s_image_tag": "no tags:here"}, "k8s_image_tag=no tags:here", id="bad-image-tag"),
        pytest.param(
            {"k8s_kubeconfig": "relative/kubeconfig"}, "k8s_kubeconfig=relative/kubeconfig", id="bad-kubeconfig"
        ),
        pytest.param(
            {"k8s_chart_path": "/nonexistent/chart"},
            "k8s_chart_path=/nonexistent/chart has no Chart.yaml",
            id="no-chart",
        ),
        pytest.param({"k8s_values": "replicas"}, "k8s_values", id="values-not-a-mapping"),
    ],
)
def test_bad_inputs_fail_in_the_preflight(tmp_path, extra, expected):
    rc, output = run_playbook(tmp_path, extra)
    assert rc != 0, output
    assert expected in output, output
    assert not reached(output, "Run aws eks update-kubeconfig"), output


def test_missing_cluster_name_is_named_by_the_argument_spec(tmp_path):
    # The production inventory's example values without k8s_cluster_name, as an inventory of their own.
    host_vars = yaml.safe_load((ROOT / "inventories/production/host_vars/localhost.yml").read_text())
    del host_vars["k8s_cluster_name"]
    inventory = tmp_path / "hosts.yml"
    localhost = {"ansible_connection": "local", **host_vars}
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": localhost}}}))
    rc, output = run_playbook(tmp_path, {}, inventory=str(inventory))
    assert rc != 0, output
    assert "k8s_cluster_name" in output, output
    assert not reached(output, "Run aws eks update-kubeconfig"), output


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param({"replicaCount": -1}, "at '/replicaCount': minimum: got -1, want 0", id="negative-replicas"),
        pytest.param(
            {"autoscaling": {"minReplicas": 6, "maxReplicas": 2}},
            "autoscaling.minReplicas (6) must not exceed autoscaling.maxReplicas (2)",
            id="hpa-min-above-max",
        ),
        pytest.param({"ingress": {"className": "istio-ish"}}, "at '/ingress/className'", id="unknown-ingress-class"),
        pytest.param(
            {"ingress": {"enabled": True, "paths": [{"path": "/", "pathType": "Prefix"}]}},
            "ingress.paths: Prefix / would route /api/v1/info outside the cluster",
            id="ingress-routes-internal-paths",
        ),
        pytest.param(
            # -e replaces the inventory's k8s_values as a whole.
            {"externalSecret": {"enabled": True, "dataFrom": [{"extract": {"key": "prod/webdemo"}}]}},
            "at '/externalSecret/secretStoreRef/name'",
            id="external-secret-without-store",
        ),
    ],
)
def test_bad_chart_values_fail_before_aws_is_called(tmp_path, values, expected):
    rc, output = run_playbook(tmp_path, {"k8s_values": values})
    assert rc != 0, output
    assert "rejected the chart with k8s_values (nothing was deployed)" in output, output
    assert expected in output, output
    assert not reached(output, "Run aws eks update-kubeconfig"), output


def test_valid_inputs_stop_at_the_credentials_step(tmp_path):
    """The real boundary: without AWS credentials (or without the AWS CLI) the role stops before helm runs."""
    rc, output = run_playbook(tmp_path, {})
    assert rc != 0, output
    assert reached(output, "Lint and render the chart with the release's values"), output
    assert not reached(output, "Upgrade or install the release"), output
    if shutil.which("aws") is None:
        assert "needs the AWS CLI" in output, output
    else:
        assert 'Could not obtain credentials for EKS cluster "webdemo-prod" in eu-west-1' in output, output
        # The CLI's own reason is passed on (no credentials here; an unreachable endpoint elsewhere).
        assert "Unable to locate credentials" in output or "Could not connect" in output, output
    assert not (tmp_path / ".kube" / "webdemo-webdemo-prod.yaml").exists()


@pytest.fixture(scope="module")
def production_release(tmp_path_factory) -> list[dict]:
    """The objects the role's lint step renders (`helm template` with the release's values) for the production
    inventory: k8s_base_values, the inventory's k8s_values over it, the image over both. The play stops after the
    lint step (no AWS, no cluster); the JSON callback hands back helm's output."""
    tmp_path = tmp_path_factory.mktemp("k8s-production")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.touch()
    result = playbook(
        tmp_path,
        {"k8s_update_kubeconfig": False, "k8s_kubeconfig": str(kubeconfig)},
        args=("--tags", "k8s_preflight,k8s_lint"),
        # The JSON callback alone on stdout (the configured profile_tasks would print between its lines).
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    (task,) = [
        task
        for play in report["plays"]
        for task in play["tasks"]
        if task["task"]["name"].endswith("Lint and render the chart with the release's values")
    ]
    (template,) = [item for item in task["hosts"]["localhost"]["results"] if item["item"][0] == "template"]
    assert template["rc"] == 0, template["stderr"]
    return [doc for doc in yaml.safe_load_all(template["stdout"]) if doc]


def only(docs: list[dict], kind: str) -> dict:
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


def test_the_production_release_routes_only_the_health_check(production_release):
    ingress = only(production_release, "Ingress")
    paths = [(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == [("/api/v1/health", "Exact")]


def test_the_production_release_is_https_only(production_release):
    ingress = only(production_release, "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["backend.demo.com"], "secretName": "backend-demo-com-tls"}]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["konghq.com/protocols"] == "https"
    assert annotations["konghq.com/https-redirect-status-code"] == "308"
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt"  # the inventory's, merged with the baseline
    plugin = only(production_release, "KongPlugin")
    assert annotations["konghq.com/plugins"] == plugin["metadata"]["name"]
    assert plugin["config"]["add"]["headers"] == ["Strict-Transport-Security:max-age=31536000; includeSubDomains"]


def test_the_production_release_admits_the_controller_and_prometheus_only(production_release):
    policy = only(production_release, "NetworkPolicy")["spec"]
    assert policy["egress"] == []
    assert [rule["from"] for rule in policy["ingress"]] == [
        [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kong"}}},
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            },
        ],
        [
            {
                "podSelector": {
                    "matchLabels": {"app.kubernetes.io/instance": "webdemo", "app.kubernetes.io/component": "helm-test"}
                }
            }
        ],
    ]
    assert all(rule["ports"] == [{"port": "http", "protocol": "TCP"}] for rule in policy["ingress"])
