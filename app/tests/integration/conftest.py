"""Start a real server, gunicorn or granian (``python -m gunicorn -c python:webdemo.gunicorn_conf
...`` or ``python -m webdemo.granian_server``), with a temporary PROMETHEUS_MULTIPROC_DIR, on
127.0.0.1 or on a unix socket handed over the way systemd does (LISTEN_FDS). Every wait is
bounded. Tests that take the ``start_server`` fixture run once per server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

SRC = Path(__file__).resolve().parents[2] / "src"
SERVERS = ("gunicorn", "granian")
COMMANDS = {
    "gunicorn": ["-m", "gunicorn", "-c", "python:webdemo.gunicorn_conf", "webdemo.wsgi:app"],
    "granian": ["-m", "webdemo.granian_server"],
}
# Runs the server with the listening socket as fd 3 and LISTEN_PID/LISTEN_FDS set for its own pid,
# as systemd does for a socket-activated service (the pid stays the same across exec).
SYSTEMD_SHIM = (
    "import os, sys; os.dup2(int(os.environ.pop('SHIM_FD')), 3); "
    "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UnixAdapter(requests.adapters.HTTPAdapter):
    """requests over a unix socket (http://localhost/... goes to `path`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__()

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        from urllib3.connection import HTTPConnection
        from urllib3.connectionpool import HTTPConnectionPool

        path = self.path

        class Conn(HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(self.timeout if isinstance(self.timeout, int | float) else 5)
                self.sock.connect(path)

        class Pool(HTTPConnectionPool):
            ConnectionCls = Conn

        return Pool("localhost")


class Server:
    """One server process. With `listener` (a bound, listening unix socket) it serves that socket,
    inherited as from systemd; otherwise it binds 127.0.0.1:<free port> itself."""

    def __init__(
        self, kind: str, tmp_path: Path, workers: int, listener: socket.socket | None, **env: str
    ) -> None:
        self.kind = kind
        self.workers = workers
        self.listener = listener
        self.session = requests.Session()
        if listener is None:
            self.port = free_port()
            bind = f"127.0.0.1:{self.port}"
            self.base = f"http://127.0.0.1:{self.port}"
        else:
            bind = "unix:" + listener.getsockname()
            self.base = "http://localhost"
            self.session.mount("http://localhost", UnixAdapter(listener.getsockname()))
        self.multiproc_dir = tmp_path / "prometheus"
        self.multiproc_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp_path / f"{kind}.log"
        child_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WEBDEMO_", "LISTEN_")) and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        child_env.update(
            PYTHONPATH=str(SRC),
            WEBDEMO_BIND=bind,
            WEBDEMO_WORKERS=str(workers),
            WEBDEMO_LOG_LEVEL="info",
            PROMETHEUS_MULTIPROC_DIR=str(self.multiproc_dir),
            **env,
        )
        command = [sys.executable, *COMMANDS[kind]]
        pass_fds: tuple[int, ...] = ()
        if listener is not None:
            child_env["SHIM_FD"] = str(listener.fileno())
            command = [sys.executable, "-c", SYSTEMD_SHIM, *COMMANDS[kind]]
            pass_fds = (listener.fileno(),)
        self._log = open(self.log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            command,
            env=child_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=str(tmp_path),
            pass_fds=pass_fds,
        )
        self.master = psutil.Process(self.proc.pid)

    def get(self, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 5)
        return self.session.get(self.base + path, **kwargs)

    def worker_pids(self) -> set[int]:
        try:
            return {c.pid for c in self.master.children() if c.status() != psutil.STATUS_ZOMBIE}
        except psutil.NoSuchProcess:
            return set()

    def wait_ready(self, timeout: float = 15.0, path: str = "/api/v1/health") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.kind} exited early:\n{self.log()}")
            if len(self.worker_pids()) == self.workers:
                try:
                    if self.get(path, timeout=2).status_code == 200:
                        return
                except requests.ConnectionError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"{self.kind} not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                for child in self.master.children(recursive=True):
                    child.kill()
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.session.close()
        self._log.close()


@pytest.fixture(params=SERVERS)
def server_kind(request) -> str:
    return request.param


@pytest.fixture
def start_server(tmp_path, server_kind):
    """start_server(workers=3, listener=None, kind=<the test's server>, ready_path=health, **env)
    -> a ready Server (one request to ready_path answered)."""
    started: list[Server] = []

    def _start(
        workers: int = 3,
        listener: socket.socket | None = None,
        kind: str | None = None,
        ready_path: str = "/api/v1/health",
        **env: str,
    ) -> Server:
        server = Server(
            kind or server_kind, tmp_path / f"s{len(started)}", workers, listener, **env
        )
        started.append(server)
        server.wait_ready(path=ready_path)
        return server

    yield _start
    for server in started:
        server.stop()


@pytest.fixture
def unix_listener(tmp_path):
    """A listening unix socket owned by the test, as webdemo.socket is owned by systemd."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path = tmp_path / "webdemo.sock"
    sock.bind(str(path))
    sock.listen(2048)
    yield sock
    sock.close()
