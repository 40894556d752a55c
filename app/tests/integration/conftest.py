"""Start a real gunicorn (``python -m gunicorn -c python:webdemo.gunicorn_conf ...``) on
127.0.0.1 with a temporary PROMETHEUS_MULTIPROC_DIR. Every wait is bounded."""

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, tmp_path: Path, workers: int, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.multiproc_dir = tmp_path / "prometheus"
        self.multiproc_dir.mkdir(parents=True)
        self.workers = workers
        self.log_path = tmp_path / "gunicorn.log"
        child_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("WEBDEMO_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        child_env.update(
            PYTHONPATH=str(SRC),
            WEBDEMO_BIND=f"127.0.0.1:{self.port}",
            WEBDEMO_WORKERS=str(workers),
            WEBDEMO_LOG_LEVEL="info",
            PROMETHEUS_MULTIPROC_DIR=str(self.multiproc_dir),
            **env,
        )
        self._log = open(self.log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:webdemo.gunicorn_conf",
                "webdemo.wsgi:app",
            ],
            env=child_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=str(tmp_path),
        )
        self.master = psutil.Process(self.proc.pid)

    def worker_pids(self) -> set[int]:
        try:
            return {c.pid for c in self.master.children() if c.status() != psutil.STATUS_ZOMBIE}
        except psutil.NoSuchProcess:
            return set()

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited early:\n{self.log()}")
            if len(self.worker_pids()) == self.workers:
                try:
                    if requests.get(self.base + "/api/v1/health", timeout=2).status_code == 200:
                        return
                except requests.ConnectionError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"gunicorn not ready after {timeout}s:\n{self.log()}")

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
        self._log.close()


@pytest.fixture
def start_gunicorn(tmp_path):
    started: list[Gunicorn] = []

    def _start(workers: int = 3, **env: str) -> Gunicorn:
        server = Gunicorn(tmp_path / f"g{len(started)}", workers, **env)
        started.append(server)
        server.wait_ready()
        return server

    yield _start
    for server in started:
        server.stop()
