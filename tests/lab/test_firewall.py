"""The host firewall (roles/firewall) on the running lab, as the other hosts see it.

For every group, each port the group serves is probed from every lab host and from the controller (the lab's admin
network: the Docker bridge's gateway) with a bounded TCP connect: it must answer the hosts that need it and nobody
else. The policy is written out here, from what the stack needs, not read from the role's variables. Besides the
services' ports, every host gets a throw-away listener on a port no rule opens (default drop with something behind
it), and every other port found listening on a host's network addresses is probed too (a service that listens where
no rule expects it must be dropped). The matrix is printed: rows host:port, columns the sources; a cell is what the
source got: "open" (connected), "open*" (the firewall let it through, nothing listens there: refused), "closed" (no
answer within the timeout: dropped); "!" marks a cell that is not what the policy expects.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from webdemo_tools.lab import docker_exec
from webdemo_tools.repo import ansible

pytestmark = pytest.mark.usefixtures("lab_is_up")

CONTROLLER = "controller"  # this machine, seen by the lab hosts from the lab network's gateway (172.30.0.1)
ANY = "any"
ADMIN = {CONTROLLER}
MONITORING = {"monitor", CONTROLLER}
# A port no rule opens; the test puts a listener behind it on every host.
TEST_PORT = 18080
# The JMeter driver's ephemeral callback ports (tcp 32768-60999 between the loadgen hosts): one of them is probed.
CALLBACK_RANGE = (32768, 60999)
CALLBACK_SAMPLE = 40000
TIMEOUT = 1.5
GROUP_ORDER = ("lb", "backend", "monitor", "loadgen")
# group -> [(port or (low, high), what, who may connect: groups, CONTROLLER or ANY)]
POLICY = {
    "lb": [
        (80, "http", ANY),
        (443, "https", ANY),
        (9100, "node exporter", MONITORING),
        (9113, "nginx exporter", MONITORING),
        (22, "ssh", ADMIN),
    ],
    "backend": [
        (80, "nginx", {"lb", "monitor"}),
        (9100, "node exporter", MONITORING),
        (9113, "nginx exporter", MONITORING),
        (22, "ssh", ADMIN),
    ],
    "monitor": [
        (9090, "prometheus", MONITORING),
        (9093, "alertmanager", MONITORING),
        (3000, "grafana", MONITORING),
        (9100, "node exporter", MONITORING),
        (22, "ssh", ADMIN),
    ],
    "loadgen": [
        (1099, "jmeter rmi registry", {"loadgen"}),
        (50000, "jmeter engine", {"loadgen"}),
        (CALLBACK_RANGE, "jmeter callbacks", {"loadgen"}),
        (22, "ssh", ADMIN),
    ],
}
# Run on a source host: a bounded TCP connect to each (address, port) at once; prints the results as JSON.
PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor

def probe(target):
    sock = socket.socket()
    sock.settimeout(float(sys.argv[2]))
    try:
        sock.connect((target[0], target[1]))
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "closed"
    finally:
        sock.close()

targets = json.loads(sys.argv[1])
with ThreadPoolExecutor(max(1, len(targets))) as pool:
    print(json.dumps(list(pool.map(probe, targets))))
"""


@pytest.fixture(scope="module")
def lab():
    """Groups, hosts and addresses of the lab inventory (inventories/local)."""
    result = ansible("ansible-inventory", "-i", "inventories/local", "--list")
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    groups = {group: inventory.get(group, {}).get("hosts", []) for group in GROUP_ORDER}
    some_host = groups["lb"][0]
    hostvars = inventory["_meta"]["hostvars"][some_host]
    addresses = {host: hostvars["lab_host_addresses"][host] for hosts in groups.values() for host in hosts}
    return {"groups": groups, "addresses": addresses, "vip": hostvars["webdemo_vip"].split("/")[0]}


def probe_from(source, targets):
    """The results of PROBE run on a lab host, or on the controller for CONTROLLER."""
    if source == CONTROLLER:
        result = subprocess.run(
            [sys.executable, "-c", PROBE, json.dumps(targets), str(TIMEOUT)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(result.stdout)
    return json.loads(docker_exec(source, "python3", "-c", PROBE, json.dumps(targets), str(TIMEOUT), timeout=60))


def listening_ports(host):
    """TCP ports the host listens on at a non-loopback address."""
    ports = set()
    for line in docker_exec(host, "ss", "-Htln").splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        if not re.match(r"^(127\.|\[::1\]|::1)", address):
            ports.add(int(port))
    return ports


@pytest.fixture(scope="module")
def listeners(lab):
    """A throw-away listener on TEST_PORT on every host (a transient systemd unit), removed afterwards."""
    hosts = list(lab["addresses"])
    unit = f"fwtest-listen-{TEST_PORT}"
    for host in hosts:
        docker_exec(host, "systemctl", "stop", unit, check=False)
        docker_exec(host, "systemd-run", "--unit", unit, "python3", "-m", "http.server", str(TEST_PORT))
    deadline = time.monotonic() + 15
    while not all(TEST_PORT in listening_ports(host) for host in hosts):
        assert time.monotonic() < deadline, f"the test listeners on port {TEST_PORT} did not start"
        time.sleep(0.3)
    yield
    for host in hosts:
        docker_exec(host, "systemctl", "stop", unit, check=False)


def allowed_sources(lab, who):
    if who == ANY:
        return {*lab["addresses"], CONTROLLER}
    sources = set()
    for name in who:
        sources |= {CONTROLLER} if name == CONTROLLER else set(lab["groups"].get(name, []))
    return sources


def covers(port_spec, port):
    low, high = port_spec if isinstance(port_spec, tuple) else (port_spec, port_spec)
    return low <= port <= high


def rows(lab):
    """(label, target host or None for the VIP, address, port, what, allowed sources)."""
    table = []
    for group in GROUP_ORDER:
        for host in lab["groups"][group]:
            policy = POLICY[group]
            ports = {
                (CALLBACK_SAMPLE if isinstance(spec, tuple) else spec): (spec, what, who) for spec, what, who in policy
            }
            # Whatever else listens on the host's network addresses: what a rule opens, else dropped.
            for port in sorted(listening_ports(host) - set(ports)):
                matching = [(spec, what, who) for spec, what, who in policy if covers(spec, port)]
                ports[port] = matching[0] if matching else (port, "unexpected listener", set())
            ports[TEST_PORT] = (TEST_PORT, "test listener, no rule", set())
            for port, (_, what, who) in ports.items():
                table.append((f"{host}:{port}", host, lab["addresses"][host], port, what, allowed_sources(lab, who)))
        if group == "lb":
            for port, what in ((80, "http"), (443, "https")):
                table.append((f"vip:{port}", None, lab["vip"], port, what, allowed_sources(lab, ANY)))
    return table


def cell(got):
    return {"open": "open", "refused": "open*", "closed": "closed"}[got]


def test_every_lab_host_runs_the_firewall_and_keeps_dockers_rules(lab):
    for host in lab["addresses"]:
        assert docker_exec(host, "systemctl", "is-enabled", "nftables").strip() == "enabled", host
        assert docker_exec(host, "systemctl", "is-active", "nftables").strip() == "active", host
        table = docker_exec(host, "nft", "list", "table", "inet", "webdemo")
        assert "policy drop" in table, f"{host}: {table}"
        # Docker's embedded DNS (its rules share the container's ruleset) still resolves the other hosts.
        assert "table ip nat" in docker_exec(host, "nft", "list", "tables"), f"{host}: Docker's nat table is gone"
        docker_exec(host, "getent", "hosts", "webdemo-lab-mon1")


def test_port_matrix_every_port_answers_only_the_hosts_that_need_it(lab, listeners):
    table = rows(lab)
    sources = [*lab["addresses"], CONTROLLER]
    # Every source probes every row at once (one docker exec per source, the sources in parallel).
    probes = {}
    targets = [[address, port] for _, _, address, port, _, _ in table]
    with ThreadPoolExecutor(len(sources)) as pool:
        for source, results in zip(sources, pool.map(lambda s: probe_from(s, targets), sources), strict=True):
            probes[source] = results
    width = max(len(label) + len(what) + 3 for label, _, _, _, what, _ in table)
    lines = [f"{'target (service)':<{width}} | " + " ".join(f"{s[:10]:>8}" for s in sources)]
    mismatches, checked = [], 0
    for index, (label, host, _, _, what, allowed) in enumerate(table):
        cells = []
        for source in sources:
            if source == host:
                cells.append(f"{'self':>8}")  # a host's connection to itself goes over loopback
                continue
            got = probes[source][index]
            expected_open = source in allowed
            ok = (got != "closed") if expected_open else (got == "closed")
            checked += 1
            if not ok:
                mismatches.append(
                    f"{label} ({what}) from {source}: expected {'open' if expected_open else 'closed'}, got {got}"
                )
            cells.append(f"{cell(got) + ('' if ok else '!'):>8}")
        lines.append(f"{label + ' (' + what + ')':<{width}} | " + " ".join(cells))
    print(
        "\nFirewall port matrix (rows host:port, columns the sources; open* = let through, nothing listens there;"
        " ! = not what the policy expects)"
    )
    print("\n".join(lines))
    print(f"{checked} probes, {len(mismatches)} not as the policy expects (timeout {TIMEOUT} s)")
    assert not mismatches, "\n".join(mismatches)


def test_vrrp_passes_between_the_lbs(lab):
    """One lb holds the virtual IP (the adverts reach the others: no split brain); the backups count them."""
    lbs = lab["groups"]["lb"]
    holders = [lb for lb in lbs if f"inet {lab['vip']}/" in docker_exec(lb, "ip", "-4", "addr", "show")]
    assert len(holders) == 1, f"the virtual IP is on {holders}"

    def vrrp_packets(host):
        table = docker_exec(host, "nft", "list", "table", "inet", "webdemo")
        match = re.search(r"meta l4proto vrrp counter packets (\d+)", table)
        assert match, table
        return int(match.group(1))

    backups = [lb for lb in lbs if lb not in holders]
    before = {lb: vrrp_packets(lb) for lb in backups}
    time.sleep(3.5)
    after = {lb: vrrp_packets(lb) for lb in backups}
    print(
        f"\nVIP on {holders[0]}; VRRP adverts accepted by the backup(s) in 3.5 s: "
        f"{ {lb: after[lb] - before[lb] for lb in backups} }"
    )
    assert all(after[lb] > before[lb] for lb in backups), (before, after)
