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


def monitoring_credentials(host) -> tuple[str, str]:
    """The monitoring plane's one user and password, as the scenario's inventory defines them
    (webdemo_monitoring_username/_password in .config/molecule/config.yml): the tests keep no copy."""
    variables = host.ansible.get_variables()
    return variables["webdemo_monitoring_username"], variables["webdemo_monitoring_password"]


def get_secured_json(host, url: str, ca_file: str):
    """The JSON body of an HTTPS request with the monitoring credentials, verified against `ca_file`."""
    user, password = monitoring_credentials(host)
    return get_json(host, url, "--cacert", ca_file, "-u", f"{user}:{password}")


def assert_closed_to_strangers(host, url: str, ca_file: str) -> dict[str, object]:
    """An endpoint of the monitoring plane (https://...): 401 without credentials or with a wrong password, 200
    with the monitoring credentials, its certificate verified against `ca_file`; plain HTTP on the same port serves
    nothing (refused, reset or a 400 from the TLS server). Returns what each attempt got."""
    user, password = monitoring_credentials(host)
    seen: dict[str, object] = {
        "no credentials": request(host, url, "--cacert", ca_file).status,
        "wrong password": request(host, url, "--cacert", ca_file, "-u", f"{user}:not-{password}").status,
        "credentials": request(host, url, "--cacert", ca_file, "-u", f"{user}:{password}").status,
    }
    plain = host.run(
        "curl -sS --max-time 5 -o /dev/null -w %s -u %s %s",
        "%{http_code}",
        f"{user}:{password}",
        url.replace("https://", "http://", 1),
    )
    seen["plain http"] = f"curl exit {plain.rc}, status {plain.stdout.strip() or '-'}"
    assert seen["no credentials"] == 401 and seen["wrong password"] == 401 and seen["credentials"] == 200, (url, seen)
    assert plain.rc != 0 or plain.stdout.strip() == "400", (url, seen)
    return seen
