"""How the tools reach Prometheus: the monitoring plane answers HTTPS with basic auth only (roles/prometheus).

One place for the command-line options every tool that queries Prometheus takes (webdemo-check-promql,
webdemo-loadtest-summary) and for the requests themselves:

    --prometheus https://monitor:9090 --ca-file ca.crt --username webdemo-monitoring
    (the password from the environment: WEBDEMO_PROMETHEUS_PASSWORD, or --password-file)

The password never goes on a command line (process lists and Ansible's task output show those).
"""

from __future__ import annotations

import argparse
import base64
import os
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PASSWORD_ENV = "WEBDEMO_PROMETHEUS_PASSWORD"  # noqa: S105 (the variable's name, not a password)


@dataclass(frozen=True)
class Access:
    """Credentials and trust for one Prometheus: the CA as a file or as PEM text, a user and its password."""

    ca_file: str | None = None
    ca_pem: str | None = None
    username: str | None = None
    password: str | None = None

    def open(self, url: str, data: bytes | None = None, timeout: float = 10):
        """urllib's urlopen with basic auth (when a user is set) and, for https, the CA (else the system's)."""
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")  # noqa: S310
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = None
        if url.startswith("https://"):
            context = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_pem)
        return urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310 (http(s) checked by callers)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a tool that queries Prometheus (besides its --prometheus URL)."""
    parser.add_argument("--ca-file", help="PEM CA that Prometheus' certificate is verified against (https)")
    parser.add_argument("--username", help=f"basic auth user; the password comes from ${PASSWORD_ENV}")
    parser.add_argument("--password-file", type=Path, help=f"file holding the password (instead of ${PASSWORD_ENV})")


def from_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Access:
    password = os.environ.get(PASSWORD_ENV)
    if args.password_file:
        password = args.password_file.read_text(encoding="utf-8").strip()
    if args.username and not password:
        parser.error(f"--username {args.username}: set ${PASSWORD_ENV} or --password-file")
    return Access(ca_file=args.ca_file, username=args.username, password=password)
