"""``bench --peers``: authdemo against the peers a user would otherwise pick, measured side by side.

Two peers, each served by the same gunicorn as authdemo (the bench's threads):

- Django 5.2 (``bench/peers/django_site/``, stock settings), one worker:

      cache (Redis)   ↔  redis (no persistence)   each with its own redis-server
      db (SQLite)     ↔  sqlalchemy (SQLite)
      signed_cookies  ↔  cookie

- stock Flask-Session 0.8 + Flask-Login (``bench/peers/flask_site/``, see
  lab/flask_peer.py): redis, memcached, sqlalchemy (SQLite) and cachelib
  (↔ memory), with one and two workers, and with one setting changed at a
  time where that setting is the difference.

Every side logs alice in over HTTP through its own login form and then loads
the same page: a login-protected GET that reads the session, loads the user
from SQLite and changes nothing. Every target (the baselines, every protected
page) is measured in the same round robin with the bench's load generator and
settings, so a busy moment slows all sides alike; a ratio is authdemo's
requests served per second over the peer's in the same run.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..harness.processes import ROOT, AppProcess, LabError, run_command
from ..harness.servers import RedisServer
from . import bench, flask_peer, machine
from .bench import BenchSettings
from .deployments import SECRET_KEY, Deployment, Lab
from .loadgen import LoadResult, median_result, run_load, run_python
from .results import store_label
from .visitor import DEMO_USER, Visitor

PEER_DIR = ROOT / "bench" / "peers" / "django_site"
REQUIREMENTS = "bench/peers/requirements.txt"
DJANGO_SERIES = "5.2"
#: authdemo's requests/s over Django's for the same job: the issue's target.
TARGET = 2.0  # issue 9: every like-for-like pair
#: authdemo's full /reports page (template, header, logout form) against Django's smallest protected page.
REPORTS_TARGET = 1.5
PATHS = {"baseline": "/bench/baseline", "protected_page": "/bench/protected", "reports": "/reports"}
DATABASE_FILE = "peer.sqlite3"
CSRF_PATTERN = re.compile(r'name="csrfmiddlewaretoken"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class Engine:
    """One Django session engine and the authdemo deployment doing the same job."""

    name: str  # PEER_SESSION_ENGINE
    store: str  # the row's store
    authdemo: tuple[str, str]  # (store, variant) of the matching authdemo deployment


ENGINES = (
    Engine("cache", "cache (redis)", ("redis", "no persistence")),
    Engine("db", "db (sqlite)", ("sqlalchemy", "SQLite")),
    Engine("signed_cookies", "signed_cookies", ("cookie", "")),
)
#: The Django baseline's row: no session, no store.
DJANGO_BASELINE = Deployment(mode="django", store="none", variant="", env={})
#: The authdemo stores in the order their rows appear.
STORE_ORDER = {store: index for index, store in enumerate(("memory", "redis", "memcached", "sqlalchemy", "cookie"))}
#: The peers, in the order their rows appear.
FRAMEWORKS = ("django", flask_peer.FRAMEWORK)
#: Each peer's baseline row: no session, no store.
BASELINES = {
    "django": DJANGO_BASELINE,
    flask_peer.FRAMEWORK: Deployment(mode=flask_peer.FRAMEWORK, store="none", variant="", env={}),
}


@dataclass
class Pair:
    """A peer (a Django engine, or a stock Flask-Session setup) and the authdemo deployment doing the same job."""

    framework: str  # "django" or "flask-session"
    authdemo: Deployment
    peer: Deployment
    workers: tuple[int, ...] = (1,)  # the gunicorn worker settings it is measured with
    engine: Engine | None = None  # the Django engine
    variant: flask_peer.Variant | None = None  # the Flask-Session setup


class PeerProcess(AppProcess):
    """``gunicorn peer.wsgi:application`` from bench/peers/django_site/, with authdemo's server settings."""

    def command(self) -> list[str]:
        """authdemo's gunicorn command line with Django's WSGI app in place of app:app."""
        command = super().command()
        command[command.index("app:app")] = "peer.wsgi:application"
        return [*command, "--chdir", str(PEER_DIR)]


def django_version() -> str:
    """The installed Django 5.2.x, or LabError saying how to install it."""
    try:
        version = importlib.metadata.version("Django")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    if version != DJANGO_SERIES and not version.startswith(DJANGO_SERIES + "."):
        found = f"Django {version} is installed" if version else "Django is not installed"
        raise LabError(f"bench --peers needs Django {DJANGO_SERIES} ({found}): pip install -r {REQUIREMENTS}")
    return version


def run_manage(env: Mapping[str, str], *args: str) -> str:
    """``python manage.py ARGS`` for the peer (migrate, create_demo_user); its output, or LabError."""
    return run_command([sys.executable, "manage.py", *args], PEER_DIR, env, f"manage.py {' '.join(args)}")


def _peer_env(engine: str, data_dir: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "peer.settings",
        "PEER_SESSION_ENGINE": engine,
        "PEER_DATA_DIR": data_dir,
        "PEER_SECRET_KEY": SECRET_KEY,
    }


def _template(lab: Lab):
    """A SQLite database migrated and holding alice, made once per lab and copied for every engine."""
    template = lab.workdir / "django-template"
    if not (template / DATABASE_FILE).is_file():
        template.mkdir(exist_ok=True)
        env = _peer_env("db", str(template))
        run_manage(env, "migrate", "--noinput", "-v0")
        run_manage(env, "create_demo_user")
    return template


def peer_deployment(lab: Lab, engine: Engine) -> Deployment:
    """The Django peer for one engine: its own SQLite copy, and its own redis-server for the cache engine."""
    data_dir = lab.workdir / f"django-{engine.name}"
    data_dir.mkdir()
    shutil.copy(_template(lab) / DATABASE_FILE, data_dir / DATABASE_FILE)
    env = _peer_env(engine.name, str(data_dir))
    server = None
    if engine.name == "cache":
        server = lab.server("django-redis", lambda: RedisServer(appendonly=False))
        env["PEER_REDIS_URL"] = server.url
    return Deployment(mode="django", store=engine.store, variant="", env=env, server=server)


def prepare(lab: Lab, chosen: Sequence[Deployment], frameworks: Sequence[str] = FRAMEWORKS) -> list[Pair]:
    """A peer for every chosen authdemo deployment that has one (none: an empty list).

    Django is measured with one worker; the stock Flask-Session setups with one
    and two (the second asks whether the store is shared by both processes),
    its one-change variants with one.
    """
    by_key = {(deployment.mode, deployment.store, deployment.variant): deployment for deployment in chosen}
    pairs = []
    if "django" in frameworks:
        django_version()
        for engine in ENGINES:
            if (ours := by_key.get(("session", *engine.authdemo))) is not None:
                pairs.append(Pair("django", ours, peer_deployment(lab, engine), (1,), engine=engine))
    if flask_peer.FRAMEWORK in frameworks:
        for variant in flask_peer.VARIANTS:
            if (ours := by_key.get(("session", *variant.authdemo))) is not None:
                workers = (1, 2) if variant.stock else (1,)
                pairs.append(
                    Pair(flask_peer.FRAMEWORK, ours, flask_peer.deployment(lab, variant), workers, variant=variant)
                )
    return pairs


def _measured(pairs: Sequence[Pair], workers: int) -> list[Pair]:
    return [pair for pair in pairs if workers in pair.workers]


def step_count(pairs: Sequence[Pair], settings: BenchSettings) -> int:
    """Timed runs (and store-cost runs) the peer comparison makes, for the progress bar."""
    total = 0
    for workers in settings.worker_runs:
        if measured := _measured(pairs, workers):
            total += len(_targets(measured)) * settings.runs
    return total + sum(pair.framework == flask_peer.FRAMEWORK for pair in pairs)


def start_peer(lab: Lab, deployment: Deployment, threads: int, workers: int = 1) -> PeerProcess:
    """A started Django peer, stopped with the lab (or earlier by the caller)."""
    process = PeerProcess(deployment.env, lab.workdir, workers=workers, threads=threads)
    lab.stack.callback(process.stop)
    return process.start()


def django_login(base_url: str, username: str = DEMO_USER[0], password: str = DEMO_USER[1]) -> dict[str, str]:
    """Log in through Django's LoginView (csrftoken cookie + csrfmiddlewaretoken field); the cookies to replay."""
    with Visitor(keep_alive=True) as visitor:
        form = visitor.request(base_url, "GET", "/login/")
        match = CSRF_PATTERN.search(form.body)
        if form.status != 200 or match is None or "csrftoken" not in visitor.cookies:
            raise LabError(f"Django: GET /login/ answered {form.status} without a CSRF token")
        fields = {"username": username, "password": password, "csrfmiddlewaretoken": match.group(1)}
        answer = visitor.request(base_url, "POST", "/login/", fields)
        if answer.status != 302 or "/login" in answer.location:
            raise LabError(f"Django: POST /login/ answered {answer.status} {answer.location!r}, not a redirect")
        check = visitor.request(base_url, "GET", PATHS["protected_page"])
        if check.status != 200 or check.body.strip() != username:
            raise LabError(f"Django: GET {PATHS['protected_page']} after login answered {check.status}")
        return visitor.credentials()


@dataclass(frozen=True)
class _Target:
    framework: str
    scenario: str
    deployment: Deployment | None  # None: authdemo's baseline
    server: Deployment  # whose process answers
    paired: str  # the authdemo row this one is compared with ("" for a baseline)
    pair: Pair | None = None


def _targets(pairs: Sequence[Pair]) -> list[_Target]:
    """Every framework's baseline, then per authdemo store: authdemo's protected page, then each peer's."""
    authdemos = list({id(pair.authdemo): pair.authdemo for pair in pairs}.values())
    authdemos.sort(key=lambda deployment: STORE_ORDER.get(deployment.store, len(STORE_ORDER)))
    targets = [_Target("authdemo", "baseline", None, authdemos[0], "")]
    firsts = {pair.framework: pair for pair in reversed(pairs)}
    for framework in FRAMEWORKS:
        if (first := firsts.get(framework)) is not None:
            targets.append(_Target(framework, "baseline", BASELINES[framework], first.peer, ""))
    for ours in authdemos:
        targets.append(_Target("authdemo", "protected_page", ours, ours, ours.label))
        if any(pair.framework == "django" and pair.authdemo is ours for pair in pairs):
            targets.append(_Target("authdemo", "reports", ours, ours, ours.label))
        for pair in pairs:
            if pair.authdemo is ours:
                targets.append(_Target(pair.framework, "protected_page", pair.peer, pair.peer, ours.label, pair))
    return targets


def _start(lab: Lab, framework: str, deployment: Deployment, workers: int, threads: int) -> AppProcess:
    if framework == "django":
        return start_peer(lab, deployment, threads, workers)
    if framework == flask_peer.FRAMEWORK:
        return flask_peer.start(lab, deployment, workers, threads)
    return lab.app(deployment.env, workers=workers, threads=threads)


def _login(framework: str, deployment: Deployment, process: AppProcess) -> dict[str, str]:
    if framework == "django":
        return django_login(process.url)
    if framework == flask_peer.FRAMEWORK:
        return flask_peer.login(process.url)
    return bench._login(deployment, process)


def run(
    lab: Lab,
    pairs: Sequence[Pair],
    settings: BenchSettings,
    on_step: Callable[[str, int], None] = lambda text, done: None,
) -> dict:
    """Every peer against authdemo, round robin, once per worker setting; then the Flask peer's store alone.

    Returns results.json's ``{"peers", "peer_ratios", "peer_store", "peer_run"}``.
    """
    if not pairs:
        return {}
    rows: list[dict] = []
    for workers in settings.worker_runs:
        if measured := _measured(pairs, workers):
            rows.extend(_round_robin(lab, measured, settings, workers, on_step))
    store_rows = []
    for pair in pairs:
        if pair.framework == flask_peer.FRAMEWORK:
            on_step(f"peers, the store alone: {pair.framework} · {pair.peer.label}", 0)
            figures = flask_peer.store_cost(pair.peer, settings.store_ops, settings.duration_s)
            store_rows.append({**_peer_fields(pair), "paired_store": pair.authdemo.label, **figures})
            on_step("", 1)
    frameworks = sorted({pair.framework for pair in pairs})
    return {
        "peers": rows,
        "peer_ratios": ratios(rows),
        "peer_store": store_rows,
        "peer_run": {
            "date": machine.describe()["date"],
            "frameworks": frameworks,
            "django": django_version() if "django" in frameworks else None,
            "flask_session": importlib.metadata.version("flask-session"),
            "flask_login": importlib.metadata.version("flask-login"),
            "target": TARGET,
            "workers": sorted({w for pair in pairs for w in pair.workers if w in settings.worker_runs}),
            "threads": settings.threads,
            "runs": settings.runs,
            "duration_s": settings.duration_s,
            "tool": settings.tool,
        },
    }


def _peer_fields(pair: Pair | None) -> dict:
    """What names a peer row beyond its store: the Django engine, or the session type and the one change."""
    if pair is None:
        return {}
    if pair.framework == "django":
        return {"framework": "django", "mode": "django", "engine": pair.peer.env.get("PEER_SESSION_ENGINE", "")}
    variant = pair.variant
    return {
        "framework": pair.framework,
        "mode": pair.framework,
        "store": variant.session_type,
        "variant": pair.peer.variant,
        "session_type": variant.session_type,
        "change": variant.change,
    }


def _round_robin(lab, pairs, settings, workers, on_step) -> list[dict]:
    """One worker setting: start every server, log in on each, warm up, then measure round robin."""
    targets = _targets(pairs)
    servers = {id(target.server): target for target in targets if target.scenario == "protected_page"}
    on_step(f"peers, {workers} worker(s): starting {len(servers)} servers", 0)
    processes: dict[int, AppProcess] = {}
    try:
        for key, target in servers.items():
            processes[key] = _start(lab, target.framework, target.server, workers, settings.threads)
        credentials = {
            key: bench.Credentials(lambda t=target, key=key: _login(t.framework, t.server, processes[key]))
            for key, target in servers.items()
        }
        urls, logins = [], []
        for target in targets:
            process = processes[id(target.server)]
            path = PATHS[target.scenario]
            urls.append(process.url + path)
            logins.append(credentials[id(target.server)] if target.scenario != "baseline" else None)

        def headers(index: int, seconds: float) -> dict[str, str]:
            return logins[index].for_seconds(seconds) if logins[index] else {}

        for index, url in enumerate(urls):  # connections, pools and caches filled first
            run_python(url, headers(index, bench.WARM_UP_S), 200, bench.WARM_UP_S, 2)
        samples: dict[int, list[LoadResult]] = {index: [] for index in range(len(targets))}
        for run_number in range(settings.runs):
            for index, target in enumerate(targets):
                label = target.deployment.label if target.deployment else "none"
                on_step(
                    f"peers, {workers} worker(s), run {run_number + 1}/{settings.runs}: {target.framework} · {label}", 0
                )
                samples[index].append(
                    run_load(
                        urls[index],
                        headers(index, settings.duration_s),
                        200,
                        settings.duration_s,
                        settings.connections,
                        settings.tool,
                    )
                )
                on_step("", 1)
    finally:
        for process in processes.values():
            process.stop()
    figures = [median_result(samples[index]) for index in range(len(targets))]
    baselines = {t.framework: f for t, f in zip(targets, figures, strict=True) if t.scenario == "baseline"}
    rows = []
    for target, result in zip(targets, figures, strict=True):
        row = bench._row(target.scenario, target.deployment, result, baselines[target.framework], workers, settings)
        row = {"framework": target.framework, **row, "engine": "", **_peer_fields(target.pair)}
        row["paired_store"] = target.paired
        row["served_per_s"] = row["requests_per_s"] * (1 - row["error_rate"])
        rows.append(row)
    return rows


def _ratio_entry(framework: str, workers: int, scenario: str, ours: dict, theirs: dict, target) -> dict:
    """authdemo ÷ the peer in requests served per second (a refused request is no service)."""
    ratio = ours["served_per_s"] / theirs["served_per_s"] if theirs["served_per_s"] else None
    return {
        "framework": framework,
        "workers": workers,
        "scenario": scenario,
        "authdemo": ours["paired_store"] or "baseline",
        "peer": "baseline" if scenario == "baseline" else store_label(theirs),
        "authdemo_requests_per_s": ours["served_per_s"],
        "peer_requests_per_s": theirs["served_per_s"],
        "authdemo_errors": ours["errors"],
        "peer_errors": theirs["errors"],
        "authdemo_error_rate": ours["error_rate"],
        "peer_error_rate": theirs["error_rate"],
        "ratio": ratio,
        "target": target,
        "met": None if target is None or ratio is None else ratio >= target,
    }


def ratios(rows: Sequence[dict]) -> list[dict]:
    """authdemo ÷ each peer per store and worker setting (Django's target 1.5), and the baselines' ratios for scale."""
    authdemo = {
        (row["workers"], row["scenario"], row["paired_store"]): row for row in rows if row["framework"] == "authdemo"
    }
    entries = []
    for row in rows:
        if row["framework"] == "authdemo":
            continue
        ours = authdemo.get((row["workers"], row["scenario"], row["paired_store"]))
        if ours is None:
            continue
        target = TARGET if row["framework"] == "django" and row["scenario"] == "protected_page" else None
        entries.append(_ratio_entry(row["framework"], row["workers"], row["scenario"], ours, row, target))
        reports = authdemo.get((row["workers"], "reports", row["paired_store"]))
        if reports is not None and row["framework"] == "django" and row["scenario"] == "protected_page":
            entries.append(_ratio_entry("django", row["workers"], "reports", reports, row, REPORTS_TARGET))
    return entries
