"""gunicorn configuration: ``gunicorn -c python:webdemo.gunicorn_conf webdemo.wsgi:app``.

Reads the same environment as the app (webdemo.settings), once, in the master. A bad value
stops gunicorn before it binds, with a ValueError naming the variable.
"""

from __future__ import annotations

import glob
import os

from webdemo.settings import Settings

_settings = Settings.from_env(os.environ)

if _settings.metrics_enabled and _settings.workers > 1 and _settings.multiproc_dir is None:
    # Without a shared directory every worker would keep its own counters and each scrape would
    # see one random worker's share: silently wrong metrics. Refuse instead.
    raise RuntimeError(
        f"WEBDEMO_WORKERS={_settings.workers} with metrics enabled needs PROMETHEUS_MULTIPROC_DIR "
        "(an empty directory writable by the service, e.g. systemd RuntimeDirectory=webdemo and "
        "PROMETHEUS_MULTIPROC_DIR=/run/webdemo/prometheus)"
    )

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

# Request limits: the API has short URLs and few headers; refuse anything far beyond that.
limit_request_line = 4094  # bytes in the request line (gunicorn's default, its maximum is 8190)
limit_request_fields = 50  # header count (default 100)
limit_request_field_size = 8190  # bytes per header line

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
    """Wipe stale metric files left by a previous run of the master.

    Only when a directory is given. Files of dead pids would otherwise be summed into the new
    run's counters (counters would not restart from 0 and gauges of old pids would linger).
    Under systemd the RuntimeDirectory is created empty on every start, so this is a safety net
    for manual runs and for directories that outlive the service; it only removes *.db files.
    """
    directory = _settings.multiproc_dir
    if directory is None:
        return
    if not os.path.isdir(directory):
        raise RuntimeError(f"PROMETHEUS_MULTIPROC_DIR={directory} is not an existing directory")
    if not os.access(directory, os.W_OK):
        raise RuntimeError(f"PROMETHEUS_MULTIPROC_DIR={directory} is not writable")
    stale = glob.glob(os.path.join(directory, "*.db"))
    for path in stale:
        os.unlink(path)
    if stale:
        server.log.info("Removed %d stale metric files from %s", len(stale), directory)


def child_exit(server, worker):
    """A worker exited (also after kill -9): drop its live-gauge files. Counters and histograms
    of the dead worker stay in the directory, so totals never go backwards."""
    if _settings.multiproc_dir is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, _settings.multiproc_dir)
