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

import os
import platform
import struct
import threading
from bisect import bisect_left
from collections.abc import Callable
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

Observe = Callable[[float], None]
# prometheus_client's mmap files store each value as two native doubles: (value, timestamp).
_PACK_INTO = struct.Struct("dd").pack_into


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
        # (method, path, status_code) -> the observe function of that child, bound on its first
        # observation (not before: a child is in the exposition from its creation, with 0).
        self._observers: dict[tuple[str, str, str], Observe] = {}
        self._lock = threading.Lock()
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

    def observer(self, method: str, path: str, status_code: str) -> Observe:
        """observe(seconds) of the histogram child with these labels (label sets are bounded,
        so this cache is too)."""
        key = (method, path, status_code)
        observe = self._observers.get(key)
        if observe is None:
            # Under the writers' lock: a new child may grow (remap) the mmap file they write to.
            with self._lock:
                child = self.duration.labels(*key)
                observe = self._observers[key] = (
                    child.observe
                    if self.multiproc_dir is None
                    else _mmap_observer(child, self._lock)
                )
        return observe

    def observe(self, method: str, path: str, status_code: str, seconds: float) -> None:
        self.observer(method, path, status_code)(seconds)

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


class _Slot:
    """One value of this process's mmap file: where it is and what it holds."""

    __slots__ = ("file", "pos", "value")

    def __init__(self, value: Any) -> None:
        self.file = (
            value._file
        )  # prometheus_client's MmapedDict (its mmap is ._m, remapped as it grows)
        self.pos = self.file._positions[value._key]
        self.value = value._value


def _mmap_observer(child: Any, lock: threading.Lock) -> Observe:
    """observe(seconds) of a histogram child in multiprocess mode, in two struct writes.

    prometheus_client's own path (Histogram.observe -> MmapedValue.inc twice, each with its lock,
    a pid check, write_value and a slice assignment) was most of the metrics cost of a request
    (bench/profile_app.py). This writes exactly what it writes: the sum, and the one bucket the
    amount falls in (buckets are stored per bucket, not cumulative; the collector adds them up and
    _count is their total), as (value, 0.0) at the same positions of the same per-process file, so
    scrapes, dead workers and kill -9 behave as before. In a process other than the one that bound
    it (a fork), and if prometheus_client's internals ever differ, it is the public observe.
    """
    try:
        bounds = tuple(child._upper_bounds)
        total = _Slot(child._sum)
        buckets = tuple(_Slot(bucket) for bucket in child._buckets)
        if len(buckets) != len(bounds) or bounds[-1] != float("inf"):
            raise AttributeError("unexpected histogram layout")
    except (AttributeError, KeyError, TypeError):
        return child.observe
    pid = os.getpid()
    public = child.observe
    getpid = os.getpid

    def observe(amount: float) -> None:
        if getpid() != pid:
            public(amount)
            return
        bucket = buckets[bisect_left(bounds, amount)]  # the first bound >= amount: le semantics
        with lock:
            total.value += amount
            _PACK_INTO(total.file._m, total.pos, total.value, 0.0)
            bucket.value += 1.0
            _PACK_INTO(bucket.file._m, bucket.pos, bucket.value, 0.0)

    return observe
