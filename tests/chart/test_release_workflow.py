"""The release workflow (.github/workflows/release.yaml), read as GitHub reads it: pinned actions, OIDC instead of a
stored registry password, the image tagged with the chart's appVersion and the commit, the chart pushed as an OCI
artifact. The step that computes the tags runs here for real; the rest needs GitHub and AWS and is not run.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import CHART, ROOT, run, tool

WORKFLOW = ROOT / ".github" / "workflows" / "release.yaml"
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
# The line as written: `uses: owner/repo@<40 hex> # vX.Y.Z`.
PINNED_LINE = re.compile(r"^\s*(-\s+)?uses:\s+\S+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow: dict, job: str | None = None) -> list[dict]:
    jobs = [workflow["jobs"][job]] if job else workflow["jobs"].values()
    return [step for item in jobs for step in item.get("steps", [])]


def step_using(workflow: dict, job: str, action: str) -> dict:
    found = [step for step in steps(workflow, job) if step.get("uses", "").startswith(action + "@")]
    assert len(found) == 1, f"{job}: expected one step using {action}, got {len(found)}"
    return found[0]


def run_scripts(workflow: dict, job: str) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow, job))


def test_every_action_is_pinned_to_a_commit_sha(workflow):
    uses = [step["uses"] for step in steps(workflow) if "uses" in step]
    assert uses, "the workflow uses no action at all?"
    unpinned = [ref for ref in uses if not PINNED.match(ref)]
    assert unpinned == [], f"actions not pinned to a full commit SHA: {unpinned}"
    # Reusable workflows (jobs.<id>.uses) are pinned the same way.
    for name, job in workflow["jobs"].items():
        if "uses" in job:
            assert PINNED.match(job["uses"]), f"job {name}: {job['uses']}"


def test_every_pin_names_its_release(workflow):
    lines = [line for line in WORKFLOW.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert len(lines) == len([step for step in steps(workflow) if "uses" in step])
    assert [line for line in lines if not PINNED_LINE.match(line)] == []


def test_the_pin_check_catches_a_tag():
    assert not PINNED.match("actions/checkout@v4")
    assert not PINNED.match("actions/checkout@11bd719")  # a short SHA is a prefix anyone can collide with
    assert not PINNED.match("actions/checkout@main")
    assert PINNED.match("actions/checkout@" + "a" * 40)


def test_only_the_publishing_job_gets_an_oidc_token(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["publish"]["permissions"] == {"contents": "read", "id-token": "write"}
    for name, job in workflow["jobs"].items():
        if name != "publish":
            assert "id-token" not in job.get("permissions", {}), name


def test_aws_credentials_come_from_oidc_and_a_role(workflow):
    step = step_using(workflow, "publish", "aws-actions/configure-aws-credentials")
    inputs = step["with"]
    assert re.fullmatch(r"\$\{\{ vars\.[A-Z_]+ \}\}", inputs["role-to-assume"]), inputs["role-to-assume"]
    assert re.fullmatch(r"\$\{\{ vars\.[A-Z_]+ \}\}", inputs["aws-region"]), inputs["aws-region"]
    assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(inputs)
    login = step_using(workflow, "publish", "aws-actions/amazon-ecr-login")
    publish = steps(workflow, "publish")
    assert publish.index(step) < publish.index(login)


def test_no_stored_credential_is_used():
    text = WORKFLOW.read_text()
    assert "secrets." not in text, "the workflow needs no stored secret: OIDC and repository variables only"
    assert "DOCKER_PASSWORD" not in text and "DOCKER_USER" not in text
    assert "docker/login-action" not in text
    assert not re.search(r"^\s*password\s*:", text, re.MULTILINE), "a password input"


@pytest.fixture(scope="module")
def versions_outputs(workflow, tmp_path_factory) -> dict[str, str]:
    """Runs the `versions` step's script in the repository, as the runner would, and returns its outputs."""
    (step,) = [step for step in steps(workflow, "publish") if step.get("id") == "versions"]
    output = tmp_path_factory.mktemp("versions") / "github_output"
    output.touch()
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        cwd=ROOT,
        env={**os.environ, "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_the_versions_step_reads_the_chart_and_the_commit(versions_outputs):
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    head = run(["git", "rev-parse", "--short", "HEAD"])
    assert head.returncode == 0, head.stderr
    assert versions_outputs == {
        "app_version": str(chart["appVersion"]),
        "chart_version": str(chart["version"]),
        "short_sha": head.stdout.strip(),
    }


def test_the_charts_app_version_is_the_apps_version():
    """The image tagged <appVersion> must contain that version of the app (webdemo.__version__, its one home)."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    init = (ROOT / "app" / "src" / "webdemo" / "__init__.py").read_text()
    (version,) = re.findall(r'^__version__ = "([^"]+)"$', init, re.MULTILINE)
    assert str(chart["appVersion"]) == version


def test_the_image_is_tagged_with_the_app_version_and_the_commit(workflow):
    build = step_using(workflow, "publish", "docker/build-push-action")
    assert build["with"]["push"] is True
    tags = build["with"]["tags"].splitlines()
    assert tags == [
        "${{ steps.ecr.outputs.registry }}/webdemo:${{ steps.versions.outputs.short_sha }}",
        "${{ steps.ecr.outputs.registry }}/webdemo:${{ steps.versions.outputs.app_version }}",
    ]
    ecr = step_using(workflow, "publish", "aws-actions/amazon-ecr-login")
    assert ecr["id"] == "ecr"


def test_the_chart_is_packaged_and_pushed_as_an_oci_artifact(workflow):
    script = run_scripts(workflow, "publish")
    assert re.search(r"^\s*helm package charts/webdemo --destination dist$", script, re.MULTILINE)
    push = re.search(r'^\s*helm push "dist/webdemo-\$CHART_VERSION\.tgz" "oci://\$REGISTRY/charts"$', script, re.M)
    assert push, script
    # helm authenticates with a token made from the role's credentials, piped (never on the command line or stored).
    assert "aws ecr get-login-password | helm registry login --username AWS --password-stdin" in script
    (step,) = [step for step in steps(workflow, "publish") if "helm push" in step.get("run", "")]
    assert step["env"] == {
        "REGISTRY": "${{ steps.ecr.outputs.registry }}",
        "CHART_VERSION": "${{ steps.versions.outputs.chart_version }}",
    }
    publish = steps(workflow, "publish")
    ecr = step_using(workflow, "publish", "aws-actions/amazon-ecr-login")
    assert publish.index(ecr) < publish.index(step)


def test_helm_package_writes_the_file_the_push_step_names(tmp_path, versions_outputs):
    helm = tool("helm")
    if helm is None:
        pytest.skip("helm is not installed: run scripts/install-helm.sh")
    result = run([helm, "package", str(CHART), "--destination", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    assert [path.name for path in Path(tmp_path).iterdir()] == [f"webdemo-{versions_outputs['chart_version']}.tgz"]


def test_publishing_waits_for_the_chart_tests(workflow):
    assert workflow["jobs"]["publish"]["needs"] == "chart"
    assert "tests/chart/run.sh" in run_scripts(workflow, "chart")
