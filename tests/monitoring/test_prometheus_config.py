"""The prometheus role's configuration as it renders for each inventory, checked offline: promtool accepts
prometheus.yml, every inventory target carries the `role` label the rules tell load balancers apart by, and the
unit's flags (size retention, alert resend delay) are flags this Prometheus knows, with each environment's values;
the preflight rejects values Prometheus would refuse at start.

Rendered by Ansible on the controller with the role's own defaults and templates (a throw-away role pointing at
them, so an inventory's group_vars win over the defaults exactly as in a real run); no host is touched."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "prometheus"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
needs_prometheus = pytest.mark.skipif(
    not (Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()), reason="prometheus missing: run scripts/setup.sh"
)
# The load balancer matcher of LoadBalancerDown (files/prometheus/webdemo.yml); Prometheus anchors it.
LB_ROLE = re.compile(r"(.+,)?lb(,.+)?")


def run_playbook(tmp_path, plays, *args):
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(path), *args, "-e", "ansible_python_interpreter=" + sys.executable],
        cwd=ROOT,
        # No cached facts of the lab (ansible.cfg's fact cache) in the renders.
        env={
            **os.environ,
            "ANSIBLE_ROLES_PATH": f"{tmp_path / 'roles'}:{ROOT / 'roles'}",
            "ANSIBLE_CACHE_PLUGIN": "memory",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def render(tmp_path, inventory, host, names=("prometheus.yml", "prometheus.service")):
    """The role's templates as it renders them on that host of the inventory: {name: path}."""
    role, out = tmp_path / "roles" / "prometheus_render", tmp_path / "out"
    for directory in (role / "defaults", role / "tasks", out):
        directory.mkdir(parents=True)
    shutil.copy(ROLE / "defaults" / "main.yml", role / "defaults" / "main.yml")
    (role / "templates").symlink_to(ROLE / "templates")
    tasks = [
        {"name": f"Render {name}", "ansible.builtin.template": {"src": f"{name}.j2", "dest": str(out / name)}}
        for name in names
    ]
    (role / "tasks" / "main.yml").write_text(yaml.safe_dump(tasks))
    plays = [{"name": "Render", "hosts": host, "gather_facts": False, "roles": ["prometheus_render"]}]
    # Rendered here as the user running the tests: the production inventory's become is for its SSH hosts.
    result = run_playbook(
        tmp_path, plays, "-i", str(inventory), "-e", "ansible_connection=local", "-e", "ansible_become=false"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {name: out / name for name in names}


@pytest.fixture(scope="module", params=["local", "production"])
def rendered(request, tmp_path_factory):
    """(inventory, prometheus.yml path, prometheus.service text) on the inventory's first monitor host."""
    files = render(tmp_path_factory.mktemp(request.param), ROOT / "inventories" / request.param, "monitor[0]")
    return request.param, files["prometheus.yml"], files["prometheus.service"].read_text()


def targets(config_path):
    """{(job, instance): labels} of the rendered static targets."""
    config = yaml.safe_load(config_path.read_text())
    return {
        (job["job_name"], static["labels"]["instance"]): static["labels"]
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
    }


@needs_prometheus
def test_promtool_accepts_the_rendered_configuration(rendered):
    _, config, _ = rendered
    result = subprocess.run([PROMTOOL, "check", "config", str(config)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def group_hosts(inventory, group):
    """The hosts of an inventory group, from the inventory file (children anywhere in the tree)."""

    def walk(node):
        for name, child in ((node or {}).get("children") or {}).items():
            if name == group:
                yield from (child or {}).get("hosts") or {}
            yield from walk(child)

    return set(walk(yaml.safe_load((ROOT / "inventories" / inventory / "hosts.yml").read_text())["all"]))


def test_inventory_targets_carry_the_role_label_that_tells_load_balancers_apart(rendered):
    inventory, config, _ = rendered
    labels = targets(config)
    lbs, backends, monitors = (group_hosts(inventory, group) for group in ("lb", "backend", "monitor"))
    assert lbs and backends and monitors
    assert all(labels[("nginx", host)]["role"] == "lb" for host in lbs)
    assert all(labels[("nginx", host)]["role"] == "backend" for host in backends)
    assert all(labels[("node", host)]["role"] == "monitor" for host in monitors)
    assert all(labels[("alertmanager", host)]["role"] == "monitor" for host in monitors)
    # LoadBalancerDown's matcher picks the load balancers' nginx exporters and nothing else of the nginx job.
    matched = {key for key, value in labels.items() if LB_ROLE.fullmatch(value.get("role", ""))}
    assert {instance for job, instance in matched if job == "nginx"} == lbs
    assert {job for job, _ in matched} == {"nginx", "node"}


def test_a_host_in_several_of_a_jobs_groups_gets_them_all_in_its_role(tmp_path):
    """One machine both backend and load balancer: role="backend,lb", still matched as a load balancer."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "backend": {"hosts": {"box1": None}},
                        "lb": {"hosts": {"box1": None}},
                        "monitor": {"hosts": {"mon1": None}},
                    }
                }
            }
        )
    )
    labels = targets(render(tmp_path, inventory, "mon1", ["prometheus.yml"])["prometheus.yml"])
    assert labels[("nginx", "box1")]["role"] == "backend,lb"
    assert LB_ROLE.fullmatch(labels[("nginx", "box1")]["role"])
    assert labels[("app", "box1")]["role"] == "backend"


@needs_prometheus
def test_unit_flags_are_prometheus_flags_with_each_environments_values(rendered):
    inventory, _, unit = rendered
    flags = dict(re.findall(r"--([a-z.-]+)=(\S+)", unit))
    known = subprocess.run([PROMETHEUS, "--help"], capture_output=True, text=True, check=False).stderr
    known += subprocess.run([PROMETHEUS, "--help"], capture_output=True, text=True, check=False).stdout
    for flag in flags:
        assert f"--{flag}=" in known, f"prometheus {PROMETHEUS} has no --{flag}"
    # A full disk must not stop ingestion silently: a size limit by default, the time limit kept.
    assert flags["storage.tsdb.retention.size"] == "10GB"
    assert flags["storage.tsdb.retention.time"] == "15d"
    # The lab resends to a returning Alertmanager within seconds; production keeps Prometheus's default.
    assert flags["rules.alert.resend-delay"] == {"local": "5s", "production": "1m"}[inventory]


# TLS and basic auth inputs the preflight accepts (it checks their shape; no host sees them).
PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CLOSED = {
    "prometheus_web_tls_certificate": PEM_CERTIFICATE,
    "prometheus_web_tls_private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    "prometheus_web_basic_auth_users": {"scraper": "test-only-password"},
    "prometheus_scrape_username": "scraper",
    "prometheus_scrape_password": "test-only-password",
    "prometheus_scrape_ca_certificate": PEM_CERTIFICATE,
}


def preflight(tmp_path, variables):
    role_vars = {"prometheus_rule_files": [str(ROOT / "files/prometheus/webdemo.yml")], **CLOSED, **variables}
    plays = [
        {
            "name": "Preflight",
            "hosts": "all",
            "gather_facts": False,
            "roles": [{"role": "prometheus", "vars": role_vars}],
        }
    ]
    return run_playbook(tmp_path, plays, "-i", "localhost,", "-c", "local", "--tags", "prometheus_preflight")


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"prometheus_retention_size": "10G"}, "prometheus_retention_size=10G"),
        ({"prometheus_rules_alert_resend_delay": "5 seconds"}, "prometheus_rules_alert_resend_delay=5 seconds"),
        ({"prometheus_rules_alert_resend_delay": ""}, "prometheus_rules_alert_resend_delay="),
        # The monitoring plane is closed: no plain-HTTP fallback, and Prometheus scrapes itself as one of its users.
        ({"prometheus_web_tls_certificate": ""}, "prometheus_web_tls_certificate must be a PEM certificate"),
        ({"prometheus_web_tls_private_key": "secret"}, "prometheus_web_tls_private_key must be a PEM private key"),
        ({"prometheus_web_basic_auth_users": {}}, "prometheus_web_basic_auth_users must map at least one user"),
        ({"prometheus_scrape_password": "another"}, "prometheus_scrape_username/prometheus_scrape_password"),
        ({"prometheus_scrape_ca_certificate": ""}, "prometheus_scrape_ca_certificate must be a PEM CA"),
        ({"prometheus_web_bcrypt_cost": 3}, "prometheus_web_bcrypt_cost=3"),
    ],
)
def test_preflight_rejects_values_prometheus_would_refuse_at_start(tmp_path, variables, named):
    result = preflight(tmp_path, variables)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert named in output, output
    assert "changed=0" in output, output


@pytest.mark.parametrize(
    "variables", [{}, {"prometheus_retention_size": "0", "prometheus_rules_alert_resend_delay": "5s"}]
)
def test_preflight_accepts_the_defaults_and_an_unlimited_size(tmp_path, variables):
    result = preflight(tmp_path, variables)
    assert result.returncode == 0, result.stdout + result.stderr
