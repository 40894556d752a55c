"""gunicorn configuration: ``gunicorn -c python:webdemo.gunicorn_conf webdemo.wsgi:app``.

Reads the same environment as the app (webdemo.settings), once, in the master. A bad value
stops gunicorn before it binds, with a ValueError naming the variable.
"""

from __future__ import annotations

import os

from webdemo.settings import Settings, check_multiproc, wipe_stale_metric_files

_settings = Settings.from_env(os.environ)

check_multiproc(_settings)

# --- socket and workers -------------------------------------------------------------------
bind = [_settings.bind]  # HOST:PORT or unix:/path
# Worker model, measured with bench/run.sh on 2 cores (nginx in front, upstream keepalive):
# - gthread keeps nginx's upstream connections open (a sync worker closes every connection, so
#   each request pays accept/close); idle keep-alive connections wait in the worker's poller,
#   not in a thread.
# - 1 thread per worker: the handlers never block (no I/O beyond /proc reads), so extra threads
#   only add GIL hand-offs; 2 workers x 4 threads was ~30% slower than 2 x 1.
# - 2 processes = one per core: the app is CPU-bound Python and nginx shares the cores; 3 sync
#   workers were no faster than 2.
# - unix socket or 127.0.0.1: within noise once connections are kept alive.
workers = _settings.workers
worker_class = _settings.worker_class
threads = _settings.threads
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout  # SIGTERM: finish in-flight requests this long
keepalive = _settings.keepalive  # seconds an idle keep-alive connection stays open (gthread)
max_requests = _settings.max_requests  # 0 = never recycle workers
max_requests_jitter = _settings.max_requests_jitter
backlog = 2048
# The worker heartbeat touches a file on every loop turn: keep it on tmpfs, not on disk
# (systemd's PrivateTmp=/tmp is on the root filesystem). gunicorn creates it with mkstemp and
# unlinks it at once, so a shared directory is safe here.
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None
proc_name = "webdemo"

# Request limits: the app enforces its own (webdemo.app: request line 4094 bytes, 50 header
# fields, 8190 bytes per header line) and answers JSON 414/431 under either server. gunicorn's
# parser keeps only hard ceilings above them, so the app sees every request up to those ceilings;
# beyond them gunicorn answers its own HTML 414/431 (nginx in front refuses far less: 8 KiB).
limit_request_line = 8190  # gunicorn's maximum (0 would mean unlimited)
limit_request_fields = 100  # gunicorn's default; granian (hyper) refuses more than 100 too
limit_request_field_size = 16380  # twice the app's limit

# Only nginx on this host talks to gunicorn: trust X-Forwarded-* from loopback only.
forwarded_allow_ips = "127.0.0.1,::1"

# gunicorn >= 25.1 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl by default; the service user has no writable home and nothing uses
# gunicornc here.
control_socket_disable = True

# --- logging ------------------------------------------------------------------------------
# No access log by default: nginx already logs every request, and gunicorn's access log costs
# throughput. WEBDEMO_ACCESS_LOG=- writes it to stdout (the journal under systemd).
accesslog = _settings.access_log
errorlog = "-"  # stderr -> journal
loglevel = _settings.log_level
capture_output = False


# --- prometheus_client multiprocess mode ---------------------------------------------------
def on_starting(server):
    """Wipe stale metric files left by a previous run (webdemo.settings.wipe_stale_metric_files)."""
    removed = wipe_stale_metric_files(_settings.multiproc_dir)
    if removed:
        server.log.info("Removed %d stale metric files from %s", removed, _settings.multiproc_dir)


def child_exit(server, worker):
    """A worker exited (also after kill -9): drop its live-gauge files. Counters and histograms
    of the dead worker stay in the directory, so totals never go backwards."""
    if _settings.multiproc_dir is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, _settings.multiproc_dir)
