"""The memory store's own promises: a bound, LRU eviction after expired entries, counts, thread safety."""

from __future__ import annotations

import threading

from authdemo.sessions.memory import MemorySessionStore
from tests.support import MovableClock


def test_bound_evicts_least_recently_used_and_counts():
    store = MemorySessionStore(max_sessions=3)
    for sid in "abc":
        store.save(sid, sid.encode(), ttl=60, user_id="1")
    store.load("a")  # a is now the most recently used; b is the oldest
    store.save("d", b"d", ttl=60, user_id="1")
    assert store.load("b") is None
    assert {sid for sid in "acd" if store.load(sid)} == {"a", "c", "d"}
    assert store.stats() == {
        "sessions": 3,
        "max_sessions": 3,
        "evictions": 1,
        "logged_in_evictions": 1,
        "expired_removed": 0,
    }
    assert store.user_sids("1") == {"a", "c", "d"}  # the index forgets evicted sessions too


def test_anonymous_sessions_go_before_logged_in_ones():
    """A flood of visitors who only opened the login form cannot push logged-in users out."""
    store = MemorySessionStore(max_sessions=10)
    store.save("alice", b"a", ttl=60, user_id="1")
    store.save("bob", b"b", ttl=60, user_id="2")
    for i in range(1000):
        store.save(f"visitor-{i}", b"csrf", ttl=60, user_id=None)
    assert store.load("alice") == b"a" and store.load("bob") == b"b"
    assert store.stats()["sessions"] == 10
    assert store.stats()["evictions"] == 1000 - 8 and store.stats()["logged_in_evictions"] == 0
    assert store.load("visitor-999") == b"csrf" and store.load("visitor-0") is None


def test_expired_sessions_go_before_live_ones():
    store = MemorySessionStore(max_sessions=2)
    store.clock = clock = MovableClock()
    store.save("old", b"x", ttl=1, user_id=None)
    store.save("live", b"y", ttl=60, user_id=None)
    store.load("old")  # recently used, but expired by the time room is needed
    clock.advance(1.05)
    store.save("new", b"z", ttl=60, user_id=None)
    assert store.load("live") == b"y"
    assert store.stats()["evictions"] == 0
    assert store.stats()["expired_removed"] == 1


def test_must_exist_does_not_resurrect_an_ended_session():
    store = MemorySessionStore(max_sessions=10)
    assert store.save("s", b"1", ttl=60, user_id="7")
    store.delete("s", "7")
    assert store.save("s", b"2", ttl=60, user_id="7", must_exist=True) is False
    assert store.load("s") is None


def test_concurrent_writers_keep_the_bound():
    store = MemorySessionStore(max_sessions=100)

    def writer(n: int) -> None:
        for i in range(500):
            store.save(f"{n}-{i}", b"x", ttl=60, user_id=str(n))
            store.load(f"{n}-{i // 2}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = store.stats()
    assert stats["sessions"] == 100
    assert stats["evictions"] == 8 * 500 - 100
    assert sum(len(store.user_sids(str(n))) for n in range(8)) == 100


def test_healthz_shows_the_bound(make_app):
    app = make_app("memory", AUTHDEMO_MEMORY_MAX_SESSIONS="250")
    store = app.test_client().get("/healthz").get_json()["store"]
    assert store["max_sessions"] == 250 and "evictions" in store
