"""Token store in Redis: every entry carries its own TTL; rotation is a Lua script, so it is atomic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from ..sessions.base import StoreUnavailable
from .store import Family, TokenStore

DENY = "authdemo:deny:{}"
VERSION = "authdemo:token-version:{}"
FAMILY = "authdemo:family:{}"
USER_FAMILIES = "authdemo:user-families:{}"

# KEYS[1] family key; ARGV[1] the refresh jti the caller holds, ARGV[2] new JSON, ARGV[3] new expiry (unix time).
ROTATE = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local family = cjson.decode(current)
if family['revoked'] or family['refresh_jti'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EXAT', ARGV[3])
return 1
"""
# KEYS[1] family key: flag it revoked, keep its TTL, return it.
REVOKE = """
local current = redis.call('GET', KEYS[1])
if not current then return false end
local family = cjson.decode(current)
family['revoked'] = true
local updated = cjson.encode(family)
redis.call('SET', KEYS[1], updated, 'KEEPTTL')
return updated
"""


class RedisTokenStore(TokenStore):
    """Keys with EXAT expiries; a set per user lists their families."""

    name = "redis"

    def __init__(self, client: redis.Redis):
        self.client = client
        self._rotate = client.register_script(ROTATE)
        self._revoke = client.register_script(REVOKE)

    @contextmanager
    def _answering(self) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StoreUnavailable("redis", type(exc).__name__, kind="token") from exc

    def deny(self, jti: str, expires_at: int) -> None:
        """SET with EXAT: Redis forgets the id when the token would have expired anyway."""
        with self._answering():
            self.client.set(DENY.format(jti), b"1", exat=expires_at)

    def check(self, jti: str, user_id: str) -> tuple[bool, int]:
        """One MGET."""
        with self._answering():
            denied, version = self.client.mget(DENY.format(jti), VERSION.format(user_id))
        return denied is not None, int(version or 0)

    def bump_version(self, user_id: str) -> int:
        """INCR."""
        with self._answering():
            return int(self.client.incr(VERSION.format(user_id)))

    def create_family(self, family: Family) -> None:
        """SET the family JSON and add it to the user's set."""
        with self._answering():
            pipe = self.client.pipeline(transaction=False)
            pipe.set(FAMILY.format(family.family_id), json.dumps(family.as_dict()), exat=family.expires_at)
            pipe.sadd(USER_FAMILIES.format(family.user_id), family.family_id)
            pipe.expireat(USER_FAMILIES.format(family.user_id), family.expires_at, gt=True)
            pipe.expireat(USER_FAMILIES.format(family.user_id), family.expires_at, nx=True)
            pipe.execute()

    def get_family(self, family_id: str) -> Family | None:
        """GET and decode."""
        with self._answering():
            raw = self.client.get(FAMILY.format(family_id))
        return Family(**json.loads(raw)) if raw else None

    def rotate(self, family_id: str, old_refresh_jti: str, new: Family) -> bool:
        """The Lua compare-and-swap."""
        with self._answering():
            swapped = self._rotate(
                keys=[FAMILY.format(family_id)], args=[old_refresh_jti, json.dumps(new.as_dict()), new.expires_at]
            )
        return swapped == 1

    def revoke_family(self, family_id: str) -> Family | None:
        """The Lua revoke."""
        with self._answering():
            raw = self._revoke(keys=[FAMILY.format(family_id)])
        return Family(**json.loads(raw)) if raw else None

    def user_families(self, user_id: str) -> list[Family]:
        """SMEMBERS then MGET; ids whose family expired are dropped from the set."""
        with self._answering():
            ids = [fid.decode() for fid in self.client.smembers(USER_FAMILIES.format(user_id))]
            raws = self.client.mget([FAMILY.format(fid) for fid in ids]) if ids else []
            gone = [fid for fid, raw in zip(ids, raws, strict=True) if raw is None]
            if gone:
                self.client.srem(USER_FAMILIES.format(user_id), *gone)
        return [Family(**json.loads(raw)) for raw in raws if raw is not None]

    def ping(self) -> None:
        """PING."""
        with self._answering():
            self.client.ping()

    def close(self) -> None:
        """Disconnect the pool."""
        self.client.close()
