"""The stock Flask peer of ``bench --peers``: Flask-Session 0.8 + Flask-Login from bench/peers/flask_site/.

A Flask user's own alternative to authdemo, each setting at its documented
default, in four SESSION_TYPEs, each paired with the authdemo store doing the
same job:

    redis       ↔  redis (no persistence)   each side its own redis-server
    memcached   ↔  memcached                each side its own memcached
    sqlalchemy  ↔  sqlalchemy (SQLite)
    cachelib    ↔  memory                   SimpleCache(): in the process, 500 entries

Where one of authdemo's choices makes the difference, the stock peer is also
measured with that one setting changed (PEER_CHANGE), so that each choice has
its own figure: ``no_delay`` for pymemcache (Nagle's algorithm off), ``wal``
for SQLite, ``write_when_changed`` (SESSION_REFRESH_EACH_REQUEST = False).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass

from ..harness.processes import ROOT, AppProcess, LabError, run_command
from ..harness.servers import RedisServer
from .deployments import SECRET_KEY, Deployment, Lab, RoomyMemcached
from .visitor import DEMO_USER, Visitor

FLASK_DIR = ROOT / "bench" / "peers" / "flask_site"
FRAMEWORK = "flask-session"
DATABASE_FILE = "peer.sqlite3"
PROTECTED = "/bench/protected"
#: PEER_CHANGE → how the row's variant reads.
CHANGE_LABELS = {"": "", "no_delay": "no_delay", "wal": "WAL", "write_when_changed": "write only when changed"}


@dataclass(frozen=True)
class Variant:
    """One Flask-Session setup: a SESSION_TYPE, stock or with one setting changed."""

    session_type: str
    change: str  # "" = stock
    authdemo: tuple[str, str]  # (store, variant) of the authdemo deployment doing the same job

    @property
    def stock(self) -> bool:
        """No setting changed from its default."""
        return not self.change


VARIANTS = (
    Variant("redis", "", ("redis", "no persistence")),
    Variant("redis", "write_when_changed", ("redis", "no persistence")),
    Variant("memcached", "", ("memcached", "")),
    Variant("memcached", "no_delay", ("memcached", "")),
    Variant("sqlalchemy", "", ("sqlalchemy", "SQLite")),
    Variant("sqlalchemy", "wal", ("sqlalchemy", "SQLite")),
    Variant("sqlalchemy", "write_when_changed", ("sqlalchemy", "SQLite")),
    Variant("cachelib", "", ("memory", "")),
)


class FlaskPeerProcess(AppProcess):
    """``gunicorn flask_peer:app`` from bench/peers/flask_site/, with authdemo's server settings."""

    def command(self) -> list[str]:
        """authdemo's gunicorn command line with the peer's app in place of app:app."""
        command = super().command()
        command[command.index("app:app")] = "flask_peer:app"
        return [*command, "--chdir", str(FLASK_DIR)]


def _env(session_type: str, change: str, data_dir: str) -> dict[str, str]:
    env = {"PEER_SESSION_TYPE": session_type, "PEER_DATA_DIR": data_dir, "PEER_SECRET_KEY": SECRET_KEY}
    if change:
        env["PEER_CHANGE"] = change
    return env


def _flask(env: dict[str, str], *args: str) -> str:
    return run_command([sys.executable, "-m", "flask", "--app", "flask_peer", *args], FLASK_DIR, env, "flask_peer")


def _template(lab: Lab):
    """A SQLite file with the users and sessions tables and alice, made once per lab and copied for every peer."""
    template = lab.workdir / "flask-template"
    if not (template / DATABASE_FILE).is_file():
        template.mkdir(exist_ok=True)
        _flask(_env("sqlalchemy", "", str(template)), "init-demo")
    return template


def deployment(lab: Lab, variant: Variant) -> Deployment:
    """The peer for one variant: its own SQLite copy; the redis and memcached peers share one server each."""
    name = f"flask-{variant.session_type}-{variant.change or 'stock'}"
    data_dir = lab.workdir / name
    data_dir.mkdir()
    shutil.copy(_template(lab) / DATABASE_FILE, data_dir / DATABASE_FILE)
    env = _env(variant.session_type, variant.change, str(data_dir))
    server = None
    if variant.session_type == "redis":
        server = lab.server("flask-redis", lambda: RedisServer(appendonly=False))
        env["PEER_REDIS_URL"] = server.url
    elif variant.session_type == "memcached":
        server = lab.server("flask-memcached", RoomyMemcached)
        env["PEER_MEMCACHED"] = server.servers
    return Deployment(
        mode=FRAMEWORK, store=variant.session_type, variant=CHANGE_LABELS[variant.change], env=env, server=server
    )


def start(lab: Lab, peer: Deployment, workers: int, threads: int) -> FlaskPeerProcess:
    """A started Flask peer, stopped with the lab (or earlier by the caller)."""
    process = FlaskPeerProcess(peer.env, lab.workdir, workers=workers, threads=threads)
    lab.stack.callback(process.stop)
    return process.start()


def login(base_url: str, username: str = DEMO_USER[0], password: str = DEMO_USER[1]) -> dict[str, str]:
    """Log in through the peer's form on one kept-alive connection (one worker process); the cookie to replay."""
    with Visitor(keep_alive=True) as visitor:
        answer = visitor.request(base_url, "POST", "/login", {"username": username, "password": password})
        if answer.status != 302 or answer.location != PROTECTED:
            raise LabError(f"Flask peer: POST /login answered {answer.status} {answer.location!r}, not a redirect")
        check = visitor.request(base_url, "GET", PROTECTED)
        if check.status != 200 or check.body.strip() != username:
            raise LabError(f"Flask peer: GET {PROTECTED} after login answered {check.status}")
        return visitor.credentials()


def store_cost(peer: Deployment, ops: int, seconds: float) -> dict:
    """The peer's session per protected request without HTTP (bench/peers/flask_site/store_cost.py)."""
    output = run_command(
        [sys.executable, "store_cost.py", str(ops), str(seconds)], FLASK_DIR, peer.env, "flask peer store_cost.py"
    )
    try:
        return json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise LabError(f"flask peer store_cost.py printed no figures: {output[-300:]!r}") from error
