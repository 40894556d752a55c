"""The grafana role's host, checked from outside: provisioning, dashboard, and either the recorded skip or a
running Grafana answering its API."""

import json
from pathlib import Path

import pytest
import yaml
from webdemo_tools import hostcheck

testinfra_hosts = ["ansible://monitor"]
MARKER = "/etc/grafana-webdemo/SKIPPED"
ADMIN = ("admin", "molecule-only-Test-pw;1")  # converge.yml
ROOT = Path(__file__).resolve().parents[5]
REPO_DASHBOARD = ROOT / "files" / "grafana" / "dashboards" / "api-latency.json"
# The datasources' uids: converge.yml provisions them from this file, the dashboards were generated from it.
DATASOURCES = yaml.safe_load((ROOT / "files" / "grafana" / "datasources.yml").read_text())
PROMETHEUS = {"type": "prometheus", "uid": DATASOURCES["prometheus"]["uid"]}


def skipped_reason(host):
    marker = host.file(MARKER)
    return marker.content_string.strip() if marker.exists else None


def yaml_file(host, path):
    file = host.file(path)
    assert file.exists, path
    assert file.user == "root"
    return yaml.safe_load(file.content_string)


def test_datasources_are_prometheus_default_and_alertmanager_without_grafana_rules(host):
    file = host.file("/etc/grafana/provisioning/datasources/webdemo.yaml")
    # It carries the monitoring plane's password: never readable by others.
    assert file.mode & 0o007 == 0, oct(file.mode)
    sources = {
        s["name"]: s for s in yaml_file(host, "/etc/grafana/provisioning/datasources/webdemo.yaml")["datasources"]
    }
    prom = sources["Prometheus"]
    assert (prom["type"], prom["uid"], prom["url"], prom["isDefault"]) == (
        "prometheus",
        PROMETHEUS["uid"],
        "https://localhost:9090",
        True,
    )
    assert prom["jsonData"]["manageAlerts"] is True
    alertmanager = sources["Alertmanager"]
    assert (alertmanager["type"], alertmanager["uid"], alertmanager["url"]) == (
        "alertmanager",
        DATASOURCES["alertmanager"]["uid"],
        "https://localhost:9093",
    )
    assert alertmanager["jsonData"] == {
        "implementation": "prometheus",
        "handleGrafanaManagedAlerts": False,
        "tlsAuthWithCACert": True,
    }


def test_datasources_log_in_with_the_monitoring_credential_and_trust_the_ca(host):
    """Prometheus and Alertmanager answer HTTPS with basic auth only: both datasources carry the credential (the
    password in secureJsonData) and the CA, as the scenario's inventory defines them."""
    user, password = hostcheck.monitoring_credentials(host)
    sources = yaml_file(host, "/etc/grafana/provisioning/datasources/webdemo.yaml")["datasources"]
    for source in sources:
        assert source["basicAuth"] is True and source["basicAuthUser"] == user, source["name"]
        assert source["jsonData"]["tlsAuthWithCACert"] is True, source["name"]
        assert source["secureJsonData"]["basicAuthPassword"] == password, source["name"]
        assert source["secureJsonData"]["tlsCACert"].startswith("-----BEGIN CERTIFICATE-----"), source["name"]


def test_grafana_listens_on_an_internal_address_only(host):
    reason = skipped_reason(host)
    ini = host.file(f"{'/etc/grafana-webdemo' if reason else '/etc/grafana'}/grafana.ini").content_string
    assert "http_addr = 127.0.0.1" in ini


def test_dashboard_provider_points_at_the_apis_folder(host):
    (provider,) = yaml_file(host, "/etc/grafana/provisioning/dashboards/webdemo.yaml")["providers"]
    assert provider["folder"] == "APIs"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/webdemo"
    assert provider["allowUiUpdates"] is False


def test_dashboard_is_the_repository_one_with_the_prometheus_datasource(host):
    file = host.file("/var/lib/grafana/dashboards/webdemo/api-latency.json")
    assert file.exists
    assert file.content_string == REPO_DASHBOARD.read_text()
    dashboard = json.loads(file.content_string)
    assert dashboard["uid"] == "webdemo-api-latency"
    assert dashboard["title"] == "API Latency"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == PROMETHEUS, panel["title"]


def test_skip_is_recorded_with_its_reason_or_grafana_is_installed(host):
    reason = skipped_reason(host)
    installed = host.package("grafana").is_installed
    if reason is None:
        assert installed
        ini = host.file("/etc/grafana/grafana.ini")
        assert ini.group == "grafana" and ini.mode == 0o640
    else:
        # Never a silent pass: a skip names its cause, and Grafana really is absent.
        assert "not reachable" in reason or "no install candidate" in reason or "does not exist" in reason, reason
        assert not installed
        assert not host.file("/etc/grafana/grafana.ini").exists
        ini = host.file("/etc/grafana-webdemo/grafana.ini")
        assert ini.user == "root" and ini.mode == 0o600
    text = ini.content_string
    assert 'admin_password = """molecule-only-Test-pw;1"""' in text
    for line in ("reporting_enabled = false", "check_for_updates = false", "allow_sign_up = false", "http_port = 3000"):
        assert line in text


def test_grafana_serves_its_health_datasource_and_dashboard(host):
    reason = skipped_reason(host)
    if reason is not None:
        pytest.skip(f"Grafana binary not installable here: {reason}")
    service = host.service("grafana-server")
    assert service.is_enabled and service.is_running
    health = json.loads(host.check_output("curl -sS --max-time 5 http://127.0.0.1:3000/api/health"))
    assert health["database"] == "ok"

    def api(path):
        return json.loads(
            host.check_output("curl -sS --max-time 5 -u %s http://127.0.0.1:3000%s", ":".join(ADMIN), path)
        )

    source = api(f"/api/datasources/uid/{PROMETHEUS['uid']}")
    assert source["name"] == "Prometheus" and source["isDefault"] is True
    found = api("/api/dashboards/uid/webdemo-api-latency")
    assert found["meta"]["folderTitle"] == "APIs"
