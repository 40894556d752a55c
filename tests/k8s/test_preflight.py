"""Bad inputs of the lab cluster and of the release's swapped credential step fail before anything changes, named.

Each case runs the real playbook with the local-k8s inventory, limited to the preflight (the cluster, if one runs, is
not touched).
"""

from __future__ import annotations

import json

import pytest
from webdemo_tools.repo import ansible

from .conftest import INVENTORY


def preflight(playbook: str, tag: str, extra: dict):
    return ansible(
        "ansible-playbook", playbook, "-i", INVENTORY, "--tags", tag, "-e", json.dumps(extra), local=True, timeout=300
    )


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"k8s_lab_pod_cidr": "172.30.0.0/16"}, "172.30.0.0/24 (dev reserved)"),
        ({"k8s_lab_service_cidr": "172.17.0.0/20"}, "the Service network 172.17.0.0/20 overlaps 172.17.0.0/16"),
        ({"k8s_lab_cluster_dns": "10.97.0.10"}, "is not in the Service network"),
        ({"k8s_lab_pod_cidr": "10.96.0.0/24"}, "overlaps the Service network"),
        ({"k8s_lab_bridge": "a-bridge-name-far-too-long"}, "k8s_lab_bridge=a-bridge-name-far-too-long"),
        ({"k8s_lab_state_dir": "/var/lib"}, "k8s_lab_state_dir=/var/lib"),
        ({"k8s_lab_state": "stopped"}, "k8s_lab_state"),
    ],
)
def test_bad_cluster_settings_fail_the_preflight(extra, named):
    result = preflight("playbooks/k8s-lab.yml", "k8s_lab_preflight", extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert named in output, output[-3000:]


def test_the_swapped_credential_step_needs_its_kubeconfig(tmp_path):
    missing = tmp_path / "no-kubeconfig"
    result = preflight("playbooks/k8s.yml", "k8s_preflight", {"k8s_kubeconfig": str(missing)})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert f"k8s_update_kubeconfig=false uses k8s_kubeconfig={missing} as it is, and it does not exist" in output


def test_eks_credentials_still_need_a_region():
    result = preflight("playbooks/k8s.yml", "k8s_preflight", {"k8s_update_kubeconfig": True, "k8s_aws_region": ""})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "k8s_aws_region= must be an AWS region such as eu-west-1 (with k8s_update_kubeconfig)" in output
