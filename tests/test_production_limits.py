"""Failed-login limits: per account and per address, counted together by two app instances on one store."""

from __future__ import annotations

import time
from types import SimpleNamespace

import limits.storage.memcached
import limits.storage.memory
import limits.strategies
import pytest

from tests.support import PASSWORDS, Browser

LIMITS = {"AUTHDEMO_LOGIN_LIMIT_ACCOUNT": "3 per minute", "AUTHDEMO_LOGIN_LIMIT_ADDRESS": "8 per minute"}


@pytest.fixture(autouse=True)
def limits_clock_held_still(monkeypatch):
    """Hold still the clock that in-process and Memcached limit windows are cut by.

    Those storages start their windows at whole minutes of ``time.time()``, and the
    sliding-window counter weighs the previous window by the time left in it and
    rounds down: a test that happens to straddle ``:00`` is allowed one guess more.
    The Redis storage starts a window at its first hit, on the server's clock.
    """
    now = time.time()
    frozen = SimpleNamespace(time=lambda: now)  # time.time() is all these modules use (limits 5.8, pinned)
    for module in (limits.storage.memory, limits.storage.memcached, limits.strategies):
        monkeypatch.setattr(module, "time", frozen)


def _two_instances(make_app, backend: str, **overrides: str):
    """Two apps on the same store, behind one trusted proxy: like two gunicorn instances behind nginx."""
    env = {**LIMITS, "AUTHDEMO_PROXY_HOPS": "1", **overrides}
    return tuple(make_app(backend, AUTHDEMO_INSTANCE_NAME=name, **env) for name in ("app1", "app2"))


def _attempt(app, username: str, password: str, address: str = "198.51.100.1"):
    """One login through a fresh browser from this client address; returns the POST's response."""
    browser = Browser(app)
    browser.client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return browser.login(username, password)


@pytest.mark.parametrize("backend", ["redis", "memcached"])
def test_two_instances_count_failures_together(make_app, backend):
    """Failures spread over both instances add up: the limit holds however nginx spreads the guesses."""
    apps = _two_instances(make_app, backend)
    statuses = [_attempt(apps[i % 2], "alice", "wrong").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    # Now even the right password waits: a guesser cannot tell a hit from a miss.
    blocked = _attempt(apps[0], "alice", PASSWORDS["alice"])
    assert blocked.status_code == 429 and 0 < int(blocked.headers["Retry-After"]) <= 60


def test_unknown_and_real_accounts_get_the_same_answer(make_app):
    """The 429 and its timing rule do not depend on whether the account exists."""
    apps = _two_instances(make_app, "redis")
    answers = {}
    for username in ("bob", "no-such-user"):
        statuses = [_attempt(apps[i % 2], username, "wrong", address=f"203.0.113.{len(answers)}") for i in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429], username
        last = statuses[-1]
        answers[username] = (last.status_code, last.get_data(as_text=True), sorted(set(last.headers.keys())))
        assert "Too many failed login attempts" in answers[username][1]
    assert answers["bob"] == answers["no-such-user"]


def test_one_address_is_limited_across_accounts(make_app):
    """Spraying one password over many accounts from one address stops at the address limit."""
    apps = _two_instances(make_app, "redis", AUTHDEMO_LOGIN_LIMIT_ACCOUNT="off")
    statuses = [_attempt(apps[i % 2], f"user{i}", "Summer2024!").status_code for i in range(9)]
    assert statuses == [200] * 8 + [429]
    # Another address is not held back by the first one's guesses.
    assert _attempt(apps[0], "user0", "Summer2024!", address="192.0.2.44").status_code == 200


def test_successful_logins_are_never_limited(make_app):
    """Only failures count: a user logging in ten times is never slowed down."""
    apps = _two_instances(make_app, "redis")
    assert {_attempt(apps[i % 2], "carol", PASSWORDS["carol"]).status_code for i in range(10)} == {302}


def test_memory_counts_per_process(make_app):
    """Without a shared store each instance counts alone (documented): two instances allow twice the guesses."""
    apps = _two_instances(make_app, "sqlalchemy")
    statuses = [_attempt(apps[i % 2], "alice", "wrong").status_code for i in range(6)]
    assert statuses == [200] * 6
    assert _attempt(apps[0], "alice", "wrong").status_code == 429


def test_the_token_endpoint_is_limited_too(make_app):
    """POST /api/token guesses count like form logins, and the 429 is JSON."""
    app = make_app("redis", **LIMITS)
    client = app.test_client()
    statuses = [
        client.post("/api/token", json={"username": "alice", "password": "wrong"}).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    blocked = client.post("/api/token", json={"username": "alice", "password": PASSWORDS["alice"]})
    assert blocked.status_code == 429 and blocked.get_json()["error"] == "too_many_requests"
    assert int(blocked.headers["Retry-After"]) > 0


def _api_attempt(app, username: str, password: str, address: str = "198.51.100.1"):
    """One POST /api/token from this client address."""
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return client.post("/api/token", json={"username": username, "password": password})


@pytest.mark.parametrize("backend", ["redis", "memcached"])
def test_the_form_and_the_api_share_one_budget_across_instances(make_app, backend):
    """Alternating form and API, instance 1 and 2, gives no more guesses than one of them alone (finding 1)."""
    apps = _two_instances(make_app, backend)
    tries = [_attempt, _api_attempt, _attempt, _api_attempt]
    statuses = [attempt(apps[i % 2], "alice", "wrong").status_code for i, attempt in enumerate(tries)]
    assert statuses == [200, 401, 200, 429]
    assert _attempt(apps[1], "alice", PASSWORDS["alice"]).status_code == 429
    # The address budget is shared too: spraying accounts over both doors stops at 8 failures.
    sprayer = "192.0.2.9"
    attempts = [(_attempt, _api_attempt)[i % 2](apps[i // 2 % 2], f"user{i}", "x", sprayer) for i in range(9)]
    assert [r.status_code for r in attempts] == [200, 401] * 4 + [429]
