"""What the lab compares: deployments of the app, one small function each, and the workspace that holds them.

A deployment is the set of AUTHDEMO_* variables an operator would write for
one (mode, store) pair, plus the store server the lab started for it. The
experiments take lists of these functions, so a new row (a JWT token store,
say) is one more function here and one more entry in an experiment's table.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from ..harness.processes import AppProcess, run_flask
from ..harness.servers import ManagedServer, MemcachedServer, MissingBinary, PostgresServer, RedisServer
from .visitor import Visitor

# Fixed, so that an app restart keeps the key; the rotation event swaps in the other one.
SECRET_KEY = "authdemo-lab-secret-key-kept-across-restarts-0123456789"
ROTATED_SECRET_KEY = "authdemo-lab-rotated-secret-key-9876543210-abcdefghij"
DATABASE_FILE = "authdemo.db"


@dataclass
class Deployment:
    """One configuration of the app under test: its variables and the store server behind it."""

    mode: str
    store: str
    variant: str
    env: dict[str, str]
    server: ManagedServer | None = None
    #: Why the store_restart event does not apply, when there is no server to restart.
    no_server: str = ""
    #: The sessions live inside the app process (memory): nothing outside it can hold them.
    in_process: bool = False
    #: How this mode logs in and tells whether it still is (a JWT row brings its own).
    client: Callable[[], Visitor] = field(default=Visitor)

    @property
    def label(self) -> str:
        """The row's name in tables and charts."""
        return f"{self.store} ({self.variant})" if self.variant else self.store


class RoomyMemcached(MemcachedServer):
    """memcached with room for a million sessions (the tests' 64 MB would evict during the scale runs)."""

    memory_mb = 1024

    def command(self):
        """The test server's command line with a larger memory limit."""
        cmd = super().command()
        cmd[cmd.index("-m") + 1] = str(self.memory_mb)
        return cmd


class Lab:
    """The workspace of one lab run: a temp dir, the servers and apps it started, a seeded user database.

    Used as a context manager; leaving it (normally, on an error or on Ctrl-C)
    stops every process it started and removes the temp dir.
    """

    def __init__(self):
        self.stack = ExitStack()
        self.workdir = Path()
        self._servers: dict[str, ManagedServer] = {}
        self._template: Path | None = None
        self._count = 0

    def __enter__(self) -> Lab:
        self.workdir = Path(tempfile.mkdtemp(prefix="authdemo-lab-"))
        self.stack.callback(shutil.rmtree, self.workdir, ignore_errors=True)
        return self

    def __exit__(self, *exc_info) -> None:
        self.stack.close()

    def server(self, key: str, factory: Callable[[], ManagedServer]) -> ManagedServer:
        """The running server named ``key``, started on first use and cleaned up with the lab."""
        if key not in self._servers:
            server = factory()
            self.stack.callback(server.cleanup)
            server.start()
            self._servers[key] = server
        return self._servers[key]

    def app(self, env: dict[str, str], **options) -> AppProcess:
        """A started gunicorn for a deployment, stopped with the lab (or earlier by the caller)."""
        process = AppProcess(env, self.workdir, **options)
        self.stack.callback(process.stop)
        return process.start()

    def deployment(self, mode: str, store: str, variant: str = "", env: dict[str, str] | None = None, **fields):
        """A deployment with its own instance folder holding a copy of the seeded database."""
        self._count += 1
        instance = self.workdir / f"{self._count:02d}-{store}-{variant or 'default'}"
        instance.mkdir()
        for path in self.seeded_database().glob(f"{DATABASE_FILE}*"):
            shutil.copy(path, instance / path.name)
        base = {
            "AUTHDEMO_ENV": "development",
            "AUTHDEMO_AUTH_MODE": mode,
            "AUTHDEMO_SESSION_BACKEND": store,
            "AUTHDEMO_INSTANCE_PATH": str(instance),
            "AUTHDEMO_DATABASE_URL": f"sqlite:///{instance / DATABASE_FILE}",
            "AUTHDEMO_SECRET_KEY": SECRET_KEY,
            # The lab logs alice in far more often than a person could; the limits would answer 429.
            "AUTHDEMO_LOGIN_LIMIT_ACCOUNT": "off",
            "AUTHDEMO_LOGIN_LIMIT_ADDRESS": "off",
            # The /bench/* routes the load generator asks for: absent from every other app.
            "AUTHDEMO_LAB_ROUTES": "1",
            # Stores are measured as production runs them; the bench's "memory (wire on)" row prices the journal.
            "AUTHDEMO_WIRE": "off",
        }
        return Deployment(mode=mode, store=store, variant=variant, env={**base, **(env or {})}, **fields)

    def seed(self, env: dict[str, str]) -> None:
        """Tables, roles and the demo users in a deployment's database, through the real commands."""
        run_flask(env, "init-db")
        run_flask(env, "seed-demo")

    def seeded_database(self) -> Path:
        """The folder of one SQLite database seeded once (scrypt is slow on purpose), copied into every instance."""
        if self._template is None:
            template = self.workdir / "template"
            template.mkdir()
            self.seed(
                {
                    "AUTHDEMO_INSTANCE_PATH": str(template),
                    "AUTHDEMO_DATABASE_URL": f"sqlite:///{template / DATABASE_FILE}",
                    "AUTHDEMO_SECRET_KEY": SECRET_KEY,
                }
            )
            self._template = template
        return self._template


# -- the deployments: one function each --------------------------------------------


def memory(lab: Lab) -> Deployment:
    """The default: a dict inside the app process."""
    return lab.deployment(
        "session",
        "memory",
        in_process=True,
        no_server="no store server: the sessions are a dict inside the app process",
    )


def memory_wire(lab: Lab) -> Deployment:
    """The default store with /account/wire journaling every request (the development default)."""
    return lab.deployment(
        "session",
        "memory",
        "wire on",
        {"AUTHDEMO_WIRE": "on"},
        in_process=True,
        no_server="no store server: the sessions are a dict inside the app process",
    )


def redis_aof(lab: Lab) -> Deployment:
    """Redis with its append-only file, fsynced on every write."""
    server = lab.server("redis-aof", lambda: RedisServer(appendonly=True))
    return lab.deployment("session", "redis", "AOF", {"AUTHDEMO_REDIS_URL": server.url}, server=server)


def redis_volatile(lab: Lab) -> Deployment:
    """Redis as a pure cache: no AOF, no snapshots."""
    server = lab.server("redis", lambda: RedisServer(appendonly=False))
    return lab.deployment("session", "redis", "no persistence", {"AUTHDEMO_REDIS_URL": server.url}, server=server)


def memcached(lab: Lab) -> Deployment:
    """Memcached: memory only, by design."""
    server = lab.server("memcached", RoomyMemcached)
    return lab.deployment("session", "memcached", "", {"AUTHDEMO_MEMCACHED_SERVERS": server.servers}, server=server)


def sqlalchemy_sqlite(lab: Lab) -> Deployment:
    """The sessions table in the app's SQLite file."""
    return lab.deployment(
        "session",
        "sqlalchemy",
        "SQLite",
        no_server="no database server: SQLite is a file in the app's instance folder",
    )


def sqlalchemy_postgres(lab: Lab) -> Deployment:
    """The sessions table in PostgreSQL, a database server that can be restarted."""
    server = lab.server("postgres", PostgresServer)
    name = f"authdemo_lab_{secrets.token_hex(4)}"
    server.create_database(name)
    deployment = lab.deployment(
        "session", "sqlalchemy", "PostgreSQL", {"AUTHDEMO_DATABASE_URL": server.url(name)}, server=server
    )
    lab.seed(deployment.env)
    return deployment


def sqlalchemy_server(lab: Lab) -> Deployment:
    """PostgreSQL where it is installed, else SQLite (then there is no server to restart)."""
    try:
        return sqlalchemy_postgres(lab)
    except MissingBinary:
        return sqlalchemy_sqlite(lab)


def cookie(lab: Lab) -> Deployment:
    """Flask's signed cookie; the per-login records sit in the app's SQLite file."""
    return lab.deployment(
        "session",
        "cookie",
        no_server="no store server: the session travels in the browser's signed cookie",
    )


# -- JWT mode: the same browser, tokens in cookies; the store holds only revocations ----------


def _jwt(
    lab: Lab,
    token_store: str,
    variant: str,
    env: dict[str, str],
    server: ManagedServer | None = None,
    no_server: str = "",
) -> Deployment:
    # A long access token: the load generator replays one cookie for minutes, and a silent refresh
    # would rotate the refresh token under it (its next replay would count as reuse).
    base = {
        "AUTHDEMO_TOKEN_STORE": token_store,
        "AUTHDEMO_SESSION_BACKEND": "memory",
        "AUTHDEMO_JWT_ACCESS_TTL": "3600",
    }
    return lab.deployment("jwt", token_store, variant, {**base, **env}, server=server, no_server=no_server)


def jwt_memory(lab: Lab) -> Deployment:
    """Revocations in the app process."""
    return _jwt(lab, "memory", "tokens", {}, no_server="no store server: revocations are a dict in the app process")


def jwt_redis(lab: Lab) -> Deployment:
    """Revocations in Redis with its append-only file."""
    server = lab.server("redis-aof", lambda: RedisServer(appendonly=True))
    return _jwt(lab, "redis", "tokens, AOF", {"AUTHDEMO_REDIS_URL": server.url}, server=server)


def jwt_memcached(lab: Lab) -> Deployment:
    """Revocations in Memcached."""
    server = lab.server("memcached", RoomyMemcached)
    return _jwt(lab, "memcached", "tokens", {"AUTHDEMO_MEMCACHED_SERVERS": server.servers}, server=server)


def jwt_sqlalchemy(lab: Lab) -> Deployment:
    """Revocations in the app's database (the default token store), SQLite here."""
    return _jwt(
        lab,
        "sqlalchemy",
        "tokens, SQLite",
        {},
        no_server="no database server: SQLite is a file in the app's instance folder",
    )
