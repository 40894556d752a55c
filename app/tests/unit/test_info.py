"""The OS facts of /api/v1/info: the memory figures read from /proc/meminfo equal psutil's."""

import os

import psutil
import pytest

from webdemo import info

linux_only = pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="needs /proc/meminfo")


@linux_only
def test_memory_is_what_psutil_reports():
    # The same sources (MemTotal, MemAvailable): total exactly; available moves with the machine, so
    # the two reads (taken around psutil's) bracket it within a small margin.
    before = info.memory()
    mem = psutil.virtual_memory()
    after = info.memory()
    assert before[0] == mem.total == after[0]
    low, high = sorted((before[1], after[1]))
    margin = 64 * 1024 * 1024
    assert low - margin <= mem.available <= high + margin


@linux_only
def test_each_call_reads_the_file_again():
    # pread at offset 0 renders a fresh /proc/meminfo: the figures of now, not of the import.
    with open("/proc/meminfo", "rb") as f:
        fresh = f.read()
    total = info._meminfo_field(fresh, b"MemTotal:")
    assert total == info.memory()[0]
    assert info.memory()[1] > 0


def test_fields_are_parsed_in_bytes():
    data = (
        b"MemTotal:       16384 kB\nMemFree:  100 kB\nMemAvailable:    2048 kB\n"
        b"HugePages_Total: 0\n"
    )
    assert info._meminfo_field(data, b"MemTotal:") == 16384 * 1024
    assert info._meminfo_field(data, b"MemAvailable:") == 2048 * 1024
    assert info._meminfo_field(data, b"HugePages_Total:") == 0  # a count, no unit
    assert info._meminfo_field(data, b"SwapTotal:") is None
    assert info._meminfo_field(b"MemAvailable: n/a\n", b"MemAvailable:") is None


def test_without_meminfo_psutil_answers(monkeypatch):
    # No /proc/meminfo descriptor (or a kernel without MemAvailable): psutil's own figures.
    monkeypatch.setattr(info, "_MEMINFO", None)
    mem = psutil.virtual_memory()
    total, available = info.memory()
    assert total == mem.total
    assert available > 0
