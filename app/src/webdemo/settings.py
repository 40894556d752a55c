"""Settings read once from the environment.

Every knob of the app and of gunicorn lives here, so that the app (wsgi.py) and the gunicorn
config (gunicorn_conf.py) agree, and a bad value stops the start with a ValueError that names
the variable.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

SERVERS = ("gunicorn", "granian")
WORKER_CLASSES = ("sync", "gthread")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def default_workers() -> int:
    """One worker per core (at least 2).

    The app is CPU-bound Python; on the 2-core target nginx (and, in the lab, the load
    generator) share the cores, so gunicorn's classic 2*cores+1 only adds context switches and
    memory. Measured with bench/run.sh: 2 workers beat 5 on 2 cores.
    """
    return max(2, os.cpu_count() or 1)


def _str(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _float(
    env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float
) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {raw!r}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _str(env, name, default).lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _bind(env: Mapping[str, str], name: str, default: str) -> str:
    value = _str(env, name, default)
    if value.startswith("unix:"):
        if not value[len("unix:") :].startswith("/"):
            raise ValueError(f"{name} must be HOST:PORT or unix:/absolute/path, got {value!r}")
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{name} must be HOST:PORT or unix:/absolute/path, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    # --- app ---
    info_enabled: bool = True  # WEBDEMO_INFO_ENABLED
    metrics_enabled: bool = True  # WEBDEMO_METRICS_ENABLED
    max_body_bytes: int = 1024 * 1024  # WEBDEMO_MAX_BODY_BYTES
    test_delay_seconds: float = 0.0  # WEBDEMO_TEST_DELAY_SECONDS (needs WEBDEMO_ALLOW_TEST_DELAY)
    allow_test_delay: bool = False  # WEBDEMO_ALLOW_TEST_DELAY
    multiproc_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR (read by prometheus_client too)
    # --- the server (gunicorn or granian) ---
    server: str = "gunicorn"  # WEBDEMO_SERVER (read by webdemo-serve; informative otherwise)
    bind: str = "127.0.0.1:8000"  # WEBDEMO_BIND
    workers: int = 2  # WEBDEMO_WORKERS
    worker_class: str = "gthread"  # WEBDEMO_WORKER_CLASS
    threads: int = 1  # WEBDEMO_THREADS
    timeout: int = 30  # WEBDEMO_TIMEOUT
    graceful_timeout: int = 30  # WEBDEMO_GRACEFUL_TIMEOUT
    keepalive: int = 5  # WEBDEMO_KEEPALIVE
    access_log: str | None = None  # WEBDEMO_ACCESS_LOG ("-" = stdout, unset/"off" = none)
    log_level: str = "info"  # WEBDEMO_LOG_LEVEL
    max_requests: int = 0  # WEBDEMO_MAX_REQUESTS (0 = never recycle workers)
    max_requests_jitter: int = 0  # WEBDEMO_MAX_REQUESTS_JITTER

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        test_delay = _float(environ, "WEBDEMO_TEST_DELAY_SECONDS", 0.0, 0.0, 60.0)
        allow_test_delay = _bool(environ, "WEBDEMO_ALLOW_TEST_DELAY", False)
        if test_delay > 0 and not allow_test_delay:
            raise ValueError(
                "WEBDEMO_TEST_DELAY_SECONDS is a test-only latency and is refused unless "
                "WEBDEMO_ALLOW_TEST_DELAY=true is also set"
            )
        access_log = _str(environ, "WEBDEMO_ACCESS_LOG", "off")
        multiproc_dir = environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        if multiproc_dir is not None and not os.path.isabs(multiproc_dir):
            raise ValueError(
                f"PROMETHEUS_MULTIPROC_DIR must be an absolute path, got {multiproc_dir!r}"
            )
        return cls(
            info_enabled=_bool(environ, "WEBDEMO_INFO_ENABLED", True),
            metrics_enabled=_bool(environ, "WEBDEMO_METRICS_ENABLED", True),
            max_body_bytes=_int(environ, "WEBDEMO_MAX_BODY_BYTES", 1024 * 1024, 0, 1 << 31),
            test_delay_seconds=test_delay,
            allow_test_delay=allow_test_delay,
            multiproc_dir=multiproc_dir,
            server=_choice(environ, "WEBDEMO_SERVER", "gunicorn", SERVERS),
            bind=_bind(environ, "WEBDEMO_BIND", "127.0.0.1:8000"),
            workers=_int(environ, "WEBDEMO_WORKERS", default_workers(), 1, 64),
            worker_class=_choice(environ, "WEBDEMO_WORKER_CLASS", "gthread", WORKER_CLASSES),
            threads=_int(environ, "WEBDEMO_THREADS", 1, 1, 64),
            timeout=_int(environ, "WEBDEMO_TIMEOUT", 30, 1, 3600),
            graceful_timeout=_int(environ, "WEBDEMO_GRACEFUL_TIMEOUT", 30, 1, 3600),
            keepalive=_int(environ, "WEBDEMO_KEEPALIVE", 5, 0, 3600),
            access_log=None if access_log.lower() in ("off", *_FALSE) else access_log,
            log_level=_choice(environ, "WEBDEMO_LOG_LEVEL", "info", LOG_LEVELS),
            max_requests=_int(environ, "WEBDEMO_MAX_REQUESTS", 0, 0, 10_000_000),
            max_requests_jitter=_int(environ, "WEBDEMO_MAX_REQUESTS_JITTER", 0, 0, 10_000_000),
        )


def check_multiproc(settings: Settings) -> None:
    """Refuse several workers with metrics but no shared directory (either server, at start)."""
    if settings.metrics_enabled and settings.workers > 1 and settings.multiproc_dir is None:
        # Without a shared directory every worker would keep its own counters and each scrape would
        # see one random worker's share: silently wrong metrics. Refuse instead.
        raise RuntimeError(
            f"WEBDEMO_WORKERS={settings.workers} with metrics enabled needs "
            "PROMETHEUS_MULTIPROC_DIR (an empty directory writable by the service, e.g. systemd "
            "RuntimeDirectory=webdemo and PROMETHEUS_MULTIPROC_DIR=/run/webdemo/prometheus)"
        )


def wipe_stale_metric_files(directory: str | None) -> int:
    """Remove the *.db files a previous run left in the multiprocess directory; how many.

    Files of dead pids would otherwise be summed into the new run's counters (counters would not
    restart from 0 and gauges of old pids would linger). Under systemd the RuntimeDirectory is
    created empty on every start, so this is a safety net for manual runs and for directories that
    outlive the service; it only removes *.db files.
    """
    if directory is None:
        return 0
    if not os.path.isdir(directory):
        raise RuntimeError(f"PROMETHEUS_MULTIPROC_DIR={directory} is not an existing directory")
    if not os.access(directory, os.W_OK):
        raise RuntimeError(f"PROMETHEUS_MULTIPROC_DIR={directory} is not writable")
    stale = glob.glob(os.path.join(directory, "*.db"))
    for path in stale:
        os.unlink(path)
    return len(stale)
