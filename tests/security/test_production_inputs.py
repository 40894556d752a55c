"""The production example lists what an operator must provide, and the preflight finds all of it in one run."""

import re
from pathlib import Path

import yaml
from webdemo_tools.repo import ansible, root

PRODUCTION = root() / "inventories" / "production"


def vault_references(text: str) -> set[str]:
    return set(re.findall(r"\bvault_\w+", text))


def test_every_vault_variable_the_inventory_uses_has_an_example():
    used, shown = set(), set()
    for main in PRODUCTION.glob("group_vars/*/main.yml"):
        # Only live lines: a commented-out example needs no vault entry.
        used |= vault_references("\n".join(line.split("#")[0] for line in main.read_text().splitlines()))
    for example in PRODUCTION.glob("group_vars/*/vault.yml.example"):
        shown |= set(yaml.safe_load(example.read_text()) or {})
    assert used, "the production inventory references no vault variable"
    assert used - shown == set(), f"vault variables without an example: {sorted(used - shown)}"


def test_the_examples_are_never_loaded_and_real_vault_files_are_not_ignored():
    # Ansible loads *.yml, *.yaml, *.json and extensionless files from group_vars/<group>/: not *.example.
    assert all(Path(p).suffix == ".example" for p in PRODUCTION.glob("group_vars/*/vault*"))


def test_preflight_lists_every_missing_input_of_every_host_at_once_and_changes_nothing():
    result = ansible("ansible-playbook", "-i", "inventories/production", "playbooks/preflight.yml", timeout=120)
    assert result.returncode != 0
    out = result.stdout
    problems = re.findall(r"'(\S+\.example\.internal): (\w+): ([^']+)'", out.replace("\n        ", " "))
    found = {(host, name) for host, name, _ in problems}
    hosts = {"web1", "web2", "lb1", "lb2", "mon1", "gen1", "gen2"}
    for host in hosts:
        for name in ("webdemo_tls_certificate", "webdemo_tls_private_key", "webdemo_monitoring_password"):
            assert (f"{host}.example.internal", name) in found, (host, name)
    for host in ("lb1", "lb2"):
        assert (f"{host}.example.internal", "webdemo_edge_tls_private_key") in found
    for name in ("grafana_admin_password", "alertmanager_smtp_auth_password", "alertmanager_receivers"):
        assert ("mon1.example.internal", name) in found, name
    for name in ("jmeter_archive_sha512", "jmeter_rmi_keystore_src", "jmeter_rmi_keystore_password"):
        assert ("gen1.example.internal", name) in found, name
    assert ("web1.example.internal", "webdemo_public_url") in found  # the example's placeholder name
    # One run, nothing changed, and no failure before the summary.
    assert re.search(r"changed=[1-9]", out) is None
    assert out.count("fatal:") == 0 or "Fail with every problem" in out
