"""Redis store: sessions survive app restarts; Redis expires them itself.

Whether they survive a Redis restart depends on Redis's own persistence
(append-only file or snapshots), not on authdemo.

The same code runs on one server and on a Redis Cluster
(``redis+cluster://``). Every command names one key, except the session
list's reads, which are pipelined one GET per key (one round trip per node
instead of a cross-slot MGET). A request's read path is the session key
alone, so it touches one node. A save also writes the user's index, which
may live on another node: the pipeline is not a transaction (it never was)
and each half failing alone is harmless: see :meth:`RedisSessionStore.save`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager

import redis
from redis.cluster import RedisCluster

from ..clients import REDIS_ERRORS, redis_is_down, redis_ping
from .base import SessionStore, StoreUnavailable

SESSION_KEY = "authdemo:session:{}"
USER_KEY = "authdemo:user-sessions:{}"


class RedisSessionStore(SessionStore):
    """Each session is a string key with a TTL; each user's ids are a set."""

    name = "redis"
    native_expiry = True

    def __init__(self, client: redis.Redis | RedisCluster):
        self.client = client

    @contextmanager
    def _answering(self):
        try:
            yield
        except REDIS_ERRORS as exc:
            if not redis_is_down(exc):
                raise
            raise StoreUnavailable(self.name, type(exc).__name__) from exc

    def load(self, sid: str) -> bytes | None:
        """GET the session key."""
        with self._answering():
            return self.client.get(SESSION_KEY.format(sid))

    def load_many(self, sids: Iterable[str]) -> dict[str, bytes]:
        """GET each session key, pipelined: the keys hash to different slots, so no MGET."""
        sids = list(sids)
        if not sids:
            return {}
        with self._answering():
            pipe = self.client.pipeline(transaction=False)
            for sid in sids:
                pipe.get(SESSION_KEY.format(sid))
            values = pipe.execute()
        return {sid: value for sid, value in zip(sids, values, strict=True) if value is not None}

    def save(self, sid: str, data: bytes, ttl: int, user_id: str | None, *, must_exist: bool = False) -> bool:
        """SET with EX (XX to update only), and index the id, in one round trip (one per node in a cluster).

        In a cluster the two keys may sit on two nodes, and the pipeline is not
        atomic across them; it need not be. A new session written without its
        index entry: the login answers 503 and no cookie names the id. An index
        entry without its session: listing prunes it. A write-back whose index
        half failed: the request answers 503, and the next write-back adds the
        id and pushes the set's expiry again. The id is added on every save, not
        only the first, so an index lost with a node that had no persistence
        lists each live session again at its next write-back.
        """
        with self._answering():
            pipe = self.client.pipeline(transaction=False)
            pipe.set(SESSION_KEY.format(sid), data, ex=ttl, xx=must_exist)
            if user_id is not None:
                # Every session has the same TTL, so the newest save outlives the others:
                # the set expires with the user's last session.
                pipe.sadd(USER_KEY.format(user_id), sid)
                pipe.expire(USER_KEY.format(user_id), ttl)
            return bool(pipe.execute()[0])

    def delete(self, sid: str, user_id: str | None) -> None:
        """DEL the key and SREM the id."""
        with self._answering():
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(SESSION_KEY.format(sid))
            if user_id is not None:
                pipe.srem(USER_KEY.format(user_id), sid)
            pipe.execute()

    def user_sids(self, user_id: str) -> set[str]:
        """SMEMBERS of the user's set."""
        with self._answering():
            return {sid.decode() for sid in self.client.smembers(USER_KEY.format(user_id))}

    def ping(self) -> None:
        """PING (every node of a cluster)."""
        with self._answering():
            redis_ping(self.client)

    def stats(self) -> dict:
        """Redis's own memory figure (each primary's, in a cluster)."""
        with self._answering():
            if isinstance(self.client, RedisCluster):
                nodes = self.client.info("memory", target_nodes=RedisCluster.PRIMARIES)
                return {"used_memory_human": {node: info.get("used_memory_human") for node, info in nodes.items()}}
            info = self.client.info("memory")
        return {"used_memory_human": info.get("used_memory_human")}

    def close(self) -> None:
        """Disconnect the pool."""
        self.client.close()
