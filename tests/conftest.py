"""Fixtures: real store servers on free loopback ports, apps per backend, and a browser-like client."""

from __future__ import annotations

import itertools

import pytest

from authdemo import create_app
from authdemo.extensions import db
from authdemo.models import User
from authdemo.rbac import insert_roles
from tests.servers import MemcachedServer, PostgresServer, RedisServer, require
from tests.support import BACKENDS, CHROMIUM_ARGS, PASSWORDS, ROLES, SECRET, Browser, shutdown

_database_names = itertools.count()


def _server(cls, binary, package, **kwargs):
    require(binary, package)
    server = cls(**kwargs)
    server.start()
    return server


@pytest.fixture(scope="session")
def redis_server():
    """A redis-server of our own, without persistence."""
    server = _server(RedisServer, "redis-server", "redis-server")
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def memcached_server():
    """A memcached of our own."""
    server = _server(MemcachedServer, "memcached", "memcached")
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL cluster of our own (initdb into a temp dir)."""
    server = _server(PostgresServer, "postgres", "postgresql")
    yield server
    server.cleanup()


def _flush(url_or_servers: str, kind: str) -> None:
    if kind == "redis":
        import redis

        client = redis.Redis.from_url(url_or_servers)
        client.flushall()
        client.close()
    else:
        from pymemcache.client.base import Client

        host, port = url_or_servers.rsplit(":", 1)
        client = Client((host, int(port)))
        client.flush_all()
        client.close()


@pytest.fixture
def make_app(request, tmp_path):
    """Build apps for a backend, sharing one instance folder (like restarts of one deployment).

    ``make_app("redis")`` flushes the store on first use in a test; later
    calls in the same test build a new app over the same data: an app restart.
    ``make_app("jwt:redis")`` is JWT mode with that token store.
    """
    apps = []
    environment: dict[str, str] = {}

    def make(backend: str = "memory", clock=None, **overrides: str):
        mode, _, store = backend.rpartition(":")
        env = {
            "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "instance"),
            "AUTHDEMO_SECRET_KEY": SECRET,
            # Hostile-input suites fail logins by the dozen; tests/test_production_limits.py turns limits on.
            "AUTHDEMO_LOGIN_LIMIT_ACCOUNT": "off",
            "AUTHDEMO_LOGIN_LIMIT_ADDRESS": "off",
        }
        if mode == "jwt":
            env.update(AUTHDEMO_AUTH_MODE="jwt", AUTHDEMO_TOKEN_STORE=store.split("-")[0])
        else:
            env["AUTHDEMO_SESSION_BACKEND"] = store.split("-")[0]
        if not environment:
            environment.update(_store_environment(request, store))
        env.update(environment)
        env.update(overrides)
        app = create_app(env, clock=clock)
        app.config["TESTING"] = True
        apps.append(app)
        with app.app_context():
            db.create_all()
            insert_roles()
            for name, password in PASSWORDS.items():
                if db.session.scalar(db.select(User).filter_by(username=name)) is None:
                    from authdemo.rbac import create_user

                    create_user(name, password, [ROLES[name]])
        return app

    yield make
    for app in apps:
        shutdown(app)


def _store_environment(request, backend: str) -> dict[str, str]:
    """Variables pointing the app at a clean store for this test."""
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        _flush(server.url, "redis")
        return {"AUTHDEMO_REDIS_URL": server.url}
    if backend == "memcached":
        server = request.getfixturevalue("memcached_server")
        _flush(server.servers, "memcached")
        return {"AUTHDEMO_MEMCACHED_SERVERS": server.servers}
    if backend == "sqlalchemy-postgres":
        server = request.getfixturevalue("postgres_server")
        name = f"authdemo_test_{next(_database_names)}"
        server.create_database(name)
        return {"AUTHDEMO_DATABASE_URL": server.url(name)}
    return {}


@pytest.fixture
def browser_for():
    """``browser_for(app)``: a fresh browser-like client."""
    return Browser


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each store of the contract suite in turn."""
    return request.param


@pytest.fixture
def app(make_app, backend):
    """An app on the backend under test."""
    return make_app(backend)


@pytest.fixture
def browser(app):
    """A browser on that app."""
    return Browser(app)


@pytest.fixture
def serve():
    """``serve(app)``: the app served for real on a loopback port (for JWKS fetches, CLI clients); returns its URL."""
    import threading

    from werkzeug.serving import make_server

    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the module (each test gets its own context = fresh cookie jar)."""
    executable = require("chromium", "chromium")  # skip, or fail with AUTHDEMO_REQUIRE_SERVICES=1
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()
