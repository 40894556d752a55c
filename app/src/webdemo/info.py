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


def collect() -> dict[str, Any]:
    mem = psutil.virtual_memory()  # one read of /proc/meminfo
    return {
        "name": _UNAME.sysname,
        "release": _UNAME.release,
        "hostname": socket.gethostname(),
        "totalMem": mem.total,
        "freeMem": mem.available,
        "cpuCount": _CPU_COUNT,
        "loadAverage": [round(x, 2) for x in os.getloadavg()],
        "uptimeSeconds": max(0, int(time.time() - _BOOT_TIME)),
        "version": __version__,
        "python": _PYTHON,
    }
