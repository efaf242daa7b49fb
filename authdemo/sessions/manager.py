"""Operations on a user's sessions, built once over any store's primitives."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from flask import Flask, current_app, request, session
from flask_login import login_user, logout_user

from ..clock import get_clock
from ..forms import rotate_csrf
from ..login import COOKIE_LIMIT, LoginInfo, get_login_backend
from ..models import Identity, load_identity
from .base import SessionStore
from .codec import (
    IDENTITY_KEY,
    LOGIN_USER_KEY,
    META_KEY,
    PENDING_AUTHZ_KEY,
    decode,
    encode,
    new_authz_version,
)


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

    def update_identity(self, user_id: str, identity: Identity) -> int:
        """Rewrite the identity in every live session of the user (an admin changed them); how many were.

        Through the per-user index, before the admin's request returns, so the
        user's next request sees the change. Each session keeps what is left
        of its idle time; one ended meanwhile stays ended (``must_exist``).
        """
        sids = self.store.user_sids(user_id)
        found = self.store.load_many(sids)
        now = get_clock(current_app)()
        updated = 0
        for sid, raw in found.items():
            data = decode(raw)
            if data is None or str(data.get(LOGIN_USER_KEY)) != user_id:
                continue
            last_seen = (data.get(META_KEY) or {}).get("last_seen", now)
            ttl = max(1, int(self.interface.idle_timeout - (now - last_seen)))
            record = encode(self.interface.updated_record(data, identity))
            updated += bool(self.store.save(sid, record, ttl, user_id, must_exist=True))
        return updated

    def log_in(self, user) -> None:
        """A new session id and CSRF secret first (no fixation), then the user and their identity in it."""
        identity = load_identity(user.id)
        self.rotate()
        login_user(identity, remember=False)
        session[IDENTITY_KEY] = identity.as_record(new_authz_version())

    def rotate(self) -> None:
        """Give this request's session a new id and CSRF secret, deleting the old record (login, logout)."""
        self.interface.regenerate(session._get_current_object())
        rotate_csrf()

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


def load_user(user_id: str) -> Identity | None:
    """Flask-Login's user loader in session mode: the identity the session holds, no query.

    Only a session without one (the cookie store after an admin's change, or
    a session written before identities were stored) reads the database,
    once, and keeps what it read.
    """
    record = session.get(IDENTITY_KEY)
    if isinstance(record, dict) and record.get("id") == user_id:
        try:
            return Identity.from_record(record)
        except (KeyError, TypeError):
            pass  # not one we wrote: read it again
    try:
        identity = load_identity(int(user_id))
    except (TypeError, ValueError):
        return None
    if identity is not None:
        session[IDENTITY_KEY] = identity.as_record(session.pop(PENDING_AUTHZ_KEY, None) or new_authz_version())
    return identity


def get_manager(app: Flask | None = None):
    """The app's login backend (the SessionManager in session mode); kept for callers of the older name."""
    return get_login_backend(app)
