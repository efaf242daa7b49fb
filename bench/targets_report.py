"""Print the bench's figures from results.json as Markdown: the targets, then p99 at a fixed rate and CPU per request.

    .venv/bin/python bench/targets_report.py [instance/results/results.json]

docs/performance.md quotes its output, so the figures there come from a
bench run, not from a keyboard.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _number(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _label(row: dict) -> str:
    if row["scenario"] == "baseline" or row["mode"] == "none":
        return "baseline"
    return f"{row['mode']} · {row['store']}" + (f" ({row['variant']})" if row.get("variant") else "")


def main() -> None:
    """Read results.json, print three Markdown tables."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "instance/results/results.json")
    data = json.loads(path.read_text())
    run = data.get("bench_run", {})
    print(f"Bench of {run.get('date', '?')} ({'--quick' if run.get('quick') else 'full'}), from {path.name}:\n")
    print("| target | measured | wanted | |\n|---|---:|---:|---|")
    for entry in data.get("targets", []):
        verdict = {True: "met", False: "**missed**", None: "–"}[entry["met"]]
        print(f"| {entry['what']} | {_number(entry['value'])} | ≥ {entry['target']:g} | {verdict} |")
    print("\n| one worker | req/s | × baseline | server CPU ms/request |\n|---|---:|---:|---:|")
    for row in data.get("bench", []):
        if row["workers"] == 1 and row["scenario"] in ("baseline", "protected_page", "stateless_token"):
            print(
                f"| {row['scenario']} · {_label(row)} | {row['requests_per_s']:.0f} | "
                f"{_number(row['ratio_to_baseline'])} | {_number(row.get('cpu_ms_per_request'), 3)} |"
            )
    fixed = [row for row in data.get("bench", []) if row["scenario"] == "fixed_rate"]
    if fixed:
        rate = fixed[0].get("rate_per_s", 0)
        print(f"\n| at {rate:g} requests/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|")
        for row in fixed:
            print(f"| {_label(row)} | {_number(row['p50_ms'])} | {_number(row['p99_ms'])} | {row['errors']} |")
    ratios = [r for r in data.get("peer_ratios", []) if r.get("framework", "django") == "django"]
    if ratios:
        print("\n| authdemo ↔ Django 5.2 (served req/s) | workers | authdemo | Django | ratio |")
        print("|---|---:|---:|---:|---:|")
        for entry in ratios:
            peer = entry.get("peer") or entry.get("django")
            theirs = entry.get("peer_requests_per_s", entry.get("django_requests_per_s"))
            print(
                f"| {entry['scenario']}: {entry['authdemo']} ↔ {peer} | {entry.get('workers', 1)} | "
                f"{entry['authdemo_requests_per_s']:.0f} | {theirs:.0f} | {_number(entry['ratio'])} |"
            )


if __name__ == "__main__":
    main()
