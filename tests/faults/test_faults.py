"""Planned operations and faults on the running lab, each under steady traffic through the virtual IP.

The measure is failed client requests: zero for every planned operation (deploy, failed deploy, rollback) and
for the faults the stack absorbs (a crashed or hung app, a crashed nginx); where a host dies, the requests that
were on the wire to it are counted apart. Scenarios run in this order and leave the lab as they found it.
"""

import json
import re
import shutil
import time

import pytest
from conftest import Traffic, wait_until
from webdemo_tools.lab import (
    LB,
    PROMETHEUS,
    docker,
    docker_exec,
    http_get,
    monitoring_ready,
    prometheus_query,
    run_playbook,
)
from webdemo_tools.repo import root

pytestmark = pytest.mark.usefixtures("client_ready")
BACKENDS = ("web1", "web2")
LBS = ("lb1", "lb2")
APP_SOCKET = "/run/webdemo.sock"


def running_version(host):
    """The version the app on a backend reports (webdemo_build_info on /metrics)."""
    metrics = docker_exec(
        host, "curl", "-sS", "--fail", "--max-time", "3", "--unix-socket", APP_SOCKET, "http://localhost/metrics"
    )
    return re.search(r'webdemo_build_info\{[^}]*version="([^"]+)"', metrics).group(1)


def current_release(host):
    return docker_exec(host, "readlink", "/opt/webdemo/current").strip().rsplit("/", 1)[-1]


def main_pid(host, unit):
    return int(docker_exec(host, "systemctl", "show", "-p", "MainPID", "--value", unit).strip())


def active(host, unit):
    return docker_exec(host, "systemctl", "is-active", unit, check=False).strip() == "active"


def vip_holders(vip):
    return [lb for lb in LBS if f"inet {vip}/" in docker_exec(lb, "ip", "-4", "addr", "show", check=False)]


def release_source(tmp_path, version, broken=False):
    """A copy of the app with another version (and, if broken, an app that cannot start)."""
    source = tmp_path / f"app-{version}"
    shutil.copytree(
        root() / "app", source, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__")
    )
    init = source / "src" / "webdemo" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', init.read_text()))
    if broken:
        wsgi = source / "src" / "webdemo" / "wsgi.py"
        wsgi.write_text(wsgi.read_text() + '\nraise RuntimeError("this release is broken on purpose (fault suite)")\n')
    return source


@pytest.fixture(scope="module")
def base_version():
    versions = {running_version(host) for host in BACKENDS}
    assert len(versions) == 1, f"the backends run different versions before the suite: {versions}"
    return versions.pop()


@pytest.fixture
def url(vip):
    return f"https://{vip}/api/v1/health"


def test_rolling_deploy_of_a_new_version_loses_no_request(url, tmp_path, base_version):
    new = f"{base_version}+faults.good"
    with Traffic("rolling deploy", url) as load:
        start = time.time()
        run_playbook("playbooks/backend.yml", "-e", f"app_source_dir={release_source(tmp_path, new)}")
        end = time.time()
    row = load.report(start, end, end - start, note=f"{base_version} -> {new}")
    assert {host: running_version(host) for host in BACKENDS} == dict.fromkeys(BACKENDS, new)
    assert row["failed"] == 0, row


def test_a_broken_release_stops_at_the_first_host_which_goes_back(url, tmp_path, base_version):
    good, broken = f"{base_version}+faults.good", f"{base_version}+faults.broken"
    with Traffic("broken release", url) as load:
        start = time.time()
        play = run_playbook(
            "playbooks/backend.yml", "-e", f"app_source_dir={release_source(tmp_path, broken, True)}", check=False
        )
        end = time.time()
    row = load.report(start, end, end - start, note="stopped at web1, rolled back")
    output = play.stdout + play.stderr
    assert play.returncode != 0, "a release that cannot start was deployed"
    assert f"Release {broken} failed on web1" in output, output[-3000:]
    assert f"Rolled back to release {good}" in output
    # The play stopped at web1: web2 never received the broken release.
    assert docker("exec", "webdemo-lab-web2", "test", "-e", f"/opt/webdemo/releases/{broken}", check=False).returncode
    assert current_release("web1") == good and running_version("web1") == good
    assert current_release("web2") == good and running_version("web2") == good, "web2 was touched"
    assert row["failed"] == 0, row


def test_rollback_returns_every_backend_to_the_previous_release(url, base_version):
    with Traffic("rollback", url) as load:
        start = time.time()
        run_playbook("playbooks/rollback.yml")
        end = time.time()
    row = load.report(start, end, end - start, note=f"-> {base_version}")
    assert {host: running_version(host) for host in BACKENDS} == dict.fromkeys(BACKENDS, base_version)
    assert row["failed"] == 0, row


def test_a_killed_app_comes_back_by_itself(url):
    before = main_pid("web1", "webdemo.service")
    with Traffic("kill -9 gunicorn master", url) as load:
        start = time.time()
        docker_exec("web1", "kill", "-9", str(before))
        back = wait_until(
            lambda: main_pid("web1", "webdemo.service") not in (0, before) and running_version("web1"),
            timeout=30,
            what="gunicorn back on web1",
        )
        end = time.time()
    row = load.report(start, end, back)
    assert back <= 10, f"gunicorn took {back:.1f} s to come back"
    assert row["failed"] == 0, row


def test_a_hung_app_costs_no_request_and_little_latency(url, vip):
    read_timeout = 5.0  # nginx_proxy_read_timeout on the lbs
    with Traffic("gunicorn hung (SIGSTOP 20 s)", url) as load:
        start = time.time()
        docker_exec("web1", "pkill", "-STOP", "-f", "gunicorn")
        try:
            time.sleep(20)
        finally:
            docker_exec("web1", "pkill", "-CONT", "-f", "gunicorn")
        end = time.time()
        wait_until(lambda: running_version("web1"), timeout=30, what="web1 answering again")
    row = load.report(start, end, None)
    assert row["failed"] == 0, row
    assert row["fault_p99_ms"] < (read_timeout + 1) * 1000, row


def test_a_lost_backend_host_costs_only_its_in_flight_requests(url):
    with Traffic("backend host lost", url) as load:
        start = time.time()
        docker("kill", "webdemo-lab-web1")
        time.sleep(10)
        docker("start", "webdemo-lab-web1")
        docker_exec("web1", "systemctl", "is-system-running", "--wait", check=False, timeout=90)
        run_playbook("playbooks/backend.yml", "--limit", "web1")
        back = time.time() - start
        # Back in rotation: the lbs send it requests again.
        wait_until(lambda: "web1" in lb_reached_hosts(), timeout=30, what="web1 back in the lbs' rotation")
        end = time.time()
    row = load.report(
        start, end, back, in_flight=(start, start + 1), note="web1 container killed, restarted, re-converged"
    )
    assert row["failed"] == row["in_flight_failed"], row


def lb_reached_hosts(count=20):
    """Hostnames that answer /api/v1/info through the lb on localhost:4443."""
    return {json.loads(http_get(LB + "/api/v1/info")[1])["hostname"] for _ in range(count)}


def test_a_killed_nginx_on_the_active_lb_comes_back(url, vip):
    (holder,) = vip_holders(vip)
    before = main_pid(holder, "nginx.service")
    with Traffic("kill -9 nginx on the active lb", url) as load:
        start = time.time()
        docker_exec(holder, "kill", "-9", str(before))
        back = wait_until(
            lambda: main_pid(holder, "nginx.service") not in (0, before) and active(holder, "nginx.service"),
            timeout=30,
            what=f"nginx back on {holder}",
        )
        end = time.time() + 2
    # In flight: requests on the connections the killed nginx's workers held, until they are retired after the
    # restart (nginx listens with reuseport and systemd leaves the workers serving: nothing is refused).
    row = load.report(start, end, back, in_flight=(start, end), note=f"{holder}; VIP on {vip_holders(vip)}")
    assert back <= 5, f"nginx took {back:.1f} s to come back"
    assert row["failed"] == row["in_flight_failed"], row


def test_losing_the_active_lb_moves_the_virtual_ip(url, vip):
    (holder,) = vip_holders(vip)
    with Traffic("active lb host lost", url) as load:
        start = time.time()
        docker("kill", f"webdemo-lab-{holder}")
        moved = wait_until(lambda: vip_holders(vip) not in ([], [holder]), timeout=30, what="the VIP on the other lb")
        time.sleep(5)
        end = time.time()
    row = load.report(
        start, end, moved, in_flight=(start, start + moved + 1), note=f"{holder} killed; VIP now on {vip_holders(vip)}"
    )
    # Put the lost lb back (it rejoins as backup) for the scenarios after this one.
    docker("start", f"webdemo-lab-{holder}")
    docker_exec(holder, "systemctl", "is-system-running", "--wait", check=False, timeout=90)
    run_playbook("playbooks/lb.yml", "--limit", holder)
    assert moved <= 5, f"the virtual IP took {moved:.1f} s to move"
    assert row["failed"] <= row["in_flight_failed"] + 50, row  # reported; connections to the dead lb time out


def test_a_killed_prometheus_comes_back_with_its_data():
    before = main_pid("mon1", "prometheus.service")
    scraped_at = time.time() - 5
    assert prometheus_query('up{job="app"}', at=scraped_at), "no sample before the crash"
    start = time.time()
    docker_exec("mon1", "kill", "-9", str(before))
    back = wait_until(
        lambda: main_pid("mon1", "prometheus.service") not in (0, before) and monitoring_ready(PROMETHEUS),
        timeout=60,
        what="Prometheus ready again",
    )
    print(f"\nkill -9 prometheus: back in {back:.1f} s ({time.time() - start:.1f} s after the kill)")
    assert back <= 10, f"Prometheus took {back:.1f} s to be ready"
    assert prometheus_query('up{job="app"}', at=scraped_at), "samples scraped before the crash are gone"


def test_an_alert_that_fires_while_alertmanager_is_down_is_delivered_when_it_returns():
    receiver_log = "/var/lib/webhook-receiver/alerts.jsonl"
    docker_exec("mon1", "systemctl", "stop", "prometheus-alertmanager")
    docker_exec("web1", "systemctl", "stop", "webdemo.socket", "webdemo.service")
    try:
        wait_until(
            lambda: prometheus_query('ALERTS{alertname="Up", alertstate="firing", instance="web1"}'),
            timeout=120,
            interval=1,
            what="Up firing in Prometheus",
        )
        returned = time.time()
        docker_exec("mon1", "systemctl", "start", "prometheus-alertmanager")

        def delivered():
            for line in docker_exec("mon1", "sh", "-c", f"cat {receiver_log} 2>/dev/null || true").splitlines():
                note = json.loads(line)
                if note["received_at"] >= returned and any(
                    a["labels"]["alertname"] == "Up" and a["status"] == "firing" for a in note["payload"]["alerts"]
                ):
                    return True
            return False

        after = wait_until(delivered, timeout=90, interval=1, what="the Up notification at the webhook")
    finally:
        docker_exec("web1", "systemctl", "start", "webdemo.socket", "webdemo.service")
        docker_exec("mon1", "systemctl", "start", "prometheus-alertmanager")
    print(f"\nAlertmanager down while Up fired: notification {after:.1f} s after Alertmanager returned")
