"""OS facts for /api/v1/info. Every call is cheap and non-blocking (no sampling intervals)."""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import Any

import psutil

from . import __version__

# Facts that cannot change while the process lives are read once.
_UNAME = os.uname()
_BOOT_TIME = psutil.boot_time()
_CPU_COUNT = os.cpu_count() or 1
_PYTHON = platform.python_version()


def _open_meminfo() -> int | None:
    try:
        return os.open("/proc/meminfo", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


# /proc/meminfo, opened once (per process: the app is imported in each worker). Every pread at
# offset 0 makes the kernel render a fresh copy (a seq_file), so a request costs one pread and
# two searches, where psutil.virtual_memory() opened the file and parsed all its ~50 lines into a
# dict (bench/profile_app.py: ~45 of the ~55 us of collect()). The figures are the same:
# psutil's total and available on Linux are MemTotal and MemAvailable, in bytes.
_MEMINFO = _open_meminfo()
_MEMINFO_BUFSIZE = 16384  # the file is ~1.5 KiB; both fields are in its first lines


def _meminfo_field(data: bytes, name: bytes) -> int | None:
    start = data.find(name)
    if start < 0:
        return None
    end = data.find(b"\n", start)
    fields = data[start + len(name) : end if end >= 0 else len(data)].split()
    if not fields or not fields[0].isdigit():
        return None
    return int(fields[0]) * (1024 if fields[1:] == [b"kB"] else 1)


def memory() -> tuple[int, int]:
    """(total, available) memory in bytes, as psutil.virtual_memory() reports them."""
    if _MEMINFO is not None:
        try:
            data = os.pread(_MEMINFO, _MEMINFO_BUFSIZE, 0)
        except OSError:
            data = b""
        total = _meminfo_field(data, b"MemTotal:")
        available = _meminfo_field(data, b"MemAvailable:")
        if total is not None and available is not None:
            return total, available
    mem = psutil.virtual_memory()  # kernels without MemAvailable (< 3.14): psutil estimates it
    return mem.total, mem.available


def collect() -> dict[str, Any]:
    total, available = memory()
    return {
        "name": _UNAME.sysname,
        "release": _UNAME.release,
        "hostname": socket.gethostname(),
        "totalMem": total,
        "freeMem": available,
        "cpuCount": _CPU_COUNT,
        "loadAverage": [round(x, 2) for x in os.getloadavg()],
        "uptimeSeconds": max(0, int(time.time() - _BOOT_TIME)),
        "version": __version__,
        "python": _PYTHON,
    }
