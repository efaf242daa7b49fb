"""When a session was last seen, from where, and whether its expiry needs pushing back."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import request

from .codec import META_KEY


class Activity:
    """Stamps a session's metadata and throttles the writes that only push its expiry back."""

    def __init__(self, idle_timeout: int, touch_interval: int, clock: Callable[[], float] = time.time):
        self.idle_timeout = idle_timeout
        # A touch must come well before the idle timeout ends, or an active user
        # would be logged out between two touches.
        self.touch_interval = min(touch_interval, idle_timeout // 4)
        self.clock = clock

    def touch_due(self, session) -> bool:
        """Whether the store's expiry must be pushed back on this request."""
        meta = dict.get(session, META_KEY)
        return meta is None or self.clock() - meta.get("last_seen", 0) >= self.touch_interval

    def stamp(self, session) -> None:
        """Record when and from where this session was last seen (and when it began)."""
        now = int(self.clock())
        meta = dict(dict.get(session, META_KEY) or {})
        meta.setdefault("created", now)
        meta["last_seen"] = now
        meta["ip"] = request.remote_addr or ""
        meta["ua"] = (request.user_agent.string or "")[:200]
        dict.__setitem__(session, META_KEY, meta)
