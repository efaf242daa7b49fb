"""``flask compare-restart`` and ``flask bench``: thin click wrappers around lab/runs.py.

The app registers these commands at start-up, so this module imports only
click and Flask; the lab's measuring, plotting and printing code is imported
when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

SESSION_STORES = ("memory", "redis", "memcached", "sqlalchemy", "cookie")
RESTART_ROWS = (*SESSION_STORES, "jwt")
# memory-wire: the memory store with /account/wire on, to price the journal per request.
BENCH_STORES = (*SESSION_STORES, "memory-wire", "jwt", "jwt-redis", "sqlalchemy-postgres")
BENCH_DEFAULT = (*SESSION_STORES, "memory-wire", "jwt", "jwt-redis")


def _backends(allowed: tuple[str, ...]):
    def parse(ctx, param, value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in allowed]
        if unknown or not names:
            raise click.BadParameter(f"{', '.join(unknown) or 'nothing'}: choose from {', '.join(allowed)}")
        return list(dict.fromkeys(names))

    return parse


def _out_dir(out: str | None) -> Path:
    from .results import results_dir

    return Path(out) if out else results_dir(current_app.instance_path)


def _lab_errors(run):
    """A lab failure becomes one clear message and exit status 1, not a traceback."""
    from ..harness.processes import LabError

    try:
        return run()
    except LabError as error:
        raise click.ClickException(str(error)) from None


@click.command("compare-restart")
@click.option(
    "--backends",
    default=",".join(RESTART_ROWS),
    show_default=True,
    callback=_backends(RESTART_ROWS),
    help="Comma-separated session stores to test (jwt: JWT mode with each token store).",
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Where results.json and restart.png go [instance/results/]."
)
@with_appcontext
def compare_restart_command(backends: list[str], out: str | None):
    """Restart the app, the stores and the secret for real, and record who stays logged in."""
    from . import report, runs

    _lab_errors(lambda: runs.compare_restart(backends, _out_dir(out), report.console()))


@click.command("bench")
@click.option(
    "--backends",
    default=",".join(BENCH_DEFAULT),
    show_default=True,
    callback=_backends(BENCH_STORES),
    help="Comma-separated stores to measure (memory-wire: memory with /account/wire on; "
    "jwt: JWT mode, revocations in SQLite; jwt-redis: in Redis; "
    "sqlalchemy-postgres: the sqlalchemy store on PostgreSQL).",
)
@click.option("--quick", is_flag=True, help="2 s × 3 runs per figure and up to 100 000 sessions (under 5 minutes).")
@click.option(
    "--peers",
    "with_peers",
    is_flag=True,
    help="Also measure the peers in bench/peers/ side by side: stock Flask-Session + Flask-Login "
    "(memory, redis, memcached, sqlalchemy) and Django 5.2 (redis, sqlalchemy, cookie). See docs/peers.md.",
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Where results.json and the charts go [instance/results/]."
)
# For the tests: tiny sizes, so the whole command runs in seconds.
@click.option("--duration", type=float, hidden=True)
@click.option("--runs", type=int, hidden=True)
@click.option("--ops", "store_ops", type=int, hidden=True)
@click.option("--sizes", type=str, hidden=True)
@click.option("--lookups", "scale_lookups", type=int, hidden=True)
@click.option("--memory-sessions", type=int, hidden=True)
@click.option("--tool", type=click.Choice(["wrk", "python"]), hidden=True)
@with_appcontext
def bench_command(backends: list[str], quick: bool, with_peers: bool, out: str | None, duration, sizes, **overrides):
    """Measure each store over HTTP under gunicorn and on its own, against a no-session baseline."""
    from . import report, runs

    overrides["duration_s"] = duration
    overrides["scale_sizes"] = tuple(int(size) for size in sizes.split(",")) if sizes else None
    _lab_errors(
        lambda: runs.bench_run(backends, quick, _out_dir(out), report.console(), with_peers=with_peers, **overrides)
    )


def init_app(app: Flask) -> None:
    """Register the lab's commands."""
    app.cli.add_command(compare_restart_command)
    app.cli.add_command(bench_command)
