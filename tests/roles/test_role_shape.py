"""Every role has the shape the Ansible community expects, and its argument specs match its defaults."""

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parent.parent / "roles").iterdir() if p.is_dir())
# Inputs that must come from the inventory (no default on purpose).
REQUIRED_WITHOUT_DEFAULT = {
    "grafana_admin_password",
    "grafana_deb_sha256",
    "k8s_cluster_name",
    "k8s_aws_region",
    "k8s_image_repository",
    "k8s_image_tag",
}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_the_standard_files(role):
    for name in ("defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml", "tasks/main.yml", "README.md"):
        assert (role / name).is_file(), f"{role.name} lacks {name}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_argument_specs_and_defaults_name_the_same_variables(role):
    defaults = set(yaml.safe_load((role / "defaults/main.yml").read_text()) or {})
    specs = set(yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"])
    assert defaults - specs == set(), f"{role.name}: defaults without an argument spec"
    assert specs - defaults - REQUIRED_WITHOUT_DEFAULT == set(), f"{role.name}: argument specs without a default"
    assert all(name.startswith(role.name + "_") for name in defaults | specs), f"{role.name}: unprefixed variable"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_commented(role):
    """Each variable sits under a comment: its own, or that of the block of variables it belongs to."""
    lines = (role / "defaults/main.yml").read_text().splitlines()
    for number, line in enumerate(lines):
        if not line or line.startswith((" ", "#", "-")) or ":" not in line:
            continue
        above = number - 1
        while above >= 0 and lines[above] and not lines[above].startswith("#") and lines[above] != "---":
            above -= 1  # another variable of the same block, or a continuation line
        assert above >= 0 and lines[above].startswith("#"), f"{role.name}: {line.split(':')[0]} has no comment"
