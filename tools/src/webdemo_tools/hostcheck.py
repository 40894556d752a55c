"""Checks of a host under test, shared by every molecule scenario's testinfra tests.

`host` is a testinfra host. The helpers run their commands on that host (curl, systemd-analyze) or, for the
playbook runs, on the controller against molecule's inventory, so each scenario states only what it expects.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The hardening bar every long-running unit of the project meets (`systemd-analyze security` exposure).
MAX_EXPOSURE = 2.5


@dataclass(frozen=True)
class Response:
    status: int
    headers: str  # the raw header block, lower-cased
    body: str

    def json(self):
        return json.loads(self.body)


def request(host, url: str, *curl_args: str, timeout: int = 10) -> Response:
    """An HTTP request made with curl on `host` (so it sees what a client on that host sees)."""
    args = ["curl", "-sS", "--max-time", str(timeout), "-D", "/dev/stderr", *curl_args, url]
    cmd = host.run(" ".join(shlex.quote(arg) for arg in args))
    assert cmd.rc == 0, f"curl {url} failed on the host: {cmd.stderr}"
    # -D /dev/stderr: the headers of the last response come last on stderr (after any of a redirect).
    blocks = [b for b in re.split(r"\r?\n\r?\n", cmd.stderr) if b.startswith("HTTP/")]
    head = blocks[-1] if blocks else cmd.stderr
    return Response(int(head.split()[1]), head.lower(), cmd.stdout)


def get_json(host, url: str, *curl_args: str):
    """The JSON body of a request that must answer 200."""
    response = request(host, url, *curl_args)
    assert response.status == 200, f"{url}: {response.status} {response.body[:200]}"
    return response.json()


def exposure(host, unit: str) -> float:
    """systemd's own rating of a unit's sandbox (0 = locked down, 10 = exposed)."""
    out = host.check_output("systemd-analyze security --no-pager %s", unit)
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: ([0-9.]+)", out)
    assert match, out
    return float(match.group(1))


def assert_hardened(host, unit: str, limit: float = MAX_EXPOSURE) -> None:
    level = exposure(host, unit)
    assert level <= limit, f"{unit}: exposure {level} > {limit}"


def molecule_inventory() -> str:
    """The inventory molecule wrote for this scenario (a directory: generated hosts plus the scenario's groups)."""
    return str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent)


def run_playbook(playbook: Path | str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """ansible-playbook on the controller against the scenario's hosts."""
    return subprocess.run(
        ["ansible-playbook", "-i", molecule_inventory(), str(playbook), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_rejected_config_keeps_the_live_one(host, playbook: Path | str, config: str, service: str) -> None:
    """A play that renders a config the service's own validator rejects must fail and change nothing live."""
    before = host.file(config).sha256sum
    started = host.check_output("systemctl show -p ExecMainStartTimestamp %s", service)
    play = run_playbook(playbook)
    assert play.returncode != 0, "the play with a rejected config succeeded"
    assert "failed to validate" in play.stdout + play.stderr, play.stdout[-2000:]
    assert host.file(config).sha256sum == before, f"{config} changed although validation failed"
    assert host.service(service).is_running, f"{service} is not running after the rejected change"
    assert host.check_output("systemctl show -p ExecMainStartTimestamp %s", service) == started, (
        f"{service} was restarted by a rejected change"
    )


def group_hosts(group: str) -> list:
    """The testinfra hosts of an inventory group of the scenario."""
    import testinfra  # noqa: PLC0415 (only present where the tests run)

    return testinfra.get_hosts([f"ansible://{group}"], ansible_inventory=molecule_inventory())
