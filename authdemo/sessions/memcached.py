"""Memcached store: shared and fast, but keeps nothing on disk.

A Memcached restart loses every session, and under memory pressure it may
evict sessions (and the per-user index) before they expire.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..drivers import memcached as driver
from ..drivers.memcached import update_id_set
from .base import SessionStore

SESSION_KEY = "authdemo:session:{}"
USER_INDEX_KEY = "authdemo:user-sessions:{}"


class MemcachedSessionStore(SessionStore):
    """Each session is an item with an expiry; each user's ids are one item updated with CAS."""

    name = "memcached"
    native_expiry = True

    def __init__(self, client, index_ttl: int):
        self.client = client
        self.index_ttl = index_ttl

    def load(self, sid: str) -> bytes | None:
        """The session item."""
        with driver.answering(self.name):
            return self.client.get(SESSION_KEY.format(sid))

    def load_many(self, sids: Iterable[str]) -> dict[str, bytes]:
        """The session items, in one get_many."""
        keys = {SESSION_KEY.format(sid): sid for sid in sids}
        if not keys:
            return {}
        with driver.answering(self.name):
            found = self.client.get_many(list(keys))
        return {keys[key]: value for key, value in found.items()}

    def save(self, sid: str, data: bytes, ttl: int, user_id: str | None, *, must_exist: bool = False) -> bool:
        """set (replace to update only), then make sure the user's index item lists the id."""
        key = SESSION_KEY.format(sid)
        with driver.answering(self.name):
            if must_exist:
                stored = self.client.replace(key, data, expire=ttl, noreply=False)
            else:
                stored = self.client.set(key, data, expire=ttl, noreply=False)
            if stored and user_id is not None:
                update_id_set(self.client, USER_INDEX_KEY.format(user_id), lambda sids: sids | {sid}, self.index_ttl)
            return bool(stored)

    def delete(self, sid: str, user_id: str | None) -> None:
        """delete, and drop the id from the user's index item."""
        with driver.answering(self.name):
            self.client.delete(SESSION_KEY.format(sid), noreply=False)
            if user_id is not None:
                update_id_set(self.client, USER_INDEX_KEY.format(user_id), lambda sids: sids - {sid}, self.index_ttl)

    def user_sids(self, user_id: str) -> set[str]:
        """The ids in the user's index item."""
        with driver.answering(self.name):
            return driver.read_id_set(self.client, USER_INDEX_KEY.format(user_id))

    def ping(self) -> None:
        """Ask for the server's version."""
        with driver.answering(self.name):
            driver.ping(self.client)

    def close(self) -> None:
        """Close pooled connections."""
        self.client.close()
