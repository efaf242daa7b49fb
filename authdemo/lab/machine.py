"""What the figures were measured on: cores, CPU, and the versions of everything in the request's path."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib import metadata

from ..harness.servers import MissingBinary, which_or_raise

VERSION_COMMANDS = {
    "redis": (("redis-server", "redis-server"), "--version", r"v=(\S+)"),
    "memcached": (("memcached", "memcached"), "-V", r"memcached (\S+)"),
    "postgres": (("postgres", "postgresql"), "--version", r"\) (\S+)"),
    "wrk": (("wrk", "wrk"), "--version", r"wrk (\S+)"),
}
PACKAGES = ("flask", "gunicorn", "sqlalchemy", "redis", "pymemcache")


def _binary_version(binary: tuple[str, str], flag: str, pattern: str) -> str | None:
    try:
        path = which_or_raise(*binary)
    except MissingBinary:
        return None
    result = subprocess.run([path, flag], capture_output=True, text=True, check=False, timeout=10)
    match = re.search(pattern, result.stdout + result.stderr)
    return match.group(1) if match else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> dict:
    """The machine and software versions, and when: results.json's "machine"."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{name: _binary_version(*spec) for name, spec in VERSION_COMMANDS.items()},
        "packages": {name: metadata.version(name) for name in PACKAGES},
    }


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            text = stat.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()  # after "pid (comm) ": state, ppid, …


def server_cpu_seconds(master_pid: int | None) -> float:
    """User + system CPU seconds spent so far by a gunicorn master and its workers (Linux /proc; 0 elsewhere)."""
    if master_pid is None or not os.path.isdir("/proc"):
        return 0.0
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        fields = _stat_fields(pid)
        if fields is None:
            continue
        if pid == str(master_pid) or fields[1] == str(master_pid):
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / _TICKS
