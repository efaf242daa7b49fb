"""Memcached store: shared and fast, but keeps nothing on disk.

A Memcached restart loses every session, and under memory pressure it may
evict sessions (and the per-user index) before they expire.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager

from pymemcache.exceptions import MemcacheError

from ..clients import update_id_set
from .base import SessionStore, StoreUnavailable

SESSION_KEY = "authdemo:session:{}"
USER_KEY = "authdemo:user-sessions:{}"


class MemcachedSessionStore(SessionStore):
    """Each session is an item with an expiry; each user's ids are one item updated with CAS."""

    name = "memcached"
    native_expiry = True

    def __init__(self, client, index_ttl: int):
        self.client = client
        self.index_ttl = index_ttl

    @contextmanager
    def _answering(self):
        try:
            yield
        except (TimeoutError, MemcacheError, OSError) as exc:
            raise StoreUnavailable(self.name, type(exc).__name__) from exc

    def load(self, sid: str) -> bytes | None:
        """get."""
        with self._answering():
            return self.client.get(SESSION_KEY.format(sid))

    def load_many(self, sids: Iterable[str]) -> dict[str, bytes]:
        """get_many."""
        keys = {SESSION_KEY.format(sid): sid for sid in sids}
        if not keys:
            return {}
        with self._answering():
            found = self.client.get_many(list(keys))
        return {keys[key]: value for key, value in found.items()}

    def save(self, sid: str, data: bytes, ttl: int, user_id: str | None, *, must_exist: bool = False) -> bool:
        """set (replace to update only), then make sure the user's index item lists the id."""
        key = SESSION_KEY.format(sid)
        with self._answering():
            if must_exist:
                stored = self.client.replace(key, data, expire=ttl, noreply=False)
            else:
                stored = self.client.set(key, data, expire=ttl, noreply=False)
            if stored and user_id is not None:
                update_id_set(self.client, USER_KEY.format(user_id), lambda sids: sids | {sid}, self.index_ttl)
            return bool(stored)

    def delete(self, sid: str, user_id: str | None) -> None:
        """delete, and drop the id from the user's index item."""
        with self._answering():
            self.client.delete(SESSION_KEY.format(sid), noreply=False)
            if user_id is not None:
                update_id_set(self.client, USER_KEY.format(user_id), lambda sids: sids - {sid}, self.index_ttl)

    def user_sids(self, user_id: str) -> set[str]:
        """The ids in the user's index item."""
        with self._answering():
            value = self.client.get(USER_KEY.format(user_id))
        return set(value.decode().split()) if value else set()

    def ping(self) -> None:
        """version."""
        with self._answering():
            self.client.version()

    def close(self) -> None:
        """Close pooled connections."""
        self.client.close()
