"""In-process store: bounded, thread-safe, gone when the process stops.

cachelib's SimpleCache would silently keep only 500 entries and evict at
random; this store's bound is a setting (AUTHDEMO_MEMORY_MAX_SESSIONS), shown
in /healthz, and it evicts expired sessions first, then the least recently
used anonymous one (a visitor who only opened the login form), and only then
the least recently used logged-in one, counting every eviction: a flood of
anonymous requests cannot push logged-in users out. OrderedDicts keep LRU
order in O(1).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from .base import SessionStore


class MemorySessionStore(SessionStore):
    """Sessions in this process's memory, bounded by count."""

    name = "memory"
    native_expiry = True  # expired entries are dropped on read and before any eviction
    SWEEP_INTERVAL = 5.0

    def __init__(self, max_sessions: int):
        self.max_sessions = max_sessions
        self._entries: OrderedDict[str, tuple[float, bytes, str | None]] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}
        self._anonymous: OrderedDict[str, None] = OrderedDict()  # LRU order of sessions without a user
        self._lock = threading.RLock()
        self.evictions = 0
        self.logged_in_evictions = 0
        self.expired_removed = 0
        self._last_sweep = 0.0

    def load(self, sid: str) -> bytes | None:
        """The session's bytes; marks it most recently used."""
        with self._lock:
            entry = self._entries.get(sid)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                self._remove(sid)
                self.expired_removed += 1
                return None
            self._entries.move_to_end(sid)
            if entry[2] is None:
                self._anonymous.move_to_end(sid)
            return entry[1]

    def load_many(self, sids: Iterable[str]) -> dict[str, bytes]:
        """Live sessions among ``sids``, without changing LRU order."""
        now = self.clock()
        with self._lock:
            return {sid: entry[1] for sid in sids if (entry := self._entries.get(sid)) is not None and entry[0] > now}

    def save(self, sid: str, data: bytes, ttl: int, user_id: str | None, *, must_exist: bool = False) -> bool:
        """Store the session, evicting to stay within the bound."""
        with self._lock:
            if sid in self._entries:
                self._remove(sid)
            elif must_exist:
                return False
            elif len(self._entries) >= self.max_sessions:
                self._make_room()
            self._entries[sid] = (self.clock() + ttl, data, user_id)
            if user_id is None:
                self._anonymous[sid] = None
            else:
                self._by_user.setdefault(user_id, set()).add(sid)
            return True

    def delete(self, sid: str, user_id: str | None) -> None:
        """Forget the session."""
        with self._lock:
            self._remove(sid)

    def user_sids(self, user_id: str) -> set[str]:
        """Ids of the user's sessions still held."""
        with self._lock:
            return set(self._by_user.get(user_id, ()))

    def ping(self) -> None:
        """Always answers: it is this process."""

    def clear_expired(self) -> int:
        """Drop every expired session now."""
        with self._lock:
            removed = self._drop_expired()
            self.expired_removed += removed
            return removed

    def stats(self) -> dict:
        """Size against the bound, and how many sessions were evicted to keep it."""
        with self._lock:
            return {
                "sessions": len(self._entries),
                "max_sessions": self.max_sessions,
                "evictions": self.evictions,
                "logged_in_evictions": self.logged_in_evictions,
                "expired_removed": self.expired_removed,
            }

    def _make_room(self) -> None:
        """Expired sessions go first; if none, the least recently used anonymous one, then logged-in one.

        The full sweep is O(n), so it runs at most once per SWEEP_INTERVAL;
        between sweeps the LRU end is the likeliest place for expired entries.
        """
        now = self.clock()
        if now - self._last_sweep >= self.SWEEP_INTERVAL:
            self._last_sweep = now
            removed = self._drop_expired()
            self.expired_removed += removed
            if removed:
                return
        oldest = next(iter(self._anonymous or self._entries))
        expired_at, _, user_id = self._entries[oldest]
        self._remove(oldest)
        if expired_at <= now:
            self.expired_removed += 1
        else:
            self.evictions += 1
            if user_id is not None:
                self.logged_in_evictions += 1

    def _drop_expired(self) -> int:
        now = self.clock()
        expired = [sid for sid, entry in self._entries.items() if entry[0] <= now]
        for sid in expired:
            self._remove(sid)
        return len(expired)

    def _remove(self, sid: str) -> None:
        entry = self._entries.pop(sid, None)
        self._anonymous.pop(sid, None)
        if entry is not None and entry[2] is not None:
            sids = self._by_user.get(entry[2])
            if sids is not None:
                sids.discard(sid)
                if not sids:
                    del self._by_user[entry[2]]
