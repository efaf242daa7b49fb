"""What the lab commands print: a progress bar while they run, and their results as tables (rich)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .results import store_label

CELLS = {True: "[green]kept[/]", False: "[bold red]lost[/]", None: "[dim]n/a[/]"}


def console() -> Console:
    """A console that keeps tables readable when the output is a file or a pipe."""
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = 140
    return out


@contextmanager
def progress(out: Console, total: int, title: str) -> Iterator[Callable[[str, int], None]]:
    """A progress bar; yields ``step(text, done)``: show what runs now, advance by what finished."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out) as bar:
        task = bar.add_task(title, total=total)

        def step(text: str, done: int) -> None:
            if text:
                bar.update(task, description=text)
            if done:
                bar.advance(task, done)

        yield step
        bar.update(task, description=f"{title}: done")


def restart_table(rows: list[dict], events: list[str]) -> Table:
    """The matrix: one line per (mode, store), one column per event."""
    table = Table(title="Still logged in after…")
    table.add_column("mode")
    table.add_column("store")
    for event in events:
        table.add_column(event.replace("_", " "), justify="center")
    lines: dict[tuple[str, str], dict] = {}
    for row in rows:
        lines.setdefault((row["mode"], store_label(row)), {})[row["event"]] = row["survived"]
    for (mode, label), cells in lines.items():
        table.add_row(mode, label, *(CELLS[cells.get(event)] for event in events))
    return table


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}".replace(",", " ")


#: A store only adds work to the baseline route: a row this many times faster than it was measured in noise.
NOISY_RATIO = 3


def _ratio(row: dict) -> str:
    """× baseline; flagged where it is implausible (the run was noisy: measure again on a quieter machine)."""
    ratio = row["ratio_to_baseline"]
    shown = _number(ratio, 2 if (ratio or 1) >= 0.1 else 3)
    if ratio is not None and row["store"] != "none" and ratio > NOISY_RATIO:
        return f"[yellow]{shown} (noisy)[/]"
    return shown


def bench_table(rows: list[dict]) -> Table:
    """HTTP figures with the ratio to the baseline of the same run."""
    table = Table(title="HTTP under gunicorn (median of runs)")
    for name, justify in (
        ("workers", "right"),
        ("scenario", "left"),
        ("store", "left"),
        ("req/s", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("errors", "right"),
        ("× baseline", "right"),
        ("CPU ms/req", "right"),
    ):
        table.add_column(name, justify=justify)
    for row in rows:
        errors = str(row["errors"]) if not row["errors"] else f"[red]{row['errors']} ({row['error_rate']:.0%})[/]"
        table.add_row(
            str(row["workers"]),
            row["scenario"],
            store_label(row),
            _number(row["requests_per_s"], 0),
            _number(row["p50_ms"], 2),
            _number(row["p99_ms"], 2),
            errors,
            _ratio(row),
            _number(row.get("cpu_ms_per_request"), 3),
        )
    return table


def wire_table(rows: list[dict]) -> Table:
    """What the /account/wire journal costs per request (memory store, on against off)."""
    table = Table(title="/account/wire on: the cost per request (memory store)")
    for name in ("workers", "scenario", "µs per request", "p50 ms on", "p50 ms off", "throughput on/off"):
        table.add_column(name, justify="left" if name == "scenario" else "right")
    for row in rows:
        table.add_row(
            str(row["workers"]),
            row["scenario"],
            _number(row["us_per_request"], 1),
            _number(row["p50_ms_on"], 2),
            _number(row["p50_ms_off"], 2),
            _number(row["throughput_ratio"], 3),
        )
    return table


def store_table(rows: list[dict]) -> Table:
    """µs per load and save through the store objects."""
    table = Table(title="The store alone, µs per operation")
    for name in ("store", "operation", "p50 µs", "p99 µs", "ops"):
        table.add_column(name, justify="left" if name in ("store", "operation") else "right")
    for row in rows:
        table.add_row(
            store_label(row), row["operation"], _number(row["p50_us"]), _number(row["p99_us"]), str(row["ops"])
        )
    return table


def scale_table(rows: list[dict]) -> Table:
    """Lookups with more and more sessions stored."""
    table = Table(title="Lookups as the store fills up")
    for name in ("store", "sessions", "p50 µs", "p99 µs", "note"):
        table.add_column(name, justify="left" if name in ("store", "note") else "right")
    for row in rows:
        table.add_row(
            store_label(row),
            _number(row["sessions"], 0),
            _number(row.get("p50_us")),
            _number(row.get("p99_us")),
            row.get("skipped", f"filled in {row['fill_s']:.1f} s" if "fill_s" in row else ""),
        )
    return table


def memory_table(rows: list[dict]) -> Table:
    """Memory per session, measured with 10 000 sessions."""
    count = rows[0]["sessions"] if rows else 0
    table = Table(title=f"Memory for {_number(count, 0)} sessions")
    for name in ("store", "sessions", "MB", "bytes/session", "measured with"):
        table.add_column(name, justify="right" if name in ("sessions", "MB", "bytes/session") else "left")
    for row in rows:
        table.add_row(
            store_label(row),
            _number(row["sessions"], 0),
            _number(row["bytes"] / 1e6, 2),
            _number(row["bytes_per_session"], 0),
            row["method"],
        )
    return table


def peer_table(ratios: list[dict]) -> Table:
    """bench --peers: each authdemo store against each peer doing the same job, in the same run."""
    table = Table(title="authdemo against its peers, side by side (median of runs; requests served per second)")
    for name, justify in (
        ("workers", "right"),
        ("authdemo", "left"),
        ("req/s", "right"),
        ("peer", "left"),
        ("setup", "left"),
        ("req/s ", "right"),
        ("authdemo ÷ peer", "right"),
        ("target", "right"),
    ):
        table.add_column(name, justify=justify)
    for entry in ratios:
        ratio = _number(entry["ratio"], 2)
        if entry["met"] is not None:
            ratio = f"[green]{ratio}[/]" if entry["met"] else f"[bold red]{ratio}[/]"
        refused = [
            f"{side} {rate:.0%} refused"
            for side, rate in (("authdemo", entry["authdemo_error_rate"]), ("peer", entry["peer_error_rate"]))
            if rate
        ]
        table.add_row(
            str(entry["workers"]),
            entry["authdemo"],
            _number(entry["authdemo_requests_per_s"], 0),
            entry["framework"],
            entry["peer"],
            _number(entry["peer_requests_per_s"], 0),
            ratio + (f" [red]({', '.join(refused)})[/]" if refused else ""),
            f"≥ {entry['target']:g}" if entry["target"] else "",
        )
    return table


def peer_store_table(rows: list[dict]) -> Table:
    """The stock Flask peer's session per protected request, without HTTP."""
    table = Table(title="Flask-Session per protected request, without HTTP")
    for name in ("setup", "load p50 µs", "save p50 µs", "writes/request", "SQL/request", "note"):
        table.add_column(name, justify="left" if name in ("setup", "note") else "right")
    for row in rows:
        note = ""
        if "sessions_kept" in row:
            note = f"kept {row['sessions_kept']} of {row['sessions_written']} sessions"
        table.add_row(
            store_label(row),
            _number(row["load"]["p50_us"]),
            _number(row["save"]["p50_us"]) if row["save"]["ops"] else "–",
            _number(row["store_writes_per_request"], 0),
            _number(row["statements_per_request"], 0),
            note,
        )
    return table


def targets_table(entries: list[dict]) -> Table:
    """Issue 9's targets: each met or missed in this run."""
    table = Table(title="Targets (one worker, interleaved runs; benchmark targets, no test asserts them)")
    for name, justify in (("what", "left"), ("measured", "right"), ("target", "right"), ("", "left")):
        table.add_column(name, justify=justify)
    for entry in entries:
        verdict = {True: "[green]met[/]", False: "[bold red]missed[/]", None: "–"}[entry["met"]]
        table.add_row(entry["what"], _number(entry["value"], 2), f"≥ {entry['target']:g}", verdict)
    return table
