"""The k8s role up to the boundary this machine has: no EKS cluster and no AWS account are reachable.

Each case runs the real `ansible-playbook playbooks/k8s.yml -i inventories/production` (the inventory's example
values, overridden with -e). Nothing is mocked: the AWS CLI is isolated from any credentials on this machine
(empty config/credential files, no profile, no instance metadata), so the valid case fails for real at
`aws eks update-kubeconfig`. What lies beyond (helm upgrade --install against a cluster, helm test) is not exercised
here; roles/k8s/README.md says so.
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


def run_playbook(tmp_path, extra: dict, inventory: str = "inventories/production") -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        ANSIBLE_NOCOLOR="1",
        HOME=str(tmp_path),  # the default kubeconfig path lands in the test's own directory
    )
    result = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "playbooks/k8s.yml",
            "-i",
            inventory,
            "-e",
            json.dumps(extra),
            "-e",
            "ansible_python_interpreter=" + sys.executable,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
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
