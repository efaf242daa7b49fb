"""Operations on a user's sessions, built once over any store's primitives."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Flask, current_app, session
from flask_login import login_user, logout_user

from .base import SessionStore
from .codec import LOGIN_USER_KEY, META_KEY, decode


@dataclass(frozen=True)
class SessionInfo:
    """One active session as the sessions page shows it."""

    handle: str
    created: datetime
    last_seen: datetime
    ip: str
    user_agent: str
    current: bool


def public_handle(sid: str) -> str:
    """A name for a session that is safe to put in a page or URL: the id itself is a credential."""
    return hashlib.sha256(sid.encode()).hexdigest()[:16]


def _when(timestamp: int | None) -> datetime:
    return datetime.fromtimestamp(timestamp or 0, tz=UTC)


class SessionManager:
    """List, end and purge sessions through the configured store."""

    def __init__(self, backend: str, store: SessionStore, interface):
        self.backend = backend
        self.store = store
        self.interface = interface

    def current_sid(self) -> str | None:
        """The store id of the session of this request."""
        return self.interface.current_sid(session._get_current_object())

    def list_for_user(self, user_id: str, current_sid: str | None = None) -> list[SessionInfo]:
        """The user's live sessions, newest activity first (``current_sid`` marked); stale index entries are pruned."""
        sids = self.store.user_sids(user_id)
        found = self.store.load_many(sids)
        infos = []
        for sid in sids:
            data = decode(found[sid]) if sid in found else None
            if data is None or str(data.get(LOGIN_USER_KEY)) != user_id:
                self.store.delete(sid, user_id)  # expired, evicted or ended: drop it from the index
                continue
            meta = data.get(META_KEY) or {}
            infos.append(
                SessionInfo(
                    handle=public_handle(sid),
                    created=_when(meta.get("created")),
                    last_seen=_when(meta.get("last_seen")),
                    ip=meta.get("ip", ""),
                    user_agent=meta.get("ua", ""),
                    current=sid == current_sid,
                )
            )
        return sorted(infos, key=lambda info: info.last_seen, reverse=True)

    @staticmethod
    def is_handle(sid: str, handle: str) -> bool:
        """Whether ``handle`` names the session ``sid``."""
        return public_handle(sid) == handle

    def end(self, user_id: str, handle: str) -> bool:
        """End one of the user's sessions by its public handle; False if it is not theirs."""
        for sid in self.store.user_sids(user_id):
            if public_handle(sid) == handle:
                self.store.delete(sid, user_id)
                return True
        return False

    def end_all(self, user_id: str) -> int:
        """End every session of the user (log out everywhere)."""
        sids = self.store.user_sids(user_id)
        for sid in sids:
            self.store.delete(sid, user_id)
        return len(sids)

    def log_in(self, user) -> None:
        """A new session id first (no fixation), then the user id in it."""
        self.rotate()
        login_user(user, remember=False)

    def rotate(self) -> None:
        """Give this request's session a new id, deleting the old record (done at login)."""
        self.interface.regenerate(session._get_current_object())

    def end_current(self) -> None:
        """Log out this request's session: record deleted, id rotated, contents cleared."""
        self.rotate()
        logout_user()
        session.clear()

    def purge(self) -> int:
        """Remove expired sessions from stores that do not expire them themselves."""
        return self.store.clear_expired()


def get_manager(app: Flask | None = None) -> SessionManager:
    """The app's SessionManager."""
    return (app or current_app).extensions["authdemo_sessions"]
