"""Bad inventory variables fail the play before it touches a host, with the variable named.

Each case runs a real `ansible-playbook` on the controller, limited to the roles' preflight (argument specs are
validated first, always); a passing case would be a bug, so none is allowed to reach the install tasks.
"""

from pathlib import Path

import pytest
import yaml
from webdemo_tools.repo import ansible

ROOT = Path(__file__).resolve().parents[2]


def run_role(tmp_path, role, role_vars):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Preflight",
                    "hosts": "all",
                    "gather_facts": False,
                    "roles": [{"role": role, "vars": role_vars}],
                }
            ]
        )
    )
    return ansible(
        "ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook), "--tags", f"{role}_preflight", local=True
    )


@pytest.mark.parametrize(
    ("role", "role_vars", "named"),
    [
        ("app", {"app_workers": "many"}, "app_workers"),
        ("app", {"app_worker_class": "eventlet"}, "app_worker_class"),
        ("app", {"app_info_enabled": "perhaps"}, "app_info_enabled"),
        ("app", {"app_server": "uwsgi"}, "app_server"),
        ("app", {"app_server": "granian", "app_max_requests": 1000}, "app_max_requests"),
        ("app", {"app_workers": -1}, "app_workers=-1"),
        ("app", {"app_keep_releases": 1}, "app_keep_releases=1"),
        ("app", {"app_bind": "somewhere"}, "app_bind=somewhere"),
        ("app", {"app_test_delay_seconds": 0.5}, "app_allow_test_delay"),
        ("app", {"app_source_dir": "/nonexistent"}, "app_source_dir=/nonexistent"),
        (
            "app",
            {"app_source_dir": str(ROOT / "app"), "app_controller_wheelhouse_dir": ""},
            "app_controller_wheelhouse_dir=",
        ),
        ("nginx", {"nginx_mode": "proxy"}, "nginx_mode"),
        ("nginx", {"nginx_mode": "app", "nginx_listen_port": "eighty"}, "nginx_listen_port"),
        ("nginx", {"nginx_mode": "app", "nginx_info_allowed_networks": ["intranet"]}, "intranet"),
        ("nginx", {"nginx_mode": "lb", "nginx_lb_backend_hosts": []}, "nginx_lb_backend_hosts"),
        ("nginx", {"nginx_mode": "lb", "nginx_lb_servers": ["127.0.0.1:8081"]}, "nginx_tls_certificate"),
        ("nginx", {"nginx_mode": "app", "nginx_limit_req_rate": "fast"}, "nginx_limit_req_rate"),
        ("nginx", {"nginx_mode": "app", "nginx_tls_protocols": ["TLSv1"]}, "nginx_tls_protocols"),
        ("common", {"common_apt_cache_valid_time": "soon"}, "common_apt_cache_valid_time"),
        ("prometheus", {"prometheus_scrape_interval": "15 seconds"}, "prometheus_scrape_interval=15 seconds"),
        (
            "prometheus",
            {
                "prometheus_rule_files": [str(ROOT / "files/prometheus/webdemo.yml")],
                "prometheus_rule_overrides": {"HighLatncy": {"for": "15s"}},
            },
            "prometheus_rule_overrides.HighLatncy",
        ),
        ("prometheus", {}, "prometheus_rule_files=[]"),
        (
            "prometheus",
            {"prometheus_install_method": "archive", "prometheus_archive_sha256": "abc"},
            "prometheus_archive_sha256",
        ),
        (
            "keepalived",
            {"keepalived_hosts": ["localhost"], "keepalived_virtual_ip": "10.0.1.100"},
            "keepalived_virtual_ip",
        ),
        (
            "keepalived",
            {
                "keepalived_hosts": ["localhost"],
                "keepalived_virtual_ip": "10.0.1.100/24",
                "keepalived_virtual_router_id": 300,
            },
            "keepalived_virtual_router_id",
        ),
        ("alertmanager", {"alertmanager_watchdog_receiver": "deadmans-switch"}, "alertmanager_watchdog_receiver"),
        ("alertmanager", {"alertmanager_receivers": [{"name": "ops", "type": "slack"}]}, "alertmanager_receivers"),
        ("alertmanager", {"alertmanager_route_receiver": "nobody"}, "alertmanager_route_receiver=nobody"),
        # The monitoring plane is closed: a role without its TLS material or users fails, never serves plain HTTP.
        ("alertmanager", {}, "alertmanager_web_tls_certificate must be a PEM certificate"),
        ("exporters", {}, "exporters_web_tls_certificate must be a PEM certificate"),
        ("exporters", {"exporters_nginx_exporter_address": "0.0.0.0:9114"}, "exporters_nginx_exporter_address"),
        ("grafana", {"grafana_admin_password": "not-the-default"}, "grafana_datasource_username"),
        ("grafana", {"grafana_admin_password": "admin"}, "grafana_admin_password"),
        (
            "grafana",
            {"grafana_admin_password": "not-the-default", "grafana_prometheus_url": "mon1:9090"},
            "grafana_prometheus_url=mon1:9090",
        ),
        ("firewall", {"firewall_admin_networks": ["intranet"]}, "firewall_admin_networks: intranet"),
        (
            "firewall",
            {"firewall_extra_group_rules": {"all": [{"name": "web", "ports": [80, 70000], "from": ["any"]}]}},
            "firewall_extra_group_rules.all[0] (web): 70000 is not a port",
        ),
        (
            "firewall",
            {"firewall_extra_group_rules": {"all": [{"name": "vrrp", "proto": "vrrp", "ports": [1], "from": ["any"]}]}},
            "proto vrrp has no ports",
        ),
        (
            "firewall",
            {"firewall_extra_group_rules": {"all": [{"name": "db", "ports": [5432], "from": ["10.0.0.0/33"]}]}},
            "from '10.0.0.0/33'",
        ),
        (
            "firewall",
            {"firewall_extra_group_rules": {"all": [{"name": "peers", "ports": [7000], "from": ["ungrouped"]}]}},
            "the firewall_host_address of localhost",
        ),
        ("jmeter", {"jmeter_archive_sha512": "abc"}, "jmeter_archive_sha512"),
        ("jmeter", {"jmeter_archive_sha512": "0" * 128}, "jmeter_rmi_keystore_src"),
        (
            "jmeter",
            {
                "jmeter_archive_sha512": "0" * 128,
                "jmeter_rmi_keystore_src": "/nonexistent.jks",
                "jmeter_rmi_keystore_password": "secret",
            },
            "jmeter_rmi_keystore_src=/nonexistent.jks",
        ),
    ],
)
def test_bad_variable_fails_before_any_change(tmp_path, role, role_vars, named):
    result = run_role(tmp_path, role, role_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert named in output, output
    assert "changed=0" in output, output


def test_valid_variables_pass_the_preflight(tmp_path):
    result = run_role(
        tmp_path,
        "app",
        {
            "app_workers": 4,
            "app_bind": "127.0.0.1:8000",
            "app_source_dir": str(ROOT / "app"),
            "app_controller_wheelhouse_dir": str(tmp_path / "wheelhouse"),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
