"""Operations on a user's sessions, built once over any store's primitives."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import Flask, current_app, request, session
from flask_login import login_user, logout_user

from ..login import COOKIE_LIMIT, LoginInfo, get_login_backend
from .base import SessionStore
from .codec import LOGIN_USER_KEY, META_KEY, decode


def public_handle(sid: str) -> str:
    """A name for a session that is safe to put in a page or URL: the id itself is a credential."""
    return hashlib.sha256(sid.encode()).hexdigest()[:16]


def _when(timestamp: int | None) -> datetime:
    return datetime.fromtimestamp(timestamp or 0, tz=UTC)


#: The header badge, where the backend's name alone would hide the database engine.
LABELS = {"sqlalchemy": "sqlalchemy ({engine})", "cookie": "cookie (records in {engine})"}


class SessionManager:
    """The login backend of session mode: sessions listed, ended and purged through the configured store."""

    inspector_template = "account/account.html"

    def __init__(self, backend: str, store: SessionStore, interface):
        self.backend = backend
        self.label = LABELS.get(backend, backend)
        self.store = store
        self.interface = interface

    def current_sid(self) -> str | None:
        """The store id of the session of this request."""
        return self.interface.current_sid(session._get_current_object())

    def list_for_user(self, user_id: str, current_sid: str | None = None) -> list[LoginInfo]:
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
                LoginInfo(
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

    def describe(self) -> dict:
        """What the browser holds (the cookie, masked) and what the store keeps for this session, with its TTL."""
        from ..inspector import fields, human_duration, mask, store_ttl

        settings = current_app.extensions["authdemo_settings"]
        cookie_name = current_app.config["SESSION_COOKIE_NAME"]
        cookie_value = request.cookies.get(cookie_name, "")
        sid = self.current_sid()
        raw = self.store.load(sid) if sid else None
        stored = decode(raw) if raw is not None else None
        meta = (stored or {}).get(META_KEY) or {}
        ttl, ttl_source = store_ttl(self.store, sid, meta, settings.session_idle_timeout) if stored else (None, "")
        return {
            "backend": self.backend,
            "store": self.store,
            "cookie_name": cookie_name,
            "cookie_masked": mask(cookie_value),
            "cookie_size": len(cookie_name) + 1 + len(cookie_value),
            "cookie_limit": COOKIE_LIMIT,
            "cookie_secure": bool(current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure),
            "cookie_fields": fields(dict(session)) if self.backend == "cookie" else None,
            "server_fields": fields(stored) if stored is not None else None,
            "server_record_size": len(raw) if raw is not None else 0,
            "handle": public_handle(sid) if sid else None,
            "ttl": ttl,
            "ttl_source": ttl_source,
            "idle_timeout": settings.session_idle_timeout,
            "human_duration": human_duration,
        }


def get_manager(app: Flask | None = None):
    """The app's login backend (the SessionManager in session mode); kept for callers of the older name."""
    return get_login_backend(app)
