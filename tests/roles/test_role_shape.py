"""Every role has the shape the Ansible community expects, and its argument specs match its defaults."""

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "roles").iterdir() if p.is_dir())
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


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_tasks_start_with_a_preflight_and_main_only_imports_phases(role):
    """main.yml is a list of phases, the first the preflight (checks only); each phase is its own file."""
    main = yaml.safe_load((role / "tasks/main.yml").read_text())
    assert all(set(task) <= {"name", "ansible.builtin.import_tasks", "tags", "when"} for task in main), role.name
    phases = [task["ansible.builtin.import_tasks"] for task in main]
    assert phases[0] == "preflight.yml", f"{role.name}: the first phase is {phases[0]}, not preflight.yml"
    assert all((role / "tasks" / phase).is_file() for phase in phases), phases


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_stays_inside_its_own_folder(role):
    """Paths outside the role (the repository's app, chart, caches) are passed in by the playbooks."""
    for path in role.rglob("*"):
        if path.is_file() and path.suffix in {".yml", ".yaml", ".j2"}:
            text = path.read_text()
            assert "role_path }}/.." not in text, f"{path.relative_to(role)} reaches outside the role"


def test_molecule_hosts_get_the_lab_hosts_capabilities():
    """The molecule hosts and the lab hosts are the same kind of systemd container: one capability list."""
    root = ROLES[0].parent.parent
    lab = yaml.safe_load((root / "roles/lab/defaults/main.yml").read_text())["lab_capabilities"]
    platforms = yaml.safe_load((root / ".config/molecule/config.yml").read_text())["platforms"]
    assert all(platform["capabilities"] == lab for platform in platforms)
