"""Memcached: the pooled client, what counts as an outage, ping, and the CAS-updated id set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pymemcache.client.base import PooledClient
from pymemcache.client.hash import HashClient
from pymemcache.client.retrying import RetryingClient
from pymemcache.exceptions import MemcacheError, MemcacheUnexpectedCloseError

from .base import StoreUnavailable

#: An outage: pymemcache's own errors, and the socket's (refused, reset, timed out: TimeoutError is an OSError).
ERRORS = (MemcacheError, OSError)
POOL_SIZE = 32


def connect(servers: tuple[tuple[str, int], ...], timeout: float) -> RetryingClient:
    """A thread-safe pooled Memcached client with Nagle's algorithm off.

    no_delay=True matters: pymemcache leaves Nagle on, and a get followed by
    a set then waits for delayed ACKs, ~44 ms per request. After a Memcached
    restart every idle pooled connection is dead, and each failed attempt
    drops the one it used: so an immediate retry per pooled connection, plus
    one on a fresh connection, and only a real outage (refused, timed out,
    never retried) becomes a 503. Anonymous requests no longer touch the
    store, so the first request after a restart may meet several dead ones.
    """
    options = dict(connect_timeout=timeout, timeout=timeout, no_delay=True)
    if len(servers) == 1:
        client = PooledClient(servers[0], max_pool_size=POOL_SIZE, **options)
    else:
        client = HashClient(list(servers), use_pooling=True, retry_attempts=1, dead_timeout=1, **options)
    return RetryingClient(
        client,
        attempts=POOL_SIZE + 1,
        retry_delay=0,
        retry_for=[MemcacheUnexpectedCloseError, ConnectionResetError, BrokenPipeError],
    )


@contextmanager
def answering(store: str = "memcached", kind: str = "session") -> Iterator[None]:
    """Turn an outage inside the block into StoreUnavailable."""
    try:
        yield
    except ERRORS as exc:
        raise StoreUnavailable(store, type(exc).__name__, kind) from exc


def ping(client) -> None:
    """Ask for the server's version: the cheapest command that needs an answer."""
    client.version()


def update_id_set(client, key: str, change: Callable[[set[str]], set[str]], ttl: int, attempts: int = 8) -> None:
    """Read-modify-write a space-separated set of ids in one Memcached item, with CAS.

    Memcached has no set type; CAS makes two concurrent logins of one user
    both land instead of one overwriting the other. The item's expiry is
    pushed to ``ttl`` on every change, so it lives as long as its newest entry.
    """
    for _ in range(attempts):
        raw, token = client.gets(key)
        ids = set(raw.decode().split()) if raw else set()
        changed = change(set(ids))
        if raw is not None and changed == ids:
            client.touch(key, ttl, noreply=False)
            return
        data = " ".join(sorted(changed)).encode()
        if raw is None:
            stored = client.add(key, data, expire=ttl, noreply=False)
        else:
            stored = client.cas(key, data, token, expire=ttl, noreply=False)
        if stored:
            return


def read_id_set(client, key: str) -> set[str]:
    """The ids in an item written by :func:`update_id_set`."""
    raw = client.get(key)
    return set(raw.decode().split()) if raw else set()
