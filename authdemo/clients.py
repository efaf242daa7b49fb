"""Connections to Redis and Memcached, set up once the same way for sessions and tokens."""

from __future__ import annotations

import redis
from pymemcache.client.base import PooledClient
from pymemcache.client.hash import HashClient
from pymemcache.client.retrying import RetryingClient
from pymemcache.exceptions import MemcacheUnexpectedCloseError
from redis.backoff import NoBackoff
from redis.retry import Retry


def redis_client(url: str, timeout: float) -> redis.Redis:
    """A pooled Redis client that fails fast.

    Short timeouts and a single immediate retry: a dead pooled connection
    after a Redis restart is replaced at once, while an outage becomes a
    quick 503 instead of requests piling up behind back-off sleeps.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def memcached_client(servers: tuple[tuple[str, int], ...], timeout: float) -> RetryingClient:
    """A thread-safe pooled Memcached client with Nagle's algorithm off.

    no_delay=True matters: pymemcache leaves Nagle on, and a get followed by
    a set then waits for delayed ACKs, ~44 ms per request. After a Memcached
    restart the pooled connections are dead: one immediate retry on a fresh
    connection, so only a real outage becomes a 503.
    """
    options = dict(connect_timeout=timeout, timeout=timeout, no_delay=True)
    if len(servers) == 1:
        client = PooledClient(servers[0], max_pool_size=32, **options)
    else:
        client = HashClient(list(servers), use_pooling=True, retry_attempts=1, dead_timeout=1, **options)
    return RetryingClient(
        client,
        attempts=2,
        retry_delay=0,
        retry_for=[MemcacheUnexpectedCloseError, ConnectionResetError, BrokenPipeError],
    )
