"""The session store contract: a few primitives every backend implements.

Stores only store bytes under a session id, with a time to live, and keep a
per-user index of session ids. Cookies, rotation, expiry policy and the
"every session of a user" operations are built once on top of these
primitives (see ``server_side.py``, ``signed_cookie.py`` and ``manager.py``), as Django's session
backends do.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable

from ..drivers import StoreUnavailable

__all__ = ["SessionStore", "StoreUnavailable"]


class SessionStore(ABC):
    """Bytes under a session id, with expiry, and a per-user index of ids."""

    #: Name shown on pages, in /healthz and in 503 answers.
    name: str = ""
    #: True when the server expires entries itself, so ``clear_expired`` has nothing to do.
    native_expiry: bool = True
    #: What the store reads the time from, where it keeps expiries itself (the app's clock: see authdemo.clock).
    clock = staticmethod(time.time)

    @abstractmethod
    def load(self, sid: str) -> bytes | None:
        """The stored bytes, or None if the session is unknown or expired."""

    @abstractmethod
    def load_many(self, sids: Iterable[str]) -> dict[str, bytes]:
        """The stored bytes of each live session among ``sids``."""

    @abstractmethod
    def save(self, sid: str, data: bytes, ttl: int, user_id: str | None, *, must_exist: bool = False) -> bool:
        """Store a session for ``ttl`` seconds, indexed under its user; False if ``must_exist`` and it did not.

        ``must_exist`` is how a request that loaded a session writes it back: if
        the session was ended meanwhile (logout everywhere, revoked from the
        sessions page), the write must not bring it back to life.
        """

    @abstractmethod
    def delete(self, sid: str, user_id: str | None) -> None:
        """Remove a session and its index entry; unknown ids are ignored."""

    @abstractmethod
    def user_sids(self, user_id: str) -> set[str]:
        """Ids indexed for a user; may include ids whose session has since expired."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    def clear_expired(self) -> int:
        """Remove expired sessions and return how many; a no-op where the store expires them itself."""
        return 0

    def stats(self) -> dict:
        """Store-specific figures for /healthz (sizes, bounds, evictions)."""
        return {}

    def close(self) -> None:  # noqa: B027 - most stores hold nothing to release
        """Release connections (used by tests and app shutdown)."""
