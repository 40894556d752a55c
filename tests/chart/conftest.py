"""Shared fixtures of the chart, image and k8s-role tests: the pinned helm/kubeconform and a renderer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "webdemo"
VALUE_SETS = sorted((CHART / "ci").glob("*-values.yaml"))
SCHEMA_DIR = ROOT / ".cache" / "k8s-schemas"
NAMESPACE = "prod"
RELEASE = "webdemo"


def tool(name: str) -> str | None:
    pinned = ROOT / ".cache" / "bin" / name
    return str(pinned) if pinned.is_file() else shutil.which(name)


@pytest.fixture(scope="session")
def helm() -> str:
    path = tool("helm")
    if path is None:
        pytest.skip("helm is not installed: run scripts/install-helm.sh (builds the pinned helm into .cache/bin)")
    return path


@pytest.fixture(scope="session")
def kubeconform() -> str:
    path = tool("kubeconform")
    if path is None:
        pytest.skip("kubeconform is not installed: run scripts/install-helm.sh")
    return path


def run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


class Renderer:
    def __init__(self, helm: str):
        self.helm = helm

    def template(self, *args: str, values: dict | None = None, namespace: str = NAMESPACE):
        argv = [self.helm, "template", RELEASE, str(CHART), "--namespace", namespace, *args]
        if values is not None:
            argv += ["--values", "-"]
        return run(argv, yaml.safe_dump(values) if values is not None else None)

    def render(self, *args: str, values: dict | None = None, namespace: str = NAMESPACE) -> list[dict]:
        result = self.template(*args, values=values, namespace=namespace)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def lint(self, *args: str, values: dict | None = None):
        argv = [self.helm, "lint", "--strict", str(CHART), "--namespace", NAMESPACE, *args]
        if values is not None:
            argv += ["--values", "-"]
        return run(argv, yaml.safe_dump(values) if values is not None else None)


@pytest.fixture(scope="session")
def chart(helm) -> Renderer:
    return Renderer(helm)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict], kind: str) -> dict:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]
