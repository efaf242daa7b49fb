"""``bench --peers``: authdemo against the peer a user would otherwise pick, Django 5.2, measured side by side.

The peer is the small Django project in ``bench/peers/django_site/`` (stock
settings, one settings module driven by PEER_* variables), served by the same
gunicorn as authdemo (one worker, the bench's threads). For each Django
session engine there is the authdemo store doing the same job:

    cache (Redis)   ↔  redis (no persistence)   each with its own redis-server
    db (SQLite)     ↔  sqlalchemy (SQLite)
    signed_cookies  ↔  cookie

Both sides log alice in over HTTP through their own login form and then load
the same page: a login-protected GET that reads the session, loads the user
from SQLite and writes nothing. Every target (both baselines, every protected
page) is measured in the same round robin with the bench's load generator and
settings, so a busy moment slows both sides alike; the ratio is authdemo's
requests/s over Django's in the same run.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from . import bench, machine
from .bench import BenchSettings
from .deployments import SECRET_KEY, Deployment, Lab
from .loadgen import LoadResult, median_result, run_load, run_python
from .processes import ROOT, AppProcess, LabError, run_command
from .servers import RedisServer
from .visitor import DEMO_USER, Visitor

PEER_DIR = ROOT / "bench" / "peers" / "django_site"
REQUIREMENTS = "bench/peers/requirements.txt"
DJANGO_SERIES = "5.2"
#: authdemo's requests/s over Django's for the same job: the issue's target.
TARGET = 1.5
PATHS = {"baseline": "/bench/baseline", "protected_page": "/bench/protected"}
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


@dataclass
class Pair:
    """A Django engine and the authdemo deployment it is compared with."""

    engine: Engine
    authdemo: Deployment
    django: Deployment


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


def prepare(lab: Lab, chosen: Sequence[Deployment]) -> list[Pair]:
    """A Django peer for every chosen authdemo deployment that has one (none: an empty list)."""
    django_version()
    pairs = []
    for engine in ENGINES:
        for deployment in chosen:
            if (deployment.mode, deployment.store, deployment.variant) == ("session", *engine.authdemo):
                pairs.append(Pair(engine, deployment, peer_deployment(lab, engine)))
                break
    return pairs


def step_count(pairs: Sequence[Pair], settings: BenchSettings) -> int:
    """Timed runs the peer comparison makes (for the progress bar)."""
    return (2 + 2 * len(pairs)) * settings.runs if pairs else 0


def start_peer(lab: Lab, deployment: Deployment, threads: int) -> PeerProcess:
    """A started Django peer, stopped with the lab (or earlier by the caller)."""
    process = PeerProcess(deployment.env, lab.workdir, workers=1, threads=threads)
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
    scenario: str
    deployment: Deployment | None  # None: authdemo's baseline
    url: str
    headers: dict[str, str]

    @property
    def framework(self) -> str:
        return "django" if self.deployment is not None and self.deployment.mode == "django" else "authdemo"


def run(
    lab: Lab,
    pairs: Sequence[Pair],
    settings: BenchSettings,
    on_step: Callable[[str, int], None] = lambda text, done: None,
) -> dict:
    """Both baselines and every pair's protected page, round robin; ``{"peers", "peer_ratios", "peer_run"}``."""
    if not pairs:
        return {}
    on_step(f"peers: starting {len(pairs)} authdemo and {len(pairs)} Django servers", 0)
    processes: list[AppProcess] = []
    try:
        apps = [lab.app(pair.authdemo.env, workers=1, threads=settings.threads) for pair in pairs]
        processes += apps
        peers = [start_peer(lab, pair.django, settings.threads) for pair in pairs]
        processes += peers
        targets = [
            _Target("baseline", None, apps[0].url + PATHS["baseline"], {}),
            _Target("baseline", DJANGO_BASELINE, peers[0].url + PATHS["baseline"], {}),
        ]
        for pair, app, peer in zip(pairs, apps, peers, strict=True):
            authdemo_login = bench._login(pair.authdemo, app)
            targets.append(_Target("protected_page", pair.authdemo, app.url + PATHS["protected_page"], authdemo_login))
            django = django_login(peer.url)
            targets.append(_Target("protected_page", pair.django, peer.url + PATHS["protected_page"], django))
        for target in targets:  # connections, pools and caches filled before any timing
            run_python(target.url, target.headers, 200, bench.WARM_UP_S, 2)
        samples: dict[int, list[LoadResult]] = {index: [] for index in range(len(targets))}
        for run_number in range(settings.runs):
            for index, target in enumerate(targets):
                label = target.deployment.label if target.deployment else "none"
                on_step(f"peers, run {run_number + 1}/{settings.runs}: {target.framework} · {label}", 0)
                samples[index].append(
                    run_load(target.url, target.headers, 200, settings.duration_s, settings.connections, settings.tool)
                )
                on_step("", 1)
    finally:
        for process in processes:
            process.stop()
    figures = [median_result(samples[index]) for index in range(len(targets))]
    baselines = {"authdemo": figures[0], "django": figures[1]}
    rows = [
        {
            "framework": target.framework,
            **bench._row(target.scenario, target.deployment, result, baselines[target.framework], 1, settings),
            "engine": target.deployment.env.get("PEER_SESSION_ENGINE", "") if target.framework == "django" else "",
        }
        for target, result in zip(targets, figures, strict=True)
    ]
    return {
        "peers": rows,
        "peer_ratios": ratios(rows, pairs),
        "peer_run": {
            "date": machine.describe()["date"],
            "django": django_version(),
            "target": TARGET,
            "workers": 1,
            "threads": settings.threads,
            "runs": settings.runs,
            "duration_s": settings.duration_s,
            "tool": settings.tool,
        },
    }


def _ratio_entry(scenario: str, authdemo_label: str, django_label: str, ours: dict, theirs: dict, target) -> dict:
    ratio = ours["requests_per_s"] / theirs["requests_per_s"] if theirs["requests_per_s"] else None
    return {
        "scenario": scenario,
        "authdemo": authdemo_label,
        "django": django_label,
        "authdemo_requests_per_s": ours["requests_per_s"],
        "django_requests_per_s": theirs["requests_per_s"],
        "authdemo_errors": ours["errors"],
        "django_errors": theirs["errors"],
        "ratio": ratio,
        "target": target,
        "met": None if target is None or ratio is None else ratio >= target,
    }


def ratios(rows: Sequence[dict], pairs: Sequence[Pair]) -> list[dict]:
    """authdemo ÷ Django requests/s per pair (target 1.5), and the two baselines' ratio for scale (no target)."""
    by_key = {(row["framework"], row["scenario"], row["store"], row["variant"]): row for row in rows}
    entries = [
        _ratio_entry(
            "baseline",
            "baseline",
            "baseline",
            by_key[("authdemo", "baseline", "none", "")],
            by_key[("django", "baseline", "none", "")],
            None,
        )
    ]
    for pair in pairs:
        ours = by_key[("authdemo", "protected_page", pair.authdemo.store, pair.authdemo.variant)]
        theirs = by_key[("django", "protected_page", pair.django.store, "")]
        entries.append(_ratio_entry("protected_page", pair.authdemo.label, pair.django.store, ours, theirs, TARGET))
    return entries
