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
