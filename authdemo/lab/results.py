"""results.json: where the lab commands leave their figures and the /compare page finds them.

Standard library only, so the page can read results without importing any of
the lab's measuring or plotting code. One file holds both experiments; each
command replaces its own keys and keeps the other's.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

RESULTS_FILE = "results.json"
#: The keys each command owns; the other command's keys are kept when it writes.
RESTART_KEYS = ("restart", "restart_run")
BENCH_KEYS = ("bench", "bench_store", "bench_scale", "bench_memory", "machine", "settings", "bench_run")
#: Written by ``bench --peers`` only: a bench without it keeps the last peer comparison (it carries its own date).
PEER_KEYS = ("peers", "peer_ratios", "peer_store", "peer_run")


def store_label(row: dict) -> str:
    """A result row's store as the tables and charts name it: ``redis (AOF)``, ``memory``."""
    return f"{row['store']} ({row['variant']})" if row.get("variant") else row["store"]


def mode_store_label(row: dict) -> str:
    """The same with the mode in front: ``session · redis (AOF)``, ``jwt · sqlalchemy (tokens, SQLite)``."""
    return f"{row['mode']} · {store_label(row)}"


def results_dir(instance_path: str | Path) -> Path:
    """The default --out: instance/results/, which /compare reads."""
    return Path(instance_path) / "results"


def load(directory: str | Path) -> dict:
    """The results in ``directory``, or {} when there are none (or the file is unreadable)."""
    try:
        with open(Path(directory) / RESULTS_FILE, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update(directory: str | Path, new: dict) -> Path:
    """Merge ``new`` into results.json (other keys kept), written atomically so the page never reads half a file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = {**load(directory), **new}
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".results-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
        os.replace(temporary, directory / RESULTS_FILE)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return directory / RESULTS_FILE
