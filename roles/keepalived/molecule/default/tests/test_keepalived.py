"""Two lbs share a virtual IP: it sits on exactly one, moves when its holder fails, and stays (nopreempt).

The tests run in file order and each starts from the state the one before left: the VIP moves first -> second
(nginx fails), second -> first (keepalived stops), first -> second (keepalived frozen), then keepalived is
killed. Every figure is measured from the controller, polling both hosts every ~0.1 s, and printed.
"""

import re
import time
from pathlib import Path

import pytest
from webdemo_tools import hostcheck

testinfra_hosts = ["ansible://lb"]
SCENARIO = Path(__file__).resolve().parent.parent
# Seconds a failure may take to move the VIP, and keepalived to come back after kill -9.
LIMIT = 5.0
# keepalived cannot meet the project's 2.5: it runs as root with CAP_NET_ADMIN (addresses), CAP_NET_RAW (VRRP,
# gratuitous ARP), CAP_SETUID/CAP_SETGID (the check's user), CAP_KILL, and IP/netlink/packet sockets on the host's
# network. Every other exposure item systemd-analyze lists is closed; this is the figure measured, not a target.
KEEPALIVED_MAX_EXPOSURE = 2.6
CONFIG = "/etc/keepalived/keepalived.conf"


def name(host):
    return host.backend.host


def priority(host):
    return int(re.search(r"^\s*priority (\d+)$", host.file(CONFIG).content_string, re.M).group(1))


@pytest.fixture(scope="module")
def lbs():
    """Both lbs, highest priority (the first of the lb group) first."""
    hosts = sorted(hostcheck.group_hosts("lb"), key=priority, reverse=True)
    assert len(hosts) == 2
    return hosts


@pytest.fixture(scope="module")
def vip(lbs):
    """The virtual IP address (without prefix) as keepalived was configured with it."""
    match = re.search(r"virtual_ipaddress \{\s*([0-9.]+)/\d+ dev", lbs[0].file(CONFIG).content_string)
    assert match, "no virtual_ipaddress in the rendered configuration"
    return match.group(1)


def holders(lbs, vip):
    return [host for host in lbs if f"inet {vip}/" in host.check_output("ip -4 -o addr show")]


def wait_until(predicate, what, timeout=15.0):
    """Seconds until predicate() is true (polled every 50 ms plus the probe's own time)."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - start


def state_since(host, epoch):
    """keepalived's last VRRP state change on host since epoch (MASTER, BACKUP, FAULT), or None."""
    log = host.check_output("journalctl -u keepalived -o cat --since @%s --no-pager", epoch)
    states = re.findall(r"Entering (\w+) STATE", log)
    return states[-1] if states else None


def back_as_backup(host, since, others, vip):
    """After a host recovered: it reached BACKUP, and three adverts later the VIP is still where it was."""
    wait_until(lambda: state_since(host, since) == "BACKUP", f"{name(host)} back as backup")
    time.sleep(3)
    return [name(h) for h in holders(others, vip)]


def test_keepalived_runs_hardened_and_restarts_on_failure(lbs):
    for host in lbs:
        service = host.service("keepalived")
        assert service.is_running and service.is_enabled
        assert host.check_output("systemctl show -p Restart --value keepalived") == "on-failure"
        level = hostcheck.exposure(host, "keepalived.service")
        print(f"\n{name(host)}: keepalived.service exposure {level}")
        assert level <= KEEPALIVED_MAX_EXPOSURE


def test_the_live_config_passes_the_config_test_and_a_broken_one_does_not(lbs):
    for host in lbs:
        assert host.run("keepalived-config-test %s", CONFIG).rc == 0
        host.check_output("sed 's/^\\( *priority\\) .*/\\1 300/' %s > /tmp/broken.conf", CONFIG)
        broken = host.run("keepalived-config-test /tmp/broken.conf")
        assert broken.rc != 0 and "outside range" in broken.stderr, broken.stderr


def test_the_vip_is_on_the_first_lb_only_and_serves(lbs, vip):
    assert holders(lbs, vip) == [lbs[0]]
    # The backup reaches the holder's nginx through the VIP (the holder answers ARP for it): its plain-HTTP
    # redirect to HTTPS is the proof.
    answer = lbs[1].check_output(
        "curl -sS -o /dev/null -w '%%{http_code} %%{redirect_url}' --max-time 2 http://%s/api/v1/health", vip
    )
    assert answer == f"301 https://{vip}/api/v1/health"


def test_nginx_failing_on_the_holder_moves_the_vip_which_stays_after_recovery(lbs, vip):
    first, second = lbs
    since = first.check_output("date +%s")
    first.check_output("systemctl stop nginx")
    moved = wait_until(lambda: holders(lbs, vip) == [second], "VIP on the second lb after nginx stopped")
    print(f"\nnginx stopped on {name(first)}: VIP on {name(second)} after {moved:.1f} s")
    assert moved <= LIMIT
    first.check_output("systemctl start nginx")
    assert back_as_backup(first, since, lbs, vip) == [name(second)], "nopreempt: the VIP should have stayed"


def test_losing_the_holders_keepalived_moves_the_vip(lbs, vip):
    first, second = lbs
    since = second.check_output("date +%s")
    second.check_output("systemctl stop keepalived")
    moved = wait_until(lambda: holders(lbs, vip) == [first], "VIP on the first lb after keepalived stopped")
    print(f"\nkeepalived stopped on {name(second)}: VIP on {name(first)} after {moved:.1f} s")
    assert moved <= LIMIT
    second.check_output("systemctl start keepalived")
    assert back_as_backup(second, since, lbs, vip) == [name(first)], "nopreempt: the VIP should have stayed"


def test_a_silent_holder_loses_the_vip_after_the_advert_timeout(lbs, vip):
    """Frozen (SIGSTOP), the holder sends nothing, like a host that died: the backup waits 3 adverts + skew."""
    first, second = lbs
    first.check_output("systemctl kill --signal=SIGSTOP keepalived")
    try:
        moved = wait_until(lambda: second in holders(lbs, vip), "VIP taken by the second lb")
    finally:
        first.check_output("systemctl kill --signal=SIGCONT keepalived")
    print(f"\nkeepalived frozen on {name(first)}: VIP taken by {name(second)} after {moved:.1f} s")
    assert moved <= LIMIT
    # The woken holder never left MASTER: the higher priority of the two masters keeps the address.
    settled = wait_until(lambda: len(holders(lbs, vip)) == 1, "one holder again")
    print(f"woken: the VIP is on {name(holders(lbs, vip)[0])} alone {settled:.1f} s later")


def test_kill_9_of_keepalived_brings_it_back_and_the_vip_lives_on(lbs, vip):
    (holder,) = holders(lbs, vip)
    before = holder.check_output("systemctl show -p MainPID --value keepalived")
    holder.check_output("kill -9 %s", before)
    back = wait_until(
        lambda: (
            holder.check_output("systemctl show -p MainPID --value keepalived") not in ("0", before)
            and holder.service("keepalived").is_running
        ),
        "keepalived running again",
    )
    print(f"\nkill -9 of keepalived on {name(holder)}: running again after {back:.1f} s")
    assert back <= LIMIT
    settled = wait_until(lambda: len(holders(lbs, vip)) == 1, "one holder after the restart")
    print(f"VIP on {name(holders(lbs, vip)[0])} alone ({settled:.1f} s after the restart)")


def test_rejected_config_fails_the_play_and_keeps_the_live_one(lbs, vip):
    hostcheck.assert_rejected_config_keeps_the_live_one(lbs[0], SCENARIO / "bad-config.yml", CONFIG, "keepalived")
    assert len(holders(lbs, vip)) == 1
