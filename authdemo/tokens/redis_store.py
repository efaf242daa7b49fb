"""Token store in Redis: every entry carries its own TTL; rotation is a Lua script, so it is atomic.

Keys are laid out for Redis Cluster too (``redis+cluster://``), with the
same code on one server, where hash tags change nothing. The hot path,
``lookup(jti, user_id)``, is one MGET of the deny entry and the user's token
and authorization versions: all three carry the user's hash tag ``{u:<id>}``, so they share a slot
and the MGET stays one command on one node. Each Lua script names one key
(the family). Listing a user's families pipelines one GET per family.
"""

from __future__ import annotations

import json

import redis

from ..drivers import redis as driver
from .store import Family, TokenState, TokenStore

# {u:<id>} is a hash tag: Redis Cluster hashes only what is inside the braces,
# so a user's deny entries and version sit in one slot (one node).
DENY = "authdemo:{{u:{user_id}}}:deny:{jti}"
VERSION = "authdemo:{{u:{user_id}}}:token-version"
AUTHZ_VERSION = "authdemo:{{u:{user_id}}}:authz-version"
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

    def _run(self, script, key: str, *args):
        """EVALSHA, or EVAL where this node lacks the script (new, restarted).

        redis-py's own fallback would SCRIPT LOAD on every node of a cluster,
        failing whenever any node is down.
        """
        try:
            return self.client.evalsha(script.sha, 1, key, *args)
        except redis.exceptions.NoScriptError:
            return self.client.eval(script.script, 1, key, *args)

    def deny(self, jti: str, expires_at: int, user_id: str) -> None:
        """SET with EXAT: Redis forgets the id when the token would have expired anyway."""
        with driver.answering(self.name, "token"):
            self.client.set(DENY.format(user_id=user_id, jti=jti), b"1", exat=expires_at)

    def lookup(self, jti: str, user_id: str) -> TokenState:
        """One MGET, of three keys in the user's slot."""
        with driver.answering(self.name, "token"):
            denied, version, authz = self.client.mget(
                DENY.format(user_id=user_id, jti=jti),
                VERSION.format(user_id=user_id),
                AUTHZ_VERSION.format(user_id=user_id),
            )
        return TokenState(denied is not None, int(version or 0), int(authz or 0))

    def bump_version(self, user_id: str) -> int:
        """Increment the version key (a missing key counts as 0)."""
        with driver.answering(self.name, "token"):
            return int(self.client.incr(VERSION.format(user_id=user_id)))

    def bump_authz_version(self, user_id: str) -> int:
        """Increment the version key (a missing key counts as 0) and return it."""
        with driver.answering(self.name, "token"):
            return int(self.client.incr(AUTHZ_VERSION.format(user_id=user_id)))

    def create_family(self, family: Family) -> None:
        """SET the family JSON and add it to the user's set (two slots in a cluster: not a transaction).

        If the family is written but the set is not, the login answers 503 and
        hands out no token; if the set is written but not the family, listing
        prunes the id.
        """
        with driver.answering(self.name, "token"):
            pipe = self.client.pipeline(transaction=False)
            pipe.set(FAMILY.format(family.family_id), json.dumps(family.as_dict()), exat=family.expires_at)
            pipe.sadd(USER_FAMILIES.format(family.user_id), family.family_id)
            pipe.expireat(USER_FAMILIES.format(family.user_id), family.expires_at, gt=True)
            pipe.expireat(USER_FAMILIES.format(family.user_id), family.expires_at, nx=True)
            pipe.execute()

    def get_family(self, family_id: str) -> Family | None:
        """The family's JSON, decoded."""
        with driver.answering(self.name, "token"):
            raw = self.client.get(FAMILY.format(family_id))
        return Family(**json.loads(raw)) if raw else None

    def rotate(self, family_id: str, old_refresh_jti: str, new: Family) -> bool:
        """Run the ROTATE script: the swap happens only if the family still holds ``old_refresh_jti``."""
        with driver.answering(self.name, "token"):
            swapped = self._run(
                self._rotate, FAMILY.format(family_id), old_refresh_jti, json.dumps(new.as_dict()), new.expires_at
            )
        return swapped == 1

    def revoke_family(self, family_id: str) -> Family | None:
        """Run the REVOKE script: flag the family, keep its expiry, return it."""
        with driver.answering(self.name, "token"):
            raw = self._run(self._revoke, FAMILY.format(family_id))
        return Family(**json.loads(raw)) if raw else None

    def user_families(self, user_id: str) -> list[Family]:
        """SMEMBERS then a GET per family, pipelined (families hash to different slots); expired ids are dropped."""
        with driver.answering(self.name, "token"):
            ids = [fid.decode() for fid in self.client.smembers(USER_FAMILIES.format(user_id))]
            pipe = self.client.pipeline(transaction=False)
            for fid in ids:
                pipe.get(FAMILY.format(fid))
            raws = pipe.execute() if ids else []
            gone = [fid for fid, raw in zip(ids, raws, strict=True) if raw is None]
            if gone:
                self.client.srem(USER_FAMILIES.format(user_id), *gone)
        return [Family(**json.loads(raw)) for raw in raws if raw is not None]

    def ping(self) -> None:
        """PING (every node of a cluster)."""
        with driver.answering(self.name, "token"):
            driver.ping(self.client)

    def close(self) -> None:
        """Disconnect the pool."""
        self.client.close()
