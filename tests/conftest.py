"""Fixtures: real store servers on free loopback ports, apps per backend, and a browser-like client."""

from __future__ import annotations

import itertools
import re

import pytest

from authdemo import create_app
from authdemo.drivers import get_connections
from authdemo.extensions import db
from authdemo.models import User
from authdemo.rbac import insert_roles
from tests.servers import MemcachedServer, PostgresServer, RedisServer, require

SECRET = "test-secret-key-that-is-long-enough-for-hmac"
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}
ROLES = {"alice": "admin", "bob": "editor", "carol": "viewer"}

# Every store the contract suite runs against; sqlalchemy twice, on SQLite and on PostgreSQL.
BACKENDS = ["memory", "redis", "memcached", "sqlalchemy", "sqlalchemy-postgres", "cookie"]
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


def shutdown(app) -> None:
    """Release every connection an app holds (tests must leave nothing open)."""
    app.extensions["authdemo_login"].store.close()
    app.extensions["authdemo_tokens"].store.close()
    get_connections(app).close()
    with app.app_context():
        db.engine.dispose()


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


CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """A test client that behaves like a person in a browser: fetches forms, posts them with their CSRF token."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]

    def csrf(self, path: str = "/login") -> str:
        """The CSRF token from a page's form."""
        page = self.client.get(path)
        match = CSRF_PATTERN.search(page.get_data(as_text=True))
        assert match, f"no csrf_token in {path} (status {page.status_code})"
        return match.group(1)

    def login(self, username: str = "alice", password: str | None = None, next: str | None = None):
        """Log in through the form; returns the POST's response."""
        path = "/login" + (f"?next={next}" if next else "")
        token = self.csrf(path)
        form = {"username": username, "password": password or PASSWORDS.get(username, ""), "csrf_token": token}
        if next is not None:
            form["next"] = next
        return self.client.post("/login", data=form)

    def post(self, path: str, data: dict | None = None, form_page: str = "/"):
        """POST a form the way the page would, with its CSRF token."""
        return self.client.post(path, data={"csrf_token": self.csrf(form_page), **(data or {})})

    def logout(self):
        """Press the header's log-out button."""
        return self.post("/logout", form_page="/")

    @property
    def cookie(self) -> str | None:
        """The session cookie's value, as the browser holds it."""
        cookie = self.client.get_cookie(self.cookie_name)
        return cookie.value if cookie else None

    def use_cookie(self, value: str) -> None:
        """Replace the session cookie (replaying a stolen or old copy)."""
        self.client.set_cookie(self.cookie_name, value)

    def is_logged_in(self) -> bool:
        """Whether /account is served (True) or redirects to /login (False)."""
        response = self.client.get("/account")
        assert response.status_code in (200, 302), response.status_code
        return response.status_code == 200


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
