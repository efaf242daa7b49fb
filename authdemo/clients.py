"""Connections to Redis (one server or a cluster) and Memcached, set up once the same way for sessions and tokens."""

from __future__ import annotations

from collections.abc import Callable

import redis
from pymemcache.client.base import PooledClient
from pymemcache.client.hash import HashClient
from pymemcache.client.retrying import RetryingClient
from pymemcache.exceptions import MemcacheUnexpectedCloseError
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterError, RedisClusterException, SlotNotCoveredError, TryAgainError
from redis.retry import Retry

#: Everything redis-py raises; :func:`redis_is_down` tells an outage from a bug.
REDIS_ERRORS = (redis.RedisError, RedisClusterException)
_OUTAGES = (redis.ConnectionError, redis.TimeoutError, ClusterError, TryAgainError, SlotNotCoveredError)


def redis_client(url: str, timeout: float) -> redis.Redis | RedisCluster:
    """A pooled Redis client that fails fast; a Redis Cluster client for a ``redis+cluster://`` URL.

    Short timeouts and a single immediate retry: a dead pooled connection
    after a Redis restart is replaced at once, while an outage becomes a
    quick 503 instead of requests piling up behind back-off sleeps.
    """
    if url.startswith("redis+cluster://"):
        from .settings import redis_cluster_address

        address = redis_cluster_address(url)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
            username=address.username,
            password=address.password,
            **redis_cluster_options(timeout),
        )
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def redis_cluster_options(timeout: float) -> dict:
    """RedisCluster's options for the same fail-fast behaviour (shared with the login limiter's own client).

    The retry is the cluster client's: after a connection error it re-reads
    the slot map from a node that answers and tries once more, so a node
    that restarted is found again at once. Connecting needs one node to
    answer: redis-py reads the slot map when the client is built. (redis-py
    drops health_check_interval for cluster nodes, so it is not passed.)
    """
    return dict(socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1))


def redis_ping(client: redis.Redis | RedisCluster) -> None:
    """PING; in a cluster, every primary (redis-py would ask one node): a node down is an outage for its users."""
    if isinstance(client, RedisCluster):
        client.ping(target_nodes=RedisCluster.PRIMARIES)
    else:
        client.ping()


def redis_is_down(exc: BaseException) -> bool:
    """Whether a redis-py error means a server (or the cluster node owning a key) is not answering.

    A cluster adds its own ways to say so: CLUSTERDOWN and TRYAGAIN replies,
    a slot no node serves, and "cannot be connected" when no node answers
    while the slot map is re-read (raised while handling the connection
    error). Anything else, such as keys in different slots, is a bug and
    must not hide behind a 503.
    """
    if type(exc) is RedisClusterException:
        exc = exc.__context__
    return isinstance(exc, _OUTAGES)


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
