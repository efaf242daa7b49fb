"""A store that does not answer: a 503 naming it, /healthz says so, and recovery without losing sessions."""

from __future__ import annotations

from tests.servers import MemcachedServer, PostgresServer, RedisServer, require
from tests.support import Browser


def _assert_unavailable(browser: Browser, store_words: str) -> None:
    page = browser.client.get("/account")
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert store_words in text
    assert "Traceback" not in text
    assert page.headers["Retry-After"]
    health = browser.client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["store"]["ok"] is False
    # A login attempt during the outage is answered, not crashed.
    assert browser.client.post("/login", data={"username": "alice", "password": "x"}).status_code == 503


def test_redis_outage_and_recovery(make_app):
    require("redis-server", "redis-server")
    with RedisServer(appendonly=True) as server:
        browser = Browser(make_app("redis", AUTHDEMO_REDIS_URL=server.url))
        browser.login("alice")
        server.kill()
        _assert_unavailable(browser, "redis session store")
        server.restart()
        assert browser.is_logged_in()  # the session Redis kept is still valid
        assert browser.client.get("/healthz").status_code == 200


def test_memcached_outage_and_recovery(make_app):
    require("memcached", "memcached")
    with MemcachedServer() as server:
        browser = Browser(make_app("memcached", AUTHDEMO_MEMCACHED_SERVERS=server.servers))
        browser.login("alice")
        server.kill()
        _assert_unavailable(browser, "memcached session store")
        server.restart()
        # Memcached kept nothing, so the user logs in again — and that works.
        assert not browser.is_logged_in()
        assert browser.login("alice").status_code == 302
        assert browser.is_logged_in()


def test_database_outage_and_recovery(make_app, postgres_server):
    require("postgres", "postgresql")
    with PostgresServer() as server:
        server.create_database("outage")
        browser = Browser(make_app("sqlalchemy", AUTHDEMO_DATABASE_URL=server.url("outage")))
        browser.login("alice")
        server.kill()
        _assert_unavailable(browser, "sqlalchemy session store")
        server.restart()
        assert browser.is_logged_in()
        assert browser.client.get("/healthz").status_code == 200


def test_database_outage_with_redis_sessions_answers_503(make_app, redis_server):
    """Sessions in Redis, users in PostgreSQL: losing the database is a 503 where a page needs it, not a 500."""
    require("postgres", "postgresql")
    with PostgresServer() as server:
        server.create_database("users")
        browser = Browser(make_app("redis", AUTHDEMO_DATABASE_URL=server.url("users")))
        browser.login("alice")
        server.kill()
        # The identity travels in the session: a logged-in page that reads no table still answers…
        assert browser.client.get("/reports").status_code == 200
        # …and one that needs the database is a 503 naming it, not a 500.
        page = browser.client.get("/admin")
        assert page.status_code == 503
        assert "database" in page.get_data(as_text=True)
        server.restart()
        assert browser.is_logged_in()
