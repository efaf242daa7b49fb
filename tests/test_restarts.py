"""What survives a restart, tested for real: app restarts are new app objects, store restarts are real servers."""

from __future__ import annotations

import pytest

from tests.servers import MemcachedServer, RedisServer, require
from tests.support import Browser


def _logged_in_cookie(app) -> str:
    browser = Browser(app)
    browser.login("alice")
    assert browser.is_logged_in()
    return browser.cookie


def _still_logged_in(app, cookie: str) -> bool:
    browser = Browser(app)
    browser.use_cookie(cookie)
    return browser.is_logged_in()


@pytest.mark.parametrize(
    "backend, survives",
    [("memory", False), ("redis", True), ("memcached", True), ("sqlalchemy", True), ("cookie", True)],
)
def test_app_restart(make_app, backend, survives):
    """A new app process over the same configuration: only the in-process memory store forgets."""
    cookie = _logged_in_cookie(make_app(backend))
    assert _still_logged_in(make_app(backend), cookie) is survives


def test_cookie_sessions_die_with_a_new_secret_key(make_app):
    """A signed cookie is only as durable as the key that signed it."""
    cookie = _logged_in_cookie(make_app("cookie"))
    assert _still_logged_in(make_app("cookie"), cookie)
    assert not _still_logged_in(make_app("cookie", AUTHDEMO_SECRET_KEY="a-brand-new-secret-key"), cookie)


@pytest.mark.parametrize("backend", ["redis", "memcached", "sqlalchemy"])
def test_server_side_sessions_survive_a_new_secret_key(make_app, backend):
    """A server-side session id is random, not signed: rotating the secret key does not log anyone out."""
    cookie = _logged_in_cookie(make_app(backend))
    assert _still_logged_in(make_app(backend, AUTHDEMO_SECRET_KEY="a-brand-new-secret-key"), cookie)


@pytest.mark.parametrize("appendonly, survives", [(True, True), (False, False)], ids=["aof", "no-persistence"])
def test_redis_restart(make_app, appendonly, survives):
    """Redis keeps sessions across its own restart only with append-only persistence."""
    require("redis-server", "redis-server")
    with RedisServer(appendonly=appendonly) as server:
        app = make_app("redis", AUTHDEMO_REDIS_URL=server.url)
        cookie = _logged_in_cookie(app)
        server.restart()
        assert _still_logged_in(app, cookie) is survives


def test_memcached_restart_loses_every_session(make_app):
    """Memcached keeps nothing on disk."""
    require("memcached", "memcached")
    with MemcachedServer() as server:
        app = make_app("memcached", AUTHDEMO_MEMCACHED_SERVERS=server.servers)
        cookie = _logged_in_cookie(app)
        assert _still_logged_in(app, cookie)
        server.restart()
        assert not _still_logged_in(app, cookie)


def test_postgres_restart_keeps_sessions(make_app, postgres_server):
    """The database store survives a restart of the database server itself."""
    require("postgres", "postgresql")
    postgres_server.create_database("restart_test")
    app = make_app("sqlalchemy", AUTHDEMO_DATABASE_URL=postgres_server.url("restart_test"))
    cookie = _logged_in_cookie(app)
    postgres_server.restart()
    assert _still_logged_in(app, cookie)
    assert _still_logged_in(make_app("sqlalchemy", AUTHDEMO_DATABASE_URL=postgres_server.url("restart_test")), cookie)
