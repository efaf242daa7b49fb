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

import redis
from redis.cluster import RedisCluster

from ..drivers import redis as driver
from .base import SessionStore

SESSION_KEY = "authdemo:session:{}"
USER_INDEX_KEY = "authdemo:user-sessions:{}"


class RedisSessionStore(SessionStore):
    """Each session is a string key with a TTL; each user's ids are a set."""

    name = "redis"
    native_expiry = True

    def __init__(self, client: redis.Redis | RedisCluster):
        self.client = client

    def load(self, sid: str) -> bytes | None:
        """The session key's value."""
        with driver.answering(self.name):
            return self.client.get(SESSION_KEY.format(sid))

    def load_many(self, sids: Iterable[str]) -> dict[str, bytes]:
        """GET each session key, pipelined: the keys hash to different slots, so no MGET."""
        sids = list(sids)
        if not sids:
            return {}
        with driver.answering(self.name):
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
        with driver.answering(self.name):
            pipe = self.client.pipeline(transaction=False)
            pipe.set(SESSION_KEY.format(sid), data, ex=ttl, xx=must_exist)
            if user_id is not None:
                # Every session has the same TTL, so the newest save outlives the others:
                # the set expires with the user's last session.
                pipe.sadd(USER_INDEX_KEY.format(user_id), sid)
                pipe.expire(USER_INDEX_KEY.format(user_id), ttl)
            return bool(pipe.execute()[0])

    def delete(self, sid: str, user_id: str | None) -> None:
        """Delete the session key and take its id out of the user's set, in one round trip."""
        with driver.answering(self.name):
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(SESSION_KEY.format(sid))
            if user_id is not None:
                pipe.srem(USER_INDEX_KEY.format(user_id), sid)
            pipe.execute()

    def user_sids(self, user_id: str) -> set[str]:
        """The members of the user's set."""
        with driver.answering(self.name):
            return {sid.decode() for sid in self.client.smembers(USER_INDEX_KEY.format(user_id))}

    def ping(self) -> None:
        """PING (every node of a cluster)."""
        with driver.answering(self.name):
            driver.ping(self.client)

    def stats(self) -> dict:
        """Redis's own memory figure (each primary's, in a cluster)."""
        with driver.answering(self.name):
            return driver.stats(self.client)

    def close(self) -> None:
        """Disconnect the pool."""
        self.client.close()
