"""Redis store: sessions survive app restarts; Redis expires them itself.

Whether they survive a Redis restart depends on Redis's own persistence
(append-only file or snapshots), not on authdemo.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager

import redis

from .base import SessionStore, StoreUnavailable

SESSION_KEY = "authdemo:session:{}"
USER_KEY = "authdemo:user-sessions:{}"


class RedisSessionStore(SessionStore):
    """Each session is a string key with a TTL; each user's ids are a set."""

    name = "redis"
    native_expiry = True

    def __init__(self, client: redis.Redis):
        self.client = client

    @contextmanager
    def _answering(self):
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable(self.name, type(exc).__name__) from exc

    def load(self, sid: str) -> bytes | None:
        """GET the session key."""
        with self._answering():
            return self.client.get(SESSION_KEY.format(sid))

    def load_many(self, sids: Iterable[str]) -> dict[str, bytes]:
        """MGET the session keys."""
        sids = list(sids)
        if not sids:
            return {}
        with self._answering():
            values = self.client.mget([SESSION_KEY.format(sid) for sid in sids])
        return {sid: value for sid, value in zip(sids, values, strict=True) if value is not None}

    def save(self, sid: str, data: bytes, ttl: int, user_id: str | None, *, must_exist: bool = False) -> bool:
        """SET with EX (XX to update only), and index the id, in one round trip."""
        with self._answering():
            pipe = self.client.pipeline(transaction=False)
            pipe.set(SESSION_KEY.format(sid), data, ex=ttl, xx=must_exist)
            if user_id is not None:
                # Every session has the same TTL, so the newest save outlives the others:
                # the set expires with the user's last session.
                if not must_exist:
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
        """PING."""
        with self._answering():
            self.client.ping()

    def stats(self) -> dict:
        """Redis's own memory figure."""
        with self._answering():
            info = self.client.info("memory")
        return {"used_memory_human": info.get("used_memory_human")}

    def close(self) -> None:
        """Disconnect the pool."""
        self.client.close()
