"""Figures in the docs come from results.json, never typed by hand: fill the marked places in a Markdown file.

Inline: ``<!-- fig:KEY -->…<!-- /fig -->`` (the text between is replaced);
a block: ``<!-- figures:KEY -->`` … ``<!-- /figures:KEY -->`` on lines of
their own. The keys (words separated by spaces; ``-`` for "stock", no change):

    date                                  when bench --peers ran, and on what
    served FRAMEWORK STORE CHANGE WORKERS  requests served per second (``served flask-session memcached no_delay 1``)
    refused FRAMEWORK STORE CHANGE WORKERS share of requests refused (sent to the login page)
    ratio FRAMEWORK STORE CHANGE WORKERS   authdemo ÷ that row, in requests served
    load|save FRAMEWORK STORE CHANGE       the session's load or write-back alone, p50 (µs or ms)
    statements STORE CHANGE                SQL statements per protected request of the Flask peer
    kept                                   sessions the cachelib peer kept of those written
    table (block)                          the side-by-side table, one line per setup
    bench-date                            when `bench` ran, and on what
    targets (block)                       issue 9's targets: measured, wanted, met or missed
    bench (block)                         one worker: req/s, × baseline, server CPU per request
    fixed-rate (block)                    p50 and p99 at a steady, moderate rate
    django (block)                        authdemo ↔ Django 5.2, like for like

STORE is the row's own store (authdemo: memory, redis, memcached, sqlalchemy,
cookie; Flask-Session: its SESSION_TYPE; Django: its engine, cache, db or
signed_cookies).

    python -m authdemo.lab.docs_figures [--results instance/results/results.json] [--check] docs/peers.md …

``--check`` changes nothing and exits 1 when a file is not up to date. A key
that results.json cannot answer becomes "(not measured)" rather than an error,
so a partial run still fills what it measured.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..harness.processes import ROOT
from .results import mode_store_label

DEFAULT_RESULTS = ROOT / "instance" / "results" / "results.json"
INLINE = re.compile(r"(<!-- fig:(?P<key>[^>]+?) -->)(?P<value>.*?)(<!-- /fig -->)", re.S)
BLOCK = re.compile(r"(<!-- figures:(?P<key>[^>]+?) -->\n)(?P<value>.*?)(<!-- /figures:(?P=key) -->)", re.S)
MISSING = "(not measured)"


class NotMeasured(LookupError):
    """results.json has no figure for this key."""


def _row(data: dict, framework: str, store: str, change: str, workers: str) -> dict:
    change = "" if change == "-" else change
    for row in data.get("peers", []):
        if (
            row["framework"] == framework
            and store in (row["store"], row.get("engine"))
            and row.get("change", "") == change
            and row["workers"] == int(workers)
            and row["scenario"] == "protected_page"
        ):
            return row
    raise NotMeasured(f"{framework} {store} {change or 'stock'} with {workers} worker(s)")


def _served(row: dict) -> float:
    return row.get("served_per_s", row["requests_per_s"] * (1 - row.get("error_rate", 0.0)))


def _us(value: float) -> str:
    return f"{value / 1000:.1f} ms" if value >= 1000 else f"{value:.0f} µs"


def _store_alone(data: dict, operation: str, framework: str, store: str, change: str) -> str:
    change = "" if change == "-" else change
    if framework == "authdemo":
        rows = [r for r in data.get("bench_store", []) if r["store"] == store and r["operation"] == operation]
        if rows and rows[0]["mode"] == "session":
            return _us(rows[0]["p50_us"])
    for row in data.get("peer_store", []):
        if row.get("framework") == framework and row["store"] == store and row.get("change", "") == change:
            figures = row[operation]
            return _us(figures["p50_us"]) if figures["ops"] else "none"
    raise NotMeasured(f"{operation} {framework} {store}")


def _statements(data: dict, store: str, change: str) -> str:
    change = "" if change == "-" else change
    for row in data.get("peer_store", []):
        if row["store"] == store and row.get("change", "") == change:
            return f"{row['statements_per_request']:g}"
    raise NotMeasured(f"statements {store}")


def _kept(data: dict) -> str:
    for row in data.get("peer_store", []):
        if "sessions_kept" in row:
            return f"{row['sessions_kept']} of {row['sessions_written']}"
    raise NotMeasured("kept")


def _date(data: dict) -> str:
    run, machine = data.get("peer_run"), data.get("machine", {})
    if not run:
        raise NotMeasured("peer_run")
    quick = " --quick" if data.get("settings", {}).get("quick") else ""
    return (
        f"`bench{quick} --peers` of {run['date'][:16].replace('T', ' ')} UTC on {machine.get('cores', '?')} cores "
        f"({machine.get('cpu', '?')}), {run['runs']} runs × {run['duration_s']:g} s per figure, load from {run['tool']}"
    )


def _key(row: dict) -> tuple[str, str, str]:
    return row["framework"], row["store"], row.get("variant", "")


def table(data: dict) -> str:
    """The side-by-side comparison as Markdown: one line per setup, grouped by authdemo's store."""
    rows = [row for row in data.get("peers", []) if row["scenario"] == "protected_page"]
    if not rows:
        raise NotMeasured("peers")
    order = {"authdemo": 0, "flask-session": 1, "django": 2}
    lines = [
        "| authdemo store | framework | setup | req/s, 1 worker | authdemo ÷ "
        "| served req/s, 2 workers | refused, 2 workers |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    ours = {(r["paired_store"], r["workers"]): r for r in rows if r["framework"] == "authdemo"}
    seen: set[tuple] = set()
    for group in dict.fromkeys(r["paired_store"] for r in rows):
        members = sorted((r for r in rows if r["paired_store"] == group), key=lambda r: order.get(r["framework"], 3))
        for row in members:
            key = _key(row)
            if key in seen or row["workers"] != 1:
                continue
            seen.add(key)
            two = next((r for r in members if r["workers"] == 2 and _key(r) == key), None)
            setup = row.get("variant") or ("stock" if row["framework"] == "flask-session" else row["store"])
            ratio = "" if row["framework"] == "authdemo" else f"{_served(ours[(group, 1)]) / _served(row):.2f}"
            two_workers = f"{_served(two):.0f} | {two['error_rate']:.0%}" if two else "– | –"
            lines.append(f"| {group} | {row['framework']} | {setup} | {_served(row):.0f} | {ratio} | {two_workers} |")
    return "\n".join(lines) + "\n"


def _number(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _bench_label(row: dict) -> str:
    return "baseline" if row["scenario"] == "baseline" or row["mode"] == "none" else mode_store_label(row)


def bench_date(data: dict) -> str:
    """When `bench` ran, how, and on what."""
    run, machine = data.get("bench_run"), data.get("machine", {})
    if not run:
        raise NotMeasured("bench_run")
    peers = " --peers" if data.get("peer_run") else ""
    return (
        f"`bench{' --quick' if run.get('quick') else ''}{peers}` of {run['date'][:16].replace('T', ' ')} UTC "
        f"on {machine.get('cores', '?')} cores ({machine.get('cpu', '?')})"
    )


def targets_table(data: dict) -> str:
    """Issue 9's targets, each measured, wanted, met or missed."""
    if not data.get("targets"):
        raise NotMeasured("targets")
    lines = ["| target | measured | wanted | |", "|---|---:|---:|---|"]
    for entry in data["targets"]:
        verdict = {True: "met", False: "**missed**", None: "–"}[entry["met"]]
        lines.append(f"| {entry['what']} | {_number(entry['value'])} | ≥ {entry['target']:g} | {verdict} |")
    return "\n".join(lines) + "\n"


def bench_table(data: dict) -> str:
    """One worker: requests/s, the ratio to the baseline and the server CPU per request of each store."""
    rows = [
        row
        for row in data.get("bench", [])
        if row["workers"] == 1 and row["scenario"] in ("baseline", "protected_page", "stateless_token")
    ]
    if not rows:
        raise NotMeasured("bench")
    lines = ["| one worker | req/s | × baseline | server CPU ms/request |", "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['scenario']} · {_bench_label(row)} | {row['requests_per_s']:.0f} | "
            f"{_number(row['ratio_to_baseline'])} | {_number(row.get('cpu_ms_per_request'), 3)} |"
        )
    return "\n".join(lines) + "\n"


def fixed_rate_table(data: dict) -> str:
    """p50 and p99 latency of each store at the same steady, moderate rate."""
    rows = [row for row in data.get("bench", []) if row["scenario"] == "fixed_rate"]
    if not rows:
        raise NotMeasured("fixed_rate")
    lines = [f"| at {rows[0].get('rate_per_s', 0):g} requests/s | p50 ms | p99 ms | errors |", "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {_bench_label(row)} | {_number(row['p50_ms'])} | {_number(row['p99_ms'])} | {row['errors']} |")
    return "\n".join(lines) + "\n"


def django_table(data: dict) -> str:
    """authdemo against Django 5.2, like for like, in requests served per second."""
    ratios = [r for r in data.get("peer_ratios", []) if r.get("framework", "django") == "django"]
    if not ratios:
        raise NotMeasured("peer_ratios")
    lines = [
        "| authdemo ↔ Django 5.2 (served req/s) | workers | authdemo | Django | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for entry in ratios:
        peer = entry.get("peer") or entry.get("django")
        theirs = entry.get("peer_requests_per_s", entry.get("django_requests_per_s"))
        lines.append(
            f"| {entry['scenario']}: {entry['authdemo']} ↔ {peer} | {entry.get('workers', 1)} | "
            f"{entry['authdemo_requests_per_s']:.0f} | {theirs:.0f} | {_number(entry['ratio'])} |"
        )
    return "\n".join(lines) + "\n"


KEYS: dict[str, Callable[..., str]] = {
    "bench-date": bench_date,
    "targets": targets_table,
    "bench": bench_table,
    "fixed-rate": fixed_rate_table,
    "django": django_table,
    "date": _date,
    "served": lambda data, *args: f"{_served(_row(data, *args)):.0f}",
    "refused": lambda data, *args: f"{_row(data, *args)['error_rate']:.0%}",
    "ratio": lambda data, *args: _ratio(data, *args),
    "load": lambda data, *args: _store_alone(data, "load", *args),
    "save": lambda data, *args: _store_alone(data, "save", *args),
    "statements": _statements,
    "kept": _kept,
    "table": table,
}


def _ratio(data: dict, framework: str, store: str, change: str, workers: str) -> str:
    """authdemo ÷ a peer row, in requests served, against the authdemo row it is paired with."""
    theirs = _row(data, framework, store, change, workers)
    for row in data.get("peers", []):
        if (
            row["framework"] == "authdemo"
            and row["paired_store"] == theirs["paired_store"]
            and row["workers"] == theirs["workers"]
            and row["scenario"] == "protected_page"
        ):
            return f"{_served(row) / _served(theirs):.1f}×"
    raise NotMeasured(f"authdemo for {theirs['paired_store']}")


def figure(data: dict, key: str) -> str:
    """The text for one key, or MISSING when results.json cannot answer it."""
    name, *args = key.split()
    if name not in KEYS:
        raise ValueError(f"unknown figure key {key!r}; known: {', '.join(KEYS)}")
    try:
        return KEYS[name](data, *args)
    except TypeError as error:
        raise ValueError(f"figure key {key!r}: wrong number of words ({error})") from None
    except (NotMeasured, KeyError, ZeroDivisionError):
        return MISSING


def fill(text: str, data: dict) -> str:
    """The Markdown with every marked figure replaced by its value from ``data``."""
    text = BLOCK.sub(lambda m: m.group(1) + figure(data, m.group("key")) + m.group(4), text)
    return INLINE.sub(lambda m: m.group(1) + figure(data, m.group("key")) + m.group(4), text)


def update(path: Path, data: dict) -> bool:
    """Fill one file in place; whether it changed."""
    old = path.read_text(encoding="utf-8")
    new = fill(old, data)
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old


def main(argv: list[str] | None = None) -> int:
    """The command line: fill (or --check) the given Markdown files from results.json."""
    parser = argparse.ArgumentParser(prog="python -m authdemo.lab.docs_figures", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    try:
        data = json.loads(args.results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"{args.results}: {error} (run `make bench` or `.venv/bin/flask --app app bench --quick --peers`)")
        return 2
    stale = []
    for path in args.files:
        if args.check:
            if fill(path.read_text(encoding="utf-8"), data) != path.read_text(encoding="utf-8"):
                stale.append(path)
        elif update(path, data):
            print(f"updated {path}")
    for path in stale:
        print(f"{path}: figures out of date with {args.results}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
