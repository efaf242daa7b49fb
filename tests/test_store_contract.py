"""The store-level contracts: every session store and every token store, on a real server, through its primitives.

The HTTP contract suite (test_session_contract.py) shows what a user sees;
these pin down what the layers above rely on: ``must_exist`` never brings an
ended session back, the per-user index, expiry, and the token store's atomic
compare-and-swap. Expiry moves the app's clock, except where a real server's
own TTL is under test (Redis, Memcached).
"""

from __future__ import annotations

import secrets

import pytest

from authdemo.login import get_login_backend
from authdemo.tokens import get_service
from authdemo.tokens.store import Family
from tests.support import BACKENDS, MovableClock, let_time_pass

TOKEN_STORES = ["memory", "redis", "memcached", "sqlalchemy", "sqlalchemy-postgres"]


@pytest.fixture(params=[b for b in BACKENDS if b != "cookie"])
def session_store(request, make_app):
    """(store, clock, backend name): a session store built by the app factory on a clean real server."""
    clock = MovableClock()
    app = make_app(request.param, clock=clock)
    return get_login_backend(app).store, clock, request.param


@pytest.fixture(params=TOKEN_STORES)
def token_store(request, make_app):
    """(store, clock, name): a token store built by the app factory on a clean real server."""
    clock = MovableClock()
    app = make_app(f"jwt:{request.param}", clock=clock)
    return get_service(app).store, clock, request.param


def _sid() -> str:
    return secrets.token_urlsafe(32)


# -- session stores ------------------------------------------------------------------------


def test_a_saved_session_loads_back_and_an_unknown_one_is_none(session_store):
    store, _, _ = session_store
    sid = _sid()
    assert store.save(sid, b"data", 60, "1") is True
    assert store.load(sid) == b"data"
    assert store.load(_sid()) is None
    store.ping()


def test_must_exist_never_brings_an_ended_session_back(session_store):
    store, _, _ = session_store
    sid = _sid()
    assert store.save(sid, b"new", 60, "1", must_exist=True) is False  # never saved: stays absent
    assert store.load(sid) is None
    store.save(sid, b"v1", 60, "1")
    assert store.save(sid, b"v2", 60, "1", must_exist=True) is True
    store.delete(sid, "1")  # logged out elsewhere while a request held the session
    assert store.save(sid, b"v3", 60, "1", must_exist=True) is False
    assert store.load(sid) is None


def test_the_user_index_lists_live_sessions_and_forgets_deleted_ones(session_store):
    store, _, _ = session_store
    user = str(secrets.randbelow(10**9))
    first, second, other = _sid(), _sid(), _sid()
    store.save(first, b"a", 60, user)
    store.save(second, b"b", 60, user)
    store.save(other, b"c", 60, "someone-else")
    assert store.user_sids(user) >= {first, second}
    assert other not in store.user_sids(user)
    assert store.load_many([first, second, _sid()]) == {first: b"a", second: b"b"}
    store.delete(first, user)
    assert first not in store.user_sids(user)
    assert store.load(first) is None and store.load(second) == b"b"


def test_a_session_expires_after_its_ttl(session_store):
    store, clock, backend = session_store
    sid, kept = _sid(), _sid()
    store.save(sid, b"short", 1, "1")
    store.save(kept, b"long", 60, "1")
    let_time_pass(clock, backend, 2.1)
    assert store.load(sid) is None
    assert store.load(kept) == b"long"


# -- token stores --------------------------------------------------------------------------


def _family(user: str, clock, refresh_jti: str = "r1") -> Family:
    now = int(clock())
    return Family(
        family_id=secrets.token_urlsafe(16),
        user_id=user,
        refresh_jti=refresh_jti,
        access_jti="a1",
        access_expires_at=now + 60,
        expires_at=now + 600,
        created=now,
        last_refresh=now,
    )


def test_a_denied_token_is_refused_and_others_are_not(token_store):
    store, clock, _ = token_store
    store.deny("jti-1", int(clock()) + 60, "7")
    assert store.lookup("jti-1", "7").denied is True
    assert store.lookup("jti-2", "7").denied is False
    store.ping()


def test_log_out_everywhere_raises_the_users_version_only(token_store):
    store, _, _ = token_store
    before = store.lookup("", "8").version
    assert store.bump_version("8") == before + 1
    assert store.lookup("", "8").version == before + 1
    assert store.lookup("", "9").version == store.version("9")


def test_rotation_is_a_compare_and_swap_and_revocation_ends_it(token_store):
    store, clock, _ = token_store
    family = _family("10", clock)
    store.create_family(family)
    assert store.get_family(family.family_id).refresh_jti == "r1"
    rotated = Family(**{**family.as_dict(), "refresh_jti": "r2"})
    assert store.rotate(family.family_id, "r1", rotated) is True
    assert store.rotate(family.family_id, "r1", rotated) is False  # the old refresh token again: reuse
    assert [f.family_id for f in store.user_families("10")] == [family.family_id]
    revoked = store.revoke_family(family.family_id)
    assert revoked is not None and revoked.revoked is True
    again = Family(**{**rotated.as_dict(), "refresh_jti": "r3"})
    assert store.rotate(family.family_id, "r2", again) is False


def test_a_deny_entry_is_forgotten_when_its_token_would_have_expired(token_store):
    store, clock, name = token_store
    store.deny("short-lived", int(clock()) + 1, "11")
    let_time_pass(clock, name, 2.5)  # Memcached keeps an entry a second longer than the token (see _expire)
    assert store.lookup("short-lived", "11").denied is False
