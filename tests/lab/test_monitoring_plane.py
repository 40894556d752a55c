"""The closed monitoring plane in the lab (issue 11, "Monitoring plane"): seen from the monitor host, Prometheus,
Alertmanager and every exporter of every monitored host answer HTTPS only, 401 without the monitoring credential
(or with a wrong password) and 200 with it, their certificates verified against the lab's CA; and with all of
that closed, Prometheus still scrapes every target (up == 1). The firewall's part (the same ports refused from
hosts outside the monitor group) is tests/lab/test_firewall.py's.

The credential is the inventory's (webdemo_tools.lab.monitoring_access); the CA on mon1 is the one the prometheus
role installed for scraping."""

import json
import time

import pytest
from webdemo_tools import promhttp
from webdemo_tools.lab import ALERTMANAGER, PROMETHEUS, docker_exec, monitoring_access, monitoring_get, prometheus_query
from webdemo_tools.repo import ansible

pytestmark = pytest.mark.usefixtures("lab_is_up")

MONITOR = "mon1"
CA_ON_MONITOR = "/etc/prometheus/tls/ca.crt"
# What each job's target serves (roles/prometheus: prometheus_inventory_jobs), by the groups that run it.
EXPORTERS = {"node": (9100, ("backend", "lb", "monitor")), "nginx": (9113, ("backend", "lb"))}


def groups():
    result = ansible("ansible-inventory", "-i", "inventories/local", "--list", timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    inventory = json.loads(result.stdout)

    def hosts(group):
        node = inventory.get(group, {})
        return set(node.get("hosts", [])).union(*(hosts(child) for child in node.get("children", [])))

    return {name: hosts(name) for name in ("backend", "lb", "monitor")}


def endpoints():
    """(what, https URL as mon1 reaches it) for Prometheus, Alertmanager and every exporter of the inventory."""
    found = [
        ("prometheus", "https://localhost:9090/api/v1/status/buildinfo"),
        ("prometheus", f"https://webdemo-lab-{MONITOR}:9090/-/ready"),
        ("alertmanager", "https://localhost:9093/api/v2/status"),
        ("alertmanager", f"https://webdemo-lab-{MONITOR}:9093/-/ready"),
    ]
    by_group = groups()
    for job, (port, job_groups) in EXPORTERS.items():
        for host in sorted(set().union(*(by_group[g] for g in job_groups))):
            found.append((f"{job} exporter on {host}", f"https://webdemo-lab-{host}:{port}/metrics"))
    return found


def curl_status(url, *args):
    """HTTP status (or "curl exit N") of a request made on the monitor host."""
    out = docker_exec(
        MONITOR,
        "sh",
        "-c",
        'curl -sS --max-time 5 -o /dev/null -w "%{http_code}" "$@"; echo " $?"',
        "curl",
        *args,
        url,
        check=False,
    ).split()
    status, exit_code = out if len(out) == 2 else ("000", "?")
    return int(status) if exit_code == "0" else f"curl exit {exit_code}"


def test_every_monitoring_endpoint_answers_only_https_with_the_credential():
    access = monitoring_access()
    login = f"{access.username}:{access.password}"
    rows, failures = [], []
    for what, url in endpoints():
        seen = {
            "no credentials": curl_status(url, "--cacert", CA_ON_MONITOR),
            "wrong password": curl_status(url, "--cacert", CA_ON_MONITOR, "-u", f"{access.username}:wrong"),
            "credential": curl_status(url, "--cacert", CA_ON_MONITOR, "-u", login),
            "plain http": curl_status(url.replace("https://", "http://", 1), "-u", login),
        }
        rows.append((what, url, seen))
        ok = (
            seen["no credentials"] == 401
            and seen["wrong password"] == 401
            and seen["credential"] == 200
            and seen["plain http"] in (400, "curl exit 52", "curl exit 56")  # a TLS port: no metrics over HTTP
        )
        if not ok:
            failures.append((what, url, seen))
    print("\nfrom mon1:", " | ".join(("no credentials", "wrong password", "credential", "plain http")))
    for what, url, seen in rows:
        print(f"  {what:28} {url:52} {' | '.join(str(v) for v in seen.values())}")
    assert not failures, failures
    assert len(rows) >= 4 + 5 + 4, rows  # Prometheus, Alertmanager, 5 node exporters, 4 nginx exporters


def test_the_controller_reaches_prometheus_and_alertmanager_only_with_the_credential():
    """The published ports (127.0.0.1:9090/9093) are the same HTTPS endpoints: the tools' way in."""
    for base in (PROMETHEUS, ALERTMANAGER):
        assert monitoring_get(base + "/-/ready")[0] == 200
        anonymous = promhttp.Access(ca_file=monitoring_access().ca_file)
        with pytest.raises(OSError, match="401"):
            anonymous.open(base + "/-/ready", timeout=5)


def test_every_target_is_up_with_auth_on():
    """Every job Prometheus scrapes, its own and Alertmanager included, through TLS and basic auth (the app's
    /metrics stays plain HTTP on the private network, allow-listed by the backends' nginx)."""
    deadline = time.monotonic() + 60
    while True:
        up = {(r["metric"]["job"], r["metric"]["instance"]): r["value"][1] for r in prometheus_query("up")}
        if up and set(up.values()) == {"1"} or time.monotonic() > deadline:
            break
        time.sleep(2)
    print("\nup:", ", ".join(f"{job}/{instance}={value}" for (job, instance), value in sorted(up.items())))
    assert set(up.values()) == {"1"}, {k: v for k, v in up.items() if v != "1"}
    by_group = groups()
    expected = (
        {("prometheus", MONITOR), ("alertmanager", MONITOR)}
        | {("app", h) for h in by_group["backend"]}
        | {(job, h) for job, (_, job_groups) in EXPORTERS.items() for g in job_groups for h in by_group[g]}
    )
    assert set(up) == expected, set(up) ^ expected
