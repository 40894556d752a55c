"""Prometheus metrics: the request-duration histogram, a build-info gauge, and the exposition.

Measuring happens in a WSGI middleware around the Bottle app: it times the whole app call and
takes the status from start_response, so 404/405/413/500 responses produced by Bottle itself
are observed too. The path label is the matched ROUTE TEMPLATE (environ["bottle.route"].rule;
``request.route`` raises on a 404), or UNMATCHED; the method label is bounded to KNOWN_METHODS.
Labels can therefore take only a few values whatever clients send.

Multiprocess mode (PROMETHEUS_MULTIPROC_DIR set, always with several gunicorn workers): each
worker writes its samples to mmap'ed files in that directory and a scrape, served by any worker,
aggregates all files with a fresh registry + MultiProcessCollector. prometheus_client picks the
file-backed value class at import time, so the variable must be in the environment before the
process starts (systemd's Environment=, not set from Python).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    multiprocess,
    values,
)
from prometheus_client.exposition import choose_encoder

from . import __version__

# 0.15 is a boundary on purpose: the HighLatency alert uses a 150 ms threshold and needs an
# exact bucket (le="0.15") for histogram_quantile / ratio queries.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
OTHER_METHOD = "other"
UNMATCHED = "<unmatched>"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Metrics:
    """The app's metric objects. Not registered globally, so tests can build many apps."""

    def __init__(self, multiproc_dir: str | None) -> None:
        if multiproc_dir is not None and values.ValueClass is values.MutexValue:
            raise RuntimeError(
                "PROMETHEUS_MULTIPROC_DIR must be set in the environment before the process "
                "starts (prometheus_client chooses file-backed values at import time)"
            )
        self.multiproc_dir = multiproc_dir
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time spent handling HTTP requests in the app (seconds).",
            ("method", "path", "status_code"),
            buckets=BUCKETS,
            registry=None,
        )
        # 'max' aggregates across workers without a pid label and survives dead workers.
        self.build_info = Gauge(
            "webdemo_build_info",
            "Always 1; labels carry the app version and Python version.",
            ("version", "python"),
            registry=None,
            multiprocess_mode="max",
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self._children: dict[tuple[str, str, str], Any] = {}
        if multiproc_dir is None:
            # Single process: one registry for the life of the app, with the default process_*
            # and python_info collectors.
            self._registry = CollectorRegistry(auto_describe=True)
            self._registry.register(self.duration)
            self._registry.register(self.build_info)
            self._registry.register(ProcessCollector(registry=None))
            self._registry.register(PlatformCollector(registry=None))
        else:
            self._registry = None

    def observe(self, method: str, path: str, status_code: str, seconds: float) -> None:
        key = (method, path, status_code)
        child = self._children.get(key)
        if child is None:  # label sets are bounded, so this cache is too
            child = self._children[key] = self.duration.labels(*key)
        child.observe(seconds)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        if self.multiproc_dir is None:
            registry = self._registry
        else:
            # A fresh registry per scrape: the collector reads every worker's files. The default
            # process_* / platform collectors are not used here: in multiprocess mode they would
            # describe only the one worker that answers the scrape (use node/process exporters).
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry), content_type


class MetricsMiddleware:
    """Times every request through the wrapped WSGI app and observes the histogram."""

    def __init__(self, app: WSGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        start = time.perf_counter()
        status = ["500"]

        def _start_response(status_line: str, headers: list, exc_info: Any = None):
            status[0] = status_line[:3]
            return start_response(status_line, headers, exc_info)

        try:
            return self.app(environ, _start_response)
        finally:
            # Bottle returns a fully built body (a list of bytes), so the call is the work.
            method = environ.get("REQUEST_METHOD", "")
            if method not in KNOWN_METHODS:
                method = OTHER_METHOD
            route = environ.get("bottle.route")
            path = route.rule if route is not None else UNMATCHED
            self.metrics.observe(method, path, status[0], time.perf_counter() - start)
