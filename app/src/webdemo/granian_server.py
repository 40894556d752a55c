"""granian entry point: ``webdemo-granian`` (or ``python -m webdemo.granian_server``).

The same app (webdemo.wsgi:app), the same environment (webdemo.settings) and the same guarantees
as under gunicorn (gunicorn_conf.py), through granian's Python API rather than its CLI, for three
things the CLI of granian 2.8 cannot do:

- **systemd socket activation.** The CLI binds its own socket (``--uds``/``--host``) and has no
  option to serve an inherited one (granian issue #786). Started by systemd with ``LISTEN_FDS``,
  this launcher serves fd 3, the socket webdemo.socket owns: the service needs no network of its
  own and connections wait in the socket's backlog while it restarts, as under gunicorn. The fd
  goes to granian's own ``SocketHolder(fd, uds, backlog)``, the object granian builds for ``--uds``
  and hands to its workers. Without ``LISTEN_FDS`` granian binds WEBDEMO_BIND itself (a unix
  socket gets mode 0660).
- **dead workers marked** in the multiprocess metrics directory: granian has no ``child_exit``
  hook; the master's watcher thread of each worker (which already waits for the worker's exit,
  kill -9 included, to respawn it) calls prometheus_client's ``mark_process_dead`` first, as
  gunicorn's ``child_exit`` does. (Not an atexit in the worker: granian's workers are
  multiprocessing children, which end with os._exit, and kill -9 runs nothing.)
- **sd_notify READY=1** once the workers are spawned (the unit is ``Type=notify`` for both).

Stale metric files are wiped at start (as gunicorn's ``on_starting``); a crashed worker is
respawned (``respawn_failed_workers``; granian exits, and systemd restarts it, when the same
worker fails twice within 5.5 s); SIGTERM stops accepting, lets in-flight requests finish and
kills workers still busy after WEBDEMO_GRACEFUL_TIMEOUT (``workers_kill_timeout``). One difference
remains: at its graceful stop granian (hyper) closes the connections a worker accepted but whose
request it has not read yet, so a restart under traffic can lose a request that gunicorn would
serve; the rolling deploy drains the host from the load balancers before it restarts.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from webdemo.settings import Settings, check_multiproc, wipe_stale_metric_files

log = logging.getLogger("webdemo.granian")

# sd_listen_fds(3): the first passed descriptor.
SD_LISTEN_FDS_START = 3
# As gunicorn_conf.backlog (systemd's socket has its own Backlog=, which wins when it is inherited).
BACKLOG = 2048
# Mode of a unix socket granian binds itself (without systemd): nginx's group may connect.
UDS_MODE = 0o660


def inherited_fd(environ: dict[str, str] | None = None) -> int | None:
    """The listening socket systemd passed (LISTEN_FDS/LISTEN_PID, sd_listen_fds(3)), or None.

    The variables are removed from the environment either way (unset_environment=1), so workers and
    the WSGI environ (granian copies os.environ into it) never see them.
    """
    env = os.environ if environ is None else environ
    pid = env.pop("LISTEN_PID", None)
    fds = env.pop("LISTEN_FDS", None)
    env.pop("LISTEN_FDNAMES", None)
    if pid is None or fds is None or not pid.isdigit() or int(pid) != os.getpid():
        return None
    if not fds.isdigit() or int(fds) < 1:
        return None
    if int(fds) > 1:
        raise RuntimeError(f"LISTEN_FDS={fds}: webdemo serves exactly one socket")
    return SD_LISTEN_FDS_START


def sd_notify(state: str) -> None:
    """Tell systemd our state (no-op outside a Type=notify unit). Same protocol as gunicorn's."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address[0] == "@":
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        log.warning("sd_notify(%s) failed", state.split("\n", 1)[0], exc_info=True)


def load_app() -> Callable[..., Any]:
    """Imported in each worker after the fork (granian's callback loader), never in the master."""
    from webdemo.wsgi import app

    return app


def build_server(settings: Settings, fd: int | None):
    """A granian server for the settings, serving `fd` when given (else binding settings.bind)."""
    from granian._granian import SocketHolder
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    on_exit = _marker(settings.multiproc_dir)

    class WebdemoGranian(Server):  # granian.server.MPServer on CPython with the GIL
        def _init_shared_socket(self) -> None:
            if fd is None:
                super()._init_shared_socket()
                return
            # What MPServer._init_shared_socket does for --uds, with systemd's descriptor instead
            # of a freshly bound one; bind_uds stays None: granian never unlinks systemd's socket.
            with socket.socket(fileno=os.dup(fd)) as probe:
                is_uds = probe.family == socket.AF_UNIX
            self._ssp = None
            self._shd = SocketHolder(fd, is_uds, self.backlog)
            self._sfd = fd
            self._sso = socket.socket(fileno=fd)
            self._sso.set_inheritable(True)

        @property
        def _bind_addr_fmt(self) -> str:
            if fd is None:
                return super()._bind_addr_fmt
            return f"systemd socket fd {fd} ({settings.bind})"

        def _spawn_worker(self, idx, target, callback_loader):
            worker = super()._spawn_worker(idx, target, callback_loader)
            report = worker._watcher  # joins the worker, then respawns it unless we stopped it

            def watch() -> None:
                worker.inner.join()
                on_exit(worker.inner.pid)
                report()

            worker._watcher = watch
            return worker

        def startup(self, spawn_target, target_loader) -> None:
            super().startup(spawn_target, target_loader)
            sd_notify(f"READY=1\nSTATUS=granian: {self.workers} workers")

        def shutdown(self, exit_code: int = 0) -> None:
            sd_notify("STOPPING=1")
            super().shutdown(exit_code)

    bind: dict[str, Any] = {}
    if fd is None:
        if settings.bind.startswith("unix:"):
            bind = {"uds": Path(settings.bind[len("unix:") :]), "uds_permissions": UDS_MODE}
        else:
            host, _, port = settings.bind.rpartition(":")
            bind = {"address": host.strip("[]"), "port": int(port)}
    return WebdemoGranian(
        "webdemo.wsgi:app",
        interface=Interfaces.WSGI,
        workers=settings.workers,
        # The handlers never block: one Python thread per worker, as gunicorn's gthread x 1 (more
        # only add GIL hand-offs; granian's default for WSGI is backlog/workers/2 threads).
        blocking_threads=settings.threads,
        backlog=BACKLOG,
        http=HTTPModes.http1,  # nginx speaks HTTP/1.1 to its upstreams
        http1_settings=HTTP1Settings(keep_alive=settings.keepalive > 0),
        websockets=False,
        log_level=LogLevels(settings.log_level),
        log_access=settings.access_log is not None,
        respawn_failed_workers=True,
        workers_kill_timeout=settings.graceful_timeout,
        **bind,
    )


def _marker(directory: str | None) -> Callable[[int | None], None]:
    """What the master does when a worker exits: prometheus_client's mark_process_dead."""
    if directory is None:
        return lambda pid: None
    from prometheus_client import multiprocess

    def mark(pid: int | None) -> None:
        if pid is not None:
            multiprocess.mark_process_dead(pid, directory)

    return mark


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv:
        print(
            "usage: webdemo-granian (configured by the environment: app/README.md)", file=sys.stderr
        )
        return 2
    settings = Settings.from_env(os.environ)
    check_multiproc(settings)
    if settings.access_log not in (None, "-"):
        raise ValueError(
            f"WEBDEMO_ACCESS_LOG={settings.access_log}: granian writes its access log to stdout "
            "only (use '-' for the journal, or off)"
        )
    if settings.max_requests:
        raise ValueError(
            f"WEBDEMO_MAX_REQUESTS={settings.max_requests}: granian cannot recycle a worker after "
            "N requests (gunicorn only); leave it 0"
        )
    fd = inherited_fd()
    server = build_server(settings, fd)
    removed = wipe_stale_metric_files(settings.multiproc_dir)
    if removed:
        log.info("Removed %d stale metric files from %s", removed, settings.multiproc_dir)
    server.serve(target_loader=load_app, wrap_loader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
