"""The host firewall as the other hosts see it: what is not opened is dropped even with a listener behind it, what is
opened answers only the peers its rule names, and the ruleset survives a restart of nftables.service.

The backend (webdemo-mol-1) gets throw-away listeners on its nginx port (80, opened to the monitor group), its node
exporter port (9100, opened to the monitor group and the admin network: the loadgen host) and an unopened port
(18080); each is probed with a bounded TCP connect from the two other hosts. "open": connected; "refused": the
firewall let the SYN through and nothing listens; "closed": no answer within the timeout (dropped).
"""

import re
import time
from pathlib import Path

import pytest
from webdemo_tools import hostcheck

testinfra_hosts = ["ansible://all"]
SCENARIO = Path(__file__).resolve().parent.parent
CONFIG = "/etc/nftables.conf"
TABLE = "inet webdemo"
LISTEN = (80, 9100, 18080)
TIMEOUT = 2.0
# A bounded TCP connect, run on the source host: prints open, refused or closed.
PROBE = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n"
    "s.settimeout(float(sys.argv[3]))\n"
    "try:\n"
    "    s.connect((sys.argv[1], int(sys.argv[2]))); print('open')\n"
    "except ConnectionRefusedError:\n"
    "    print('refused')\n"
    "except OSError:\n"
    "    print('closed')\n"
)


def name(host):
    return host.backend.host


@pytest.fixture(scope="module")
def hosts():
    """backend, monitor, loadgen (the admin network)."""
    return {group: hostcheck.group_hosts(group)[0] for group in ("backend", "monitor", "loadgen")}


def address(host):
    """The host's address on the scenario's network (the source of its connections)."""
    return re.search(r" src ([0-9.]+)", host.check_output("ip -4 -o route get 192.0.2.1")).group(1)


def probe(source, target_address, port):
    return source.check_output("python3 -c %s %s %s %s", PROBE, target_address, str(port), str(TIMEOUT)).strip()


@pytest.fixture(scope="module")
def listeners(hosts):
    """Throw-away HTTP listeners on the backend (transient systemd units), removed afterwards."""
    backend = hosts["backend"]
    for port in LISTEN:
        backend.run("systemctl stop fwtest-listen-%s", str(port))
        backend.check_output(
            "systemd-run --unit fwtest-listen-%s python3 -m http.server --bind 0.0.0.0 %s", str(port), str(port)
        )
    deadline = time.monotonic() + 10
    while any(probe(backend, "127.0.0.1", port) != "open" for port in LISTEN):
        assert time.monotonic() < deadline, "the test listeners did not start"
        time.sleep(0.2)
    yield address(backend)
    for port in LISTEN:
        backend.run("systemctl stop fwtest-listen-%s", str(port))


def matrix(hosts, target):
    """{(port, source group): result} for every listener port, from the monitor and the loadgen host."""
    results = {(port, group): probe(hosts[group], target, port) for port in LISTEN for group in ("monitor", "loadgen")}
    print(f"\n{'port':>6} | {'from monitor':>12} | {'from loadgen (admin)':>20}")
    for port in LISTEN:
        print(f"{port:>6} | {results[(port, 'monitor')]:>12} | {results[(port, 'loadgen')]:>20}")
    return results


EXPECTED = {
    (80, "monitor"): "open",  # nginx: lbs and monitor
    (80, "loadgen"): "closed",
    (9100, "monitor"): "open",  # node exporter: monitor and admin
    (9100, "loadgen"): "open",
    (18080, "monitor"): "closed",  # not opened: dropped, although something listens
    (18080, "loadgen"): "closed",
}


def test_the_ruleset_is_persisted_and_loaded_at_boot(hosts):
    for host in hosts.values():
        assert host.service("nftables").is_enabled, f"{name(host)}: nftables.service is not enabled"
        assert host.service("nftables").is_running, f"{name(host)}: nftables.service is not active"
        config = host.file(CONFIG).content_string
        assert f"table {TABLE} {{" in config and not re.search(r"^\s*flush ruleset", config, re.M), config
        live = host.check_output("nft list table %s", TABLE)
        assert "policy drop" in live, live


def test_only_the_roles_table_is_replaced(hosts):
    """Docker's own rules in the container (its embedded DNS) live in the same ruleset: they must survive."""
    for host in hosts.values():
        assert "table ip nat" in host.check_output("nft list tables"), f"{name(host)}: Docker's nat table is gone"
        assert host.run("getent hosts %s", name(hosts["monitor"])).rc == 0, f"{name(host)}: no name resolution"


def test_only_the_allowed_peers_reach_the_open_ports_and_nothing_else_is_reachable(hosts, listeners):
    assert matrix(hosts, listeners) == EXPECTED


def test_an_admin_port_without_a_listener_is_let_through_from_admin_and_dropped_from_others(hosts):
    monitor = address(hosts["monitor"])
    # Prometheus' port on the monitor host: nothing listens in this scenario, so an accepted SYN is refused.
    assert probe(hosts["loadgen"], monitor, 9090) == "refused"
    assert probe(hosts["backend"], monitor, 9090) == "closed"


def test_a_restart_of_nftables_loads_the_persisted_ruleset_again(hosts, listeners):
    backend = hosts["backend"]
    backend.check_output("systemctl restart nftables")
    live = backend.check_output("nft list table %s", TABLE)
    assert "policy drop" in live and 'comment "http"' in live
    assert "table ip nat" in backend.check_output("nft list tables"), "the restart removed Docker's table"
    assert matrix(hosts, listeners) == EXPECTED


def test_counters_show_the_accepted_connections(hosts, listeners):
    live = hosts["backend"].check_output("nft list table %s", TABLE)
    http = re.search(r"tcp dport 80 counter packets (\d+) .*comment \"http\"", live)
    assert http and int(http.group(1)) > 0, live


def test_a_table_removed_by_hand_is_loaded_again_by_the_next_run(hosts):
    backend = hosts["backend"]
    backend.check_output("nft delete table %s", TABLE)
    play = hostcheck.run_playbook(SCENARIO / "converge.yml")
    assert play.returncode == 0, play.stdout[-3000:]
    assert "policy drop" in backend.check_output("nft list table %s", TABLE)


def test_a_ruleset_nft_rejects_fails_the_play_and_keeps_the_live_one(hosts):
    backend = hosts["backend"]
    live = backend.check_output("nft list table %s", TABLE)
    hostcheck.assert_rejected_config_keeps_the_live_one(backend, SCENARIO / "bad-config.yml", CONFIG, "nftables")
    assert backend.check_output("nft list table %s", TABLE) == live


def test_an_ssh_session_from_outside_the_admin_network_fails_the_preflight(hosts):
    """Ansible must not lock itself out: over SSH from an address no rule accepts, the play fails before a change."""
    play = hostcheck.run_playbook(SCENARIO / "lockout.yml", "-e", "firewall_test_ssh_client=192.0.2.7")
    output = play.stdout + play.stderr
    assert play.returncode != 0, output[-3000:]
    assert "over SSH from 192.0.2.7 on port 22" in output and "firewall_admin_networks" in output, output[-3000:]
    assert "changed=0" in output
    admin = address(hosts["loadgen"])
    play = hostcheck.run_playbook(SCENARIO / "lockout.yml", "-e", f"firewall_test_ssh_client={admin}")
    assert play.returncode == 0, (play.stdout + play.stderr)[-3000:]
