"""Redis, one server or a cluster: the client, what counts as an outage, ping and stats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterError, RedisClusterException, SlotNotCoveredError, TryAgainError
from redis.retry import Retry

from .base import StoreUnavailable

#: Everything redis-py raises; :func:`is_down` tells an outage from a bug.
ERRORS = (redis.RedisError, RedisClusterException)
_OUTAGES = (redis.ConnectionError, redis.TimeoutError, ClusterError, TryAgainError, SlotNotCoveredError)


def connect(url: str, timeout: float) -> redis.Redis | RedisCluster:
    """A pooled Redis client that fails fast; a Redis Cluster client for a ``redis+cluster://`` URL.

    Short timeouts and a single immediate retry: a dead pooled connection
    after a Redis restart is replaced at once, while an outage becomes a
    quick 503 instead of requests piling up behind back-off sleeps.
    """
    if url.startswith("redis+cluster://"):
        from ..settings import redis_cluster_address

        address = redis_cluster_address(url)
        try:
            return RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
                username=address.username,
                password=address.password,
                **cluster_options(timeout),
            )
        except RedisClusterException:  # redis-py reads the slot map when the client is built
            raise cluster_unreachable("AUTHDEMO_REDIS_URL", address) from None
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
    )


def cluster_unreachable(name: str, address) -> Exception:
    """The start-up error for a cluster none of whose nodes answers: one line naming the variable, no password."""
    from ..settings import ConfigError

    nodes = ",".join(f"{host}:{port}" for host, port in address.nodes)
    return ConfigError(f"{name}: no Redis Cluster node answers at {nodes}; start the cluster or fix the URL")


def cluster_options(timeout: float) -> dict:
    """RedisCluster's options for the same fail-fast behaviour (the login limiter's own cluster client takes them too).

    The retry is the cluster client's: after a connection error it re-reads
    the slot map from a node that answers and tries once more, so a node
    that restarted is found again at once. Connecting needs one node to
    answer: redis-py reads the slot map when the client is built. (redis-py
    drops health_check_interval for cluster nodes, so it is not passed.)
    """
    return dict(socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1))


def is_down(exc: BaseException) -> bool:
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


@contextmanager
def answering(store: str = "redis", kind: str = "session") -> Iterator[None]:
    """Turn an outage inside the block into StoreUnavailable; let a bug through as itself."""
    try:
        yield
    except ERRORS as exc:
        if not is_down(exc):
            raise
        raise StoreUnavailable(store, type(exc).__name__, kind) from exc


def ping(client: redis.Redis | RedisCluster) -> None:
    """PING; in a cluster, every primary (redis-py would ask one node): a node down is an outage for its users."""
    if isinstance(client, RedisCluster):
        client.ping(target_nodes=RedisCluster.PRIMARIES)
    else:
        client.ping()


def stats(client: redis.Redis | RedisCluster) -> dict:
    """Redis's own memory figure (each primary's, in a cluster)."""
    if isinstance(client, RedisCluster):
        nodes = client.info("memory", target_nodes=RedisCluster.PRIMARIES)
        return {"used_memory_human": {node: info.get("used_memory_human") for node, info in nodes.items()}}
    return {"used_memory_human": client.info("memory").get("used_memory_human")}
