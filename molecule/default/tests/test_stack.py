"""The stack as a client sees it through the lb's HTTPS: both backends serve, and losing one costs nothing."""

import json
import shlex
import time

from webdemo_tools.hostcheck import group_hosts

testinfra_hosts = ["ansible://lb"]


def test_lb_reaches_both_backends(host):
    seen = set()
    for _ in range(40):
        body = host.check_output("curl -sS --fail --max-time 5 https://localhost/api/v1/info")
        seen.add(json.loads(body)["hostname"])
    assert seen == {backend.check_output("hostname") for backend in group_hosts("backend")}


def test_every_backend_is_healthy_on_its_own(host):
    for backend in group_hosts("backend"):
        out = backend.check_output("curl -sS --fail --max-time 5 http://localhost/api/v1/health")
        assert json.loads(out) == {"success": True}


def test_stopping_one_backend_costs_no_request(host):
    """A bounded loop of 300 requests through the lb; web1's service stops (socket too) a third of the way in."""
    requests, codes_file = 300, "/tmp/failover-codes"
    loop = (
        f"for i in $(seq 1 {requests}); do curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 "
        f"https://localhost/api/v1/health; sleep 0.02; done > {codes_file}"
    )
    host.check_output(f"nohup bash -c {shlex.quote(loop)} >/dev/null 2>&1 &")

    def answered():
        return int(host.check_output(f"cat {codes_file} 2>/dev/null | wc -l"))

    web1 = group_hosts("backend")[0]
    deadline = time.monotonic() + 60
    try:
        while answered() < requests // 3:
            assert time.monotonic() < deadline, "the request loop did not progress"
            time.sleep(0.2)
        web1.check_output("systemctl stop webdemo.socket webdemo.service")
        assert "bad gateway" in web1.run("curl -sS --max-time 5 http://localhost/api/v1/health").stdout
        while answered() < requests:
            assert time.monotonic() < deadline, "the request loop did not finish in time"
            time.sleep(0.2)
    finally:
        web1.check_output("systemctl start webdemo.socket webdemo.service")
    codes = host.check_output(f"cat {codes_file}").split()
    assert len(codes) == requests
    assert codes.count("200") == requests, {code: codes.count(code) for code in set(codes)}
    assert json.loads(web1.check_output("curl -sS --fail --max-time 5 http://localhost/api/v1/health"))["success"]
