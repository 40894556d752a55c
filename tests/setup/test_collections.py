"""requirements.yml lists every collection the project's Ansible content uses, and only those.

A collection that is used but not listed still works here (the pinned `ansible` package ships ~90 collections),
but not with `ansible-galaxy collection install -r requirements.yml` (ansible-core alone), and its version is then
checked by nothing. The scan reads the places Ansible loads plugins from: task keys (modules), lookup/query names,
filters and tests in Jinja, and the connection, callback, strategy and become settings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# Plays, roles and molecule scenarios: every kind of use. ansible.cfg and the inventories: plugin settings only (an
# inventory's host names, e.g. `web1.example.com:`, look like task keys).
CONTENT = ["roles", "playbooks", "molecule", "site.yml", "loadtest.yml"]
SETTINGS = ["ansible.cfg", "inventories"]
SUFFIXES = {".yml", ".yaml", ".j2", ".cfg", ".ini"}
# Part of ansible-core itself, never a collection to install.
BUILTIN = {"ansible.builtin", "ansible.legacy"}

NAME = r"[a-z_][a-z0-9_]*"
FQCN = rf"(?P<collection>{NAME}\.{NAME})\.{NAME}"
# Plugin settings in ansible.cfg, inventories, plays and molecule.yml (values may be comma-separated lists).
SETTING = re.compile(
    r"\b(?:ansible_connection|connection|strategy|stdout_callback|callbacks_enabled|callback_whitelist"
    r"|become_method|ansible_become_method|cache_plugin)\s*[:=]\s*(?P<value>[^\n#]+)"
)
CONTENT_PATTERNS = [
    SETTING,
    # A task's module: `- community.docker.docker_container:` or `  kubernetes.core.helm:`.
    re.compile(rf"^\s*(?:-\s+)?{FQCN}:(?:\s|$)", re.MULTILINE),
    # lookup('ns.coll.name', ...) / query(...) / q(...)
    re.compile(rf"\b(?:lookup|query|q)\(\s*['\"]{FQCN}['\"]"),
    # Jinja filters and tests: `| ns.coll.filter`, `is ns.coll.test`.
    re.compile(rf"\|\s*{FQCN}\b"),
    re.compile(rf"\bis\s+(?:not\s+)?{FQCN}\b"),
]
VALUE_FQCN = re.compile(rf"^{FQCN}$")


def files_of(entries: list[str]) -> list[Path]:
    files: list[Path] = []
    for entry in entries:
        path = ROOT / entry
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in SUFFIXES)
    return files


def collections_in(text: str, patterns: list[re.Pattern]) -> set[str]:
    found: set[str] = set()
    for pattern in patterns:
        for match in pattern.finditer(text):
            if "value" in pattern.groupindex:
                for item in re.split(r"[,\s]+", match.group("value").strip()):
                    if fqcn := VALUE_FQCN.match(item.strip("'\"")):
                        found.add(fqcn.group("collection"))
            else:
                found.add(match.group("collection"))
    return found - BUILTIN


def used_collections() -> dict[str, set[str]]:
    """namespace.collection -> the files that use it."""
    used: dict[str, set[str]] = {}
    scans = [(path, CONTENT_PATTERNS) for path in files_of(CONTENT)]
    scans += [(path, [SETTING]) for path in files_of(SETTINGS)]
    for path, patterns in scans:
        for name in collections_in(path.read_text(errors="replace"), patterns):
            used.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return used


def listed_collections() -> dict[str, str]:
    data = yaml.safe_load((ROOT / "requirements.yml").read_text())
    return {item["name"]: item["version"] for item in data["collections"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("- name: x\n  kubernetes.core.helm:\n    name: y\n", {"kubernetes.core"}, id="task-key"),
        pytest.param("- community.docker.docker_container:\n", {"community.docker"}, id="task-key-in-list"),
        pytest.param("x: \"{{ lookup('community.general.random_string') }}\"", {"community.general"}, id="lookup"),
        pytest.param("x: \"{{ query('amazon.aws.aws_ssm', 'k') }}\"", {"amazon.aws"}, id="query"),
        pytest.param("x: \"{{ y | community.general.json_query('a') }}\"", {"community.general"}, id="filter"),
        pytest.param("when: x is not ansible.utils.ipaddr\n", {"ansible.utils"}, id="test"),
        pytest.param("ansible_connection: community.docker.docker\n", {"community.docker"}, id="connection"),
        pytest.param(
            "callbacks_enabled = ansible.posix.profile_tasks, community.general.x\n",
            {"ansible.posix", "community.general"},
            id="callbacks",
        ),
        pytest.param('- ansible.builtin.copy:\n  x: "{{ y | ansible.builtin.to_json }}"\n', set(), id="builtin"),
        pytest.param("- name: Copy web1.example.com\n  src: a.b.c\n", set(), id="not-plugins"),
    ],
)
def test_the_scan_recognises_each_kind_of_use(text, expected):
    assert collections_in(text, CONTENT_PATTERNS) == expected


def test_the_scan_reads_the_project():
    used = used_collections()
    assert "roles/k8s/tasks/release.yml" in used["kubernetes.core"]
    assert "ansible.cfg" in used["ansible.posix"]


def test_every_used_collection_is_in_requirements_yml():
    listed = listed_collections()
    missing = {name: sorted(files) for name, files in used_collections().items() if name not in listed}
    assert not missing, f"collections used but not listed in requirements.yml: {missing}"


def test_every_listed_collection_is_used():
    unused = sorted(listed_collections().keys() - used_collections().keys())
    assert not unused, f"requirements.yml lists collections nothing uses: {unused}"


@pytest.mark.parametrize("name", sorted(listed_collections()))
def test_every_entry_is_pinned_exactly(name):
    assert re.fullmatch(r"\d+\.\d+\.\d+", listed_collections()[name]), name
