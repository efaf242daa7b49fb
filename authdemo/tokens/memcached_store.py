"""Token store in Memcached: fast, but a Memcached restart (or eviction) forgets every revocation."""

from __future__ import annotations

import json
import time

from ..drivers import StoreUnavailable
from ..drivers import memcached as driver
from ..drivers.memcached import update_id_set
from .store import Family, TokenState, TokenStore

DENY = "authdemo:deny:{}"
VERSION = "authdemo:token-version:{}"
AUTHZ_VERSION = "authdemo:authz-version:{}"
FAMILY = "authdemo:family:{}"
USER_FAMILIES = "authdemo:user-families:{}"
CAS_ATTEMPTS = 8
THIRTY_DAYS = 30 * 24 * 3600


def _expire(expires_at: int) -> int:
    """An expiry that outlives ``expires_at``, in the form Memcached reads.

    Memcached's clock ticks once a second, so an item may expire up to a
    second early: one more second keeps a revocation at least as long as
    the token it refuses. Over 30 days it wants an absolute time.
    """
    seconds = max(1, expires_at - int(time.time())) + 1
    return expires_at + 1 if seconds > THIRTY_DAYS else seconds


class MemcachedTokenStore(TokenStore):
    """Items with expiries; families and the per-user list are changed with gets/cas."""

    name = "memcached"

    def __init__(self, client, refresh_ttl: int):
        self.client = client
        self.refresh_ttl = refresh_ttl

    def deny(self, jti: str, expires_at: int, user_id: str) -> None:
        """An item that expires with the token."""
        with driver.answering(self.name, "token"):
            self.client.set(DENY.format(jti), b"1", expire=_expire(expires_at), noreply=False)

    def lookup(self, jti: str, user_id: str) -> TokenState:
        """The deny entry and the versions, in one get_many."""
        keys = [DENY.format(jti), VERSION.format(user_id), AUTHZ_VERSION.format(user_id)]
        with driver.answering(self.name, "token"):
            found = self.client.get_many(keys)
        return TokenState(keys[0] in found, int(found.get(keys[1]) or 0), int(found.get(keys[2]) or 0))

    def bump_version(self, user_id: str) -> int:
        """incr, or add the first version (retrying if another process added it first)."""
        return self._bump(VERSION.format(user_id))

    def bump_authz_version(self, user_id: str) -> int:
        """The same for the authorization version."""
        return self._bump(AUTHZ_VERSION.format(user_id))

    def _bump(self, key: str) -> int:
        with driver.answering(self.name, "token"):
            for _ in range(CAS_ATTEMPTS):
                value = self.client.incr(key, 1, noreply=False)
                if value is not None:
                    return int(value)
                if self.client.add(key, b"1", expire=0, noreply=False):
                    return 1
        raise StoreUnavailable(self.name, "version update kept racing", kind="token")

    def create_family(self, family: Family) -> None:
        """set the family, and list it under the user."""
        with driver.answering(self.name, "token"):
            self.client.set(
                FAMILY.format(family.family_id),
                json.dumps(family.as_dict()).encode(),
                expire=_expire(family.expires_at),
                noreply=False,
            )
            update_id_set(
                self.client,
                USER_FAMILIES.format(family.user_id),
                lambda ids: ids | {family.family_id},
                self.refresh_ttl,
            )

    def get_family(self, family_id: str) -> Family | None:
        """The family item, decoded."""
        with driver.answering(self.name, "token"):
            raw = self.client.get(FAMILY.format(family_id))
        return Family(**json.loads(raw)) if raw else None

    def rotate(self, family_id: str, old_refresh_jti: str, new: Family) -> bool:
        """gets, check, cas: a racing refresh makes our cas fail, and we report reuse."""
        key = FAMILY.format(family_id)
        with driver.answering(self.name, "token"):
            raw, token = self.client.gets(key)
            if raw is None:
                return False
            family = json.loads(raw)
            if family["revoked"] or family["refresh_jti"] != old_refresh_jti:
                return False
            return bool(
                self.client.cas(
                    key, json.dumps(new.as_dict()).encode(), token, expire=_expire(new.expires_at), noreply=False
                )
            )

    def revoke_family(self, family_id: str) -> Family | None:
        """gets/cas until the revoked flag is written."""
        key = FAMILY.format(family_id)
        with driver.answering(self.name, "token"):
            for _ in range(CAS_ATTEMPTS):
                raw, token = self.client.gets(key)
                if raw is None:
                    return None
                family = Family(**json.loads(raw))
                family.revoked = True
                data = json.dumps(family.as_dict()).encode()
                if self.client.cas(key, data, token, expire=_expire(family.expires_at), noreply=False):
                    return family
        raise StoreUnavailable(self.name, "revocation kept racing", kind="token")

    def user_families(self, user_id: str) -> list[Family]:
        """The user's list, then get_many of the families; expired ones are dropped from the list."""
        key = USER_FAMILIES.format(user_id)
        with driver.answering(self.name, "token"):
            raw = self.client.get(key)
            ids = set(raw.decode().split()) if raw else set()
            found = self.client.get_many([FAMILY.format(fid) for fid in ids]) if ids else {}
            live = {fid for fid in ids if FAMILY.format(fid) in found}
            if live != ids:
                update_id_set(self.client, key, lambda current: current & live | (current - ids), self.refresh_ttl)
        return [Family(**json.loads(value)) for value in found.values()]

    def ping(self) -> None:
        """Ask for the server's version."""
        with driver.answering(self.name, "token"):
            driver.ping(self.client)

    def close(self) -> None:
        """Close pooled connections."""
        self.client.close()
