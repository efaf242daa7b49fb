"""The HTTP benchmark: each store's cost per request under gunicorn, against a no-session baseline in the same run.

Every figure is the median of ``runs`` timed runs, and the runs go round
robin over all the scenarios, so a machine that slows down for a while slows
the baseline and the stores alike and the ratios stay fair.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

from ..harness.processes import AppProcess, LabError
from . import deployments
from .deployments import Deployment, Lab
from .loadgen import LoadResult, median_result, run_fixed_rate, run_load, run_logins, run_python, wrk_available
from .machine import server_cpu_seconds

#: --backends name → the deployment it stands for (a JWT row is one more entry).
ROWS: dict[str, Callable[[Lab], Deployment]] = {
    "memory": deployments.memory,
    "memory-wire": deployments.memory_wire,
    "redis": deployments.redis_volatile,
    "memcached": deployments.memcached,
    "sqlalchemy": deployments.sqlalchemy_sqlite,
    "sqlalchemy-postgres": deployments.sqlalchemy_postgres,
    "cookie": deployments.cookie,
    "jwt": deployments.jwt_sqlalchemy,
    "jwt-redis": deployments.jwt_redis,
}
DEFAULT_BACKENDS = ("memory", "memory-wire", "redis", "memcached", "sqlalchemy", "cookie", "jwt", "jwt-redis")

#: scenario → the route it loads (on the compare blueprint), or None for the login form.
PATHS: dict[str, str | None] = {
    "baseline": "/bench/baseline",
    "protected_page": "/bench/protected",
    "session_write": "/bench/session-write",
    "stateless_token": "/bench/stateless",
    "login": None,
}
#: Scenarios only a JWT deployment has.
JWT_ONLY = {"stateless_token"}
#: Which scenarios run with how many worker processes: the second run asks only whether the store is shared.
SCENARIOS_BY_WORKERS = {1: ("protected_page", "stateless_token", "session_write", "login"), 2: ("protected_page",)}
WARM_UP_S = 0.5


#: How old (seconds) a replayed login may be at the end of a measurement: under the 60 s session touch.
FRESH_FOR_S = 45.0


class Credentials:
    """The credentials a load replays, from a login no older than a browser's would be.

    wrk and the Python client send one Cookie header over and over and keep
    nothing the server answers. A browser keeps it: once a minute of activity
    authdemo re-signs its "last seen" cookie, and on the cookie store the
    session cookie (AUTHDEMO_SESSION_TOUCH_INTERVAL). A cookie replayed past
    that minute asks for the re-signing, and on the cookie store a write of
    the login's record, on every request: a cost no browser causes, which the
    first runs of the bench measured as the cookie store's. So a measurement
    that would end more than ``FRESH_FOR_S`` after the login logs in again
    first (outside the timing), for every framework alike.
    """

    def __init__(self, login: Callable[[], dict[str, str]]):
        self._login = login
        self._headers: dict[str, str] = {}
        self._at = float("-inf")

    def for_seconds(self, seconds: float) -> dict[str, str]:
        """Headers still as fresh as a browser's ``seconds`` from now (logging in again if need be)."""
        if time.monotonic() + seconds - self._at > FRESH_FOR_S:
            self._headers = self._login()
            self._at = time.monotonic()
        return self._headers


@dataclass(frozen=True)
class BenchSettings:
    """What one bench run used; written into results.json beside the figures."""

    quick: bool
    duration_s: float
    runs: int
    connections: int
    threads: int
    login_connections: int
    worker_runs: tuple[int, ...]
    store_ops: int
    scale_sizes: tuple[int, ...]
    scale_lookups: int
    memory_sessions: int
    tool: str
    fixed_rate: float = 200.0

    @classmethod
    def choose(cls, quick: bool, **overrides) -> BenchSettings:
        """--quick: 2 s × 3 runs and up to 100 000 sessions; otherwise 5 s × 5 runs and up to 1 000 000."""
        base = dict(
            quick=quick,
            duration_s=2.0 if quick else 5.0,
            runs=3 if quick else 5,
            connections=8,
            threads=4,
            login_connections=2,
            worker_runs=(1, 2),
            store_ops=2000 if quick else 10_000,
            scale_sizes=(1000, 100_000) if quick else (1000, 100_000, 1_000_000),
            scale_lookups=1000 if quick else 5000,
            memory_sessions=10_000,
            tool="wrk" if wrk_available() else "python",
        )
        base.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**base)

    def as_dict(self) -> dict:
        """For results.json."""
        return asdict(self)


def http_step_count(count: int, settings: BenchSettings) -> int:
    """Timed runs the HTTP bench will make for ``count`` deployments (for progress bars)."""
    timed = sum((1 + count * len(SCENARIOS_BY_WORKERS[w])) * settings.runs for w in settings.worker_runs)
    return timed + (1 + count if 1 in settings.worker_runs else 0)  # the fixed-rate runs


def http_bench(
    lab: Lab,
    chosen: Sequence[Deployment],
    settings: BenchSettings,
    on_step: Callable[[str, int], None] = lambda text, done: None,
) -> list[dict]:
    """Every scenario on every deployment, once per worker setting; one row per (scenario, store, workers)."""
    rows: list[dict] = []
    for workers in settings.worker_runs:
        rows.extend(_http_run(lab, chosen, settings, workers, on_step))
    return rows


def _http_run(lab, chosen, settings, workers, on_step) -> list[dict]:
    """One server setting: start every deployment's app, log in, then measure round robin."""
    on_step(f"{workers} worker(s): starting {len(chosen)} apps", 0)
    apps = [lab.app(d.env, workers=workers, threads=settings.threads) for d in chosen]
    try:
        credentials = [Credentials(lambda d=d, app=app: _login(d, app)) for d, app in zip(chosen, apps, strict=True)]
        targets: list[tuple[str, int | None]] = [("baseline", None)]
        targets += [
            (scenario, i)
            for scenario in SCENARIOS_BY_WORKERS[workers]
            for i in range(len(chosen))
            if scenario not in JWT_ONLY or chosen[i].mode == "jwt"
        ]
        for app, login in zip(apps, credentials, strict=True):  # pools and caches filled before any timing
            run_python(app.url + PATHS["protected_page"], login.for_seconds(WARM_UP_S), 200, WARM_UP_S, 2)
        samples: dict[tuple[str, int | None], list[LoadResult]] = {target: [] for target in targets}
        cpu: dict[tuple[str, int | None], list[float]] = {target: [] for target in targets}
        for run in range(settings.runs):
            for scenario, index in targets:
                label = "baseline" if index is None else chosen[index].label
                on_step(f"{workers} worker(s), run {run + 1}/{settings.runs}: {scenario} · {label}", 0)
                app = apps[0 if index is None else index]
                headers = {} if index is None else credentials[index].for_seconds(settings.duration_s)
                before = server_cpu_seconds(app.pid)
                result = _measure(scenario, app, headers, settings)
                if result.requests:  # the workers' user + system time, per request
                    cpu[(scenario, index)].append((server_cpu_seconds(app.pid) - before) / result.requests * 1000)
                samples[(scenario, index)].append(result)
                on_step("", 1)
        fixed = _fixed_rate_rows(chosen, apps, credentials, settings, workers, on_step) if workers == 1 else []
    finally:
        for app in apps:
            app.stop()
    baseline = median_result(samples[("baseline", None)])
    rows = [
        _row(scenario, None if index is None else chosen[index], median_result(results), baseline, workers, settings)
        for (scenario, index), results in samples.items()
    ]
    for row, key in zip(rows, samples, strict=True):
        row["cpu_ms_per_request"] = statistics.median(cpu[key]) if cpu[key] else None
    return rows + fixed


def _fixed_rate_rows(chosen, apps, credentials, settings, workers, on_step) -> list[dict]:
    """p50/p99 at ``settings.fixed_rate`` requests a second: latency at a moderate load, not at saturation."""
    rows = []
    targets = [(None, apps[0], None)] + list(zip(chosen, apps, credentials, strict=True))
    results = []
    for deployment, app, login in targets:
        label = deployment.label if deployment else "baseline"
        on_step(f"{settings.fixed_rate:g} requests/s: {label}", 0)
        path = PATHS["protected_page"] if deployment else PATHS["baseline"]
        headers = login.for_seconds(settings.duration_s) if login else {}
        results.append(run_fixed_rate(app.url + path, headers, 200, settings.fixed_rate, settings.duration_s))
        on_step("", 1)
    baseline = median_result(results[:1])
    for (deployment, _app, _login), result in zip(targets, results, strict=True):
        row = _row("fixed_rate", deployment, median_result([result]), baseline, workers, settings)
        row["rate_per_s"] = settings.fixed_rate
        rows.append(row)
    return rows


def _measure(scenario: str, app: AppProcess, headers: dict[str, str], settings: BenchSettings) -> LoadResult:
    path = PATHS[scenario]
    if path is None:
        return run_logins(app.url, settings.duration_s, settings.login_connections)
    return run_load(app.url + path, headers, 200, settings.duration_s, settings.connections, settings.tool)


def _login(deployment: Deployment, app: AppProcess, attempts: int = 10) -> dict[str, str]:
    """Log in over HTTP and return the credentials to replay.

    One kept-alive connection, as a browser holds: with two processes and the
    memory store, the form, the POST and the check then reach the same
    process (a CSRF token issued by one process is unknown to the other).
    """
    error: Exception | None = None
    for _ in range(attempts):
        with deployment.client(keep_alive=True) as visitor:
            try:
                visitor.login(app.url)
                if visitor.logged_in(app.url)[0]:
                    return visitor.credentials()
            except LabError as failure:
                error = failure
    raise LabError(f"{deployment.label}: could not log in over HTTP ({error})")


def _row(scenario, deployment, figures, baseline, workers, settings) -> dict:
    ratio = figures["requests_per_s"] / baseline["requests_per_s"] if baseline["requests_per_s"] else None
    return {
        "mode": deployment.mode if deployment else "none",
        "store": deployment.store if deployment else "none",
        "variant": deployment.variant if deployment else "",
        "scenario": scenario,
        "workers": workers,
        "threads": settings.threads,
        "connections": {"login": settings.login_connections, "fixed_rate": 4}.get(scenario, settings.connections),
        **figures,
        "error_rate": figures["errors"] / figures["requests"] if figures["requests"] else 0.0,
        "ratio_to_baseline": ratio,
    }


WIRE_VARIANT = "wire on"


def wire_cost(rows: list[dict]) -> list[dict]:
    """What /account/wire's journal costs per request: the memory rows with it on, against the same rows with it off."""
    off = {(r["scenario"], r["workers"]): r for r in rows if r["store"] == "memory" and r["variant"] == ""}
    costs = []
    for row in rows:
        plain = off.get((row["scenario"], row["workers"]))
        if row["store"] != "memory" or row["variant"] != WIRE_VARIANT or plain is None:
            continue
        if not row["requests_per_s"] or not plain["requests_per_s"]:
            continue
        costs.append(
            {
                "scenario": row["scenario"],
                "workers": row["workers"],
                # The server's time per request at full load is 1/throughput: with the journal, minus without.
                "us_per_request": round(1e6 / row["requests_per_s"] - 1e6 / plain["requests_per_s"], 1),
                "p50_ms_on": row["p50_ms"],
                "p50_ms_off": plain["p50_ms"],
                "throughput_ratio": round(row["requests_per_s"] / plain["requests_per_s"], 3),
            }
        )
    return costs


def choose_backends(names: Iterable[str]) -> list[str]:
    """Validate --backends against this bench's rows."""
    names = list(names)
    unknown = [name for name in names if name not in ROWS]
    if unknown:
        raise ValueError(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(ROWS)}")
    return names
