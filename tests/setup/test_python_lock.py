"""requirements-dev.lock is in step with its inputs and installable with `pip install --require-hashes`.

The lock is generated from requirements-dev.txt (which includes app/requirements.txt and app/requirements-test.txt;
the command is at the top of requirements-dev.txt). No network: these tests read files only.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
INPUT = ROOT / "requirements-dev.txt"
LOCK = ROOT / "requirements-dev.lock"
# The files the lock must cover (through -r from requirements-dev.txt).
INCLUDED = {ROOT / "app" / "requirements.txt", ROOT / "app" / "requirements-test.txt"}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def input_pins(path: Path = INPUT, seen: set[Path] | None = None) -> dict[str, tuple[str, Path]]:
    """Every `name==version` of the input and the files it includes: canonical name -> (version, file)."""
    seen = set() if seen is None else seen
    seen.add(path)
    pins: dict[str, tuple[str, Path]] = {}
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            pins.update(input_pins((path.parent / line.split(None, 1)[1]).resolve(), seen))
            continue
        match = PIN.match(line)
        assert match, f"{path.relative_to(ROOT)}: not an exact pin: {raw!r}"
        pins[canonicalize_name(match["name"])] = (match["version"], path)
    return pins


def included_files() -> set[Path]:
    seen: set[Path] = set()
    input_pins(INPUT, seen)
    return seen


def lock_entries() -> dict[str, tuple[str, list[str]]]:
    """canonical name -> (version, hashes) of requirements-dev.lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            match = PIN.match(line)
            assert match, f"requirements-dev.lock: not an exact pin: {line!r}"
            current = canonicalize_name(match["name"])
            assert current not in entries, f"requirements-dev.lock: {current} twice"
            entries[current] = (match["version"], [])
        else:
            assert current, f"requirements-dev.lock: continuation before any entry: {line!r}"
            entries[current][1].extend(HASH.findall(line))
    return entries


def test_the_input_includes_the_apps_pins():
    assert INCLUDED <= included_files()


@pytest.mark.parametrize("name", sorted(input_pins()))
def test_every_top_level_pin_is_locked_at_its_version(name):
    version, source = input_pins()[name]
    locked = lock_entries()
    assert name in locked, f"{name}=={version} ({source.relative_to(ROOT)}) is not in requirements-dev.lock"
    assert locked[name][0] == version, (
        f"{name}: {source.relative_to(ROOT)} pins {version}, requirements-dev.lock has {locked[name][0]}: "
        "regenerate the lock (command at the top of requirements-dev.txt)"
    )


def test_every_lock_entry_has_a_hash():
    entries = lock_entries()
    assert len(entries) >= len(input_pins())
    unhashed = sorted(name for name, (_, hashes) in entries.items() if not hashes)
    assert unhashed == [], f"entries of requirements-dev.lock without --hash: {unhashed}"


def test_the_lock_has_no_editable_or_unpinned_entry():
    # pip --require-hashes refuses both; the editable app/ and tools/ are installed apart, with --no-deps.
    for line in LOCK.read_text().splitlines():
        assert not line.startswith(("-e", "--editable", "file:", "./", "/")), line


@pytest.mark.parametrize("project", ["app", "tools"])
def test_the_editable_packages_dependencies_are_satisfied_by_the_lock(project):
    # They are installed with --no-deps: whatever their pyproject.toml needs (extras included) must be in the lock.
    meta = tomllib.loads((ROOT / project / "pyproject.toml").read_text())["project"]
    wanted = list(meta.get("dependencies", []))
    for extra in meta.get("optional-dependencies", {}).values():
        wanted += extra
    locked = lock_entries()
    problems = []
    for spec in wanted:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{spec}: not in the lock")
        elif not requirement.specifier.contains(locked[name][0], prereleases=True):
            problems.append(f"{spec}: the lock has {locked[name][0]}")
    assert problems == [], f"{project}/pyproject.toml: {problems}"
