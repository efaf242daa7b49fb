"""The two lab commands end to end: start what they need, measure with a progress bar, write results, draw, print.

Everything a run starts lives in one Lab; leaving it, normally or through an
exception, Ctrl-C or SIGTERM, stops every process and removes the temp dir.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from ..harness.processes import sigterm_as_exit
from ..harness.servers import MissingBinary
from . import bench, charts, machine, peers, report, restart, results, storebench, targets
from .deployments import Lab


def compare_restart(backends: list[str], out: Path, console: Console) -> dict:
    """Run the restart experiment on ``backends``; write results.json and restart.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with sigterm_as_exit(), Lab() as lab:
        with console.status("Preparing the demo database (init-db, seed-demo)…"):
            lab.seeded_database()

        def skipped(backend: str, reason: str) -> None:
            console.print(f"[yellow]{backend}: skipped, {reason}[/]")

        with report.progress(console, restart.step_count(backends), "restart experiment") as step:
            rows = restart.run(lab, backends, on_step=step, on_skip=skipped)
    events = list(restart.EVENTS)
    described = machine.describe()
    run = {"date": described["date"], "backends": backends, "events": events, "machine": described}
    path = results.update(out, {"restart": rows, "restart_run": run})
    chart = charts.restart_matrix(rows, events, out) if rows else None
    console.print(report.restart_table(rows, events))
    console.print(f"Wrote {path}" + (f" and {chart}" if chart else ""))
    return {"restart": rows}


def bench_run(
    backends: list[str], quick: bool, out: Path, console: Console, with_peers: bool = False, **overrides
) -> dict:
    """Run the benchmark on ``backends`` (and the peers); write results.json and the charts into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    settings = bench.BenchSettings.choose(quick, **overrides)
    console.print(
        f"bench: {settings.runs} runs × {settings.duration_s:g} s per figure, load from {settings.tool}, "
        f"gunicorn with {settings.threads} threads per process, {settings.connections} connections"
    )
    with sigterm_as_exit(), Lab() as lab:
        chosen = []
        with console.status("Starting the stores and preparing the demo database…"):
            lab.seeded_database()
            for name in backends:
                try:
                    chosen.append(bench.ROWS[name](lab))
                except MissingBinary as missing:
                    console.print(f"[yellow]{name}: skipped, {missing}[/]")
        pairs = []
        if with_peers:
            with console.status("Preparing the peers (Django: migrate, create_demo_user; Flask: init-demo)…"):
                pairs = peers.prepare(lab, chosen)
            if not pairs:
                console.print(
                    "[yellow]--peers: no peer for these backends (Django: redis, sqlalchemy, cookie; "
                    "Flask-Session: memory, redis, memcached, sqlalchemy)[/]"
                )
        # The journal is priced over HTTP only: the store alone is the same store with it on or off.
        plain = [d for d in chosen if d.variant != bench.WIRE_VARIANT]
        total = bench.http_step_count(len(chosen), settings) + storebench.step_count(len(plain), settings)
        total += peers.step_count(pairs, settings)
        with report.progress(console, total, "bench") as step:
            http_rows = bench.http_bench(lab, chosen, settings, step)
            peer_data = peers.run(lab, pairs, settings, step)
            store_rows = storebench.run_all(lab, plain, settings, step)
    described = machine.describe()
    data = {
        "bench": http_rows,
        "wire_cost": bench.wire_cost(http_rows),
        **store_rows,
        "machine": described,
        "settings": settings.as_dict(),
        "bench_run": {"date": described["date"], "backends": backends, "quick": quick},
        **peer_data,
    }
    data["targets"] = targets.evaluate(http_rows, peer_data.get("peer_ratios", []))
    path = results.update(out, data)
    drawn = charts.bench_charts(data, out)
    for table in (
        report.bench_table(http_rows),
        report.store_table(store_rows["bench_store"]),
        report.scale_table(store_rows["bench_scale"]),
        report.memory_table(store_rows["bench_memory"]),
    ):
        console.print(table)
    if data["wire_cost"]:
        console.print(report.wire_table(data["wire_cost"]))
    if peer_data:
        console.print(report.peer_table(peer_data["peer_ratios"]))
        console.print(report.peer_store_table(peer_data["peer_store"]))
    console.print(report.targets_table(data["targets"]))
    console.print(f"Wrote {path} and {', '.join(p.name for p in drawn)}")
    return data
