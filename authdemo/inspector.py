"""What the account page's inspectors show: session fields explained, times in words, the store's own TTL.

Presentation only, shared by the two login backends' ``describe()``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Flask

from .extensions import db
from .login import COOKIE_LIMIT
from .sessions.codec import META_KEY
from .wire import mask, unwrap

__all__ = ["COOKIE_LIMIT", "human_time", "human_duration", "fields", "store_ttl", "mask", "init_app"]

SECRET_FIELDS = {"csrf_token", "_csrf_signed"}
#: Fields that are keys to something: shown masked, like cookies.
MASKED_FIELDS = {"_sid"}
#: What each field of a session is for.
FIELD_NOTES = {
    "_user_id": "Who you are: Flask-Login's key for the logged-in user (your user id).",
    "_fresh": "Flask-Login: true when this session began with your password (not restored from a remember-me "
    "cookie). Pages marked fresh_login_required ask for the password again when it is false.",
    "_id": "Flask-Login's session protection, turned off here (empty): hashing the address and browser on "
    "every request only marked a moved session not fresh, which nothing reads; the id rotates at login instead.",
    "_meta": "authdemo's own: when the session was created and last seen, from which address and browser. "
    "It feeds the sessions page; it is written back at most once a minute.",
    "_sid": "The id of this login's record on the server (masked): deleting the record ends this cookie, "
    "copies included.",
    "_flashes": "Messages waiting to be shown on the next page.",
    "csrf_token": "The secret behind the forms' hidden csrf_token field (never shown); a new one at login and logout.",
    "_csrf_signed": "The form token signed from that secret, kept so pages need not sign it again (never shown).",
    "_identity": "Who you are, as every request needs it: id, name, roles, permissions and an authorization "
    "version. Written at login and rewritten by an admin's change, so no request queries the database.",
    "_authz_pending": "Cookie store: your roles changed; the identity is read once from the database.",
}


def human_time(timestamp: float | None, now: float | None = None) -> str:
    """A Unix time as a date, a clock time and how long ago or ahead: 2026-11-30 22:41:07 UTC (3 min ago)."""
    if not timestamp:
        return "unknown"
    now = time.time() if now is None else now
    when = datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when} ({human_duration(timestamp - now)})"


def human_duration(seconds: float) -> str:
    """``in 4 min`` or ``3 h ago``."""
    size = abs(seconds)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if size >= length:
            amount = f"{size / length:.0f} {unit}"
            break
    else:
        amount = f"{size:.0f} s"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def fields(data: dict | None) -> list[dict]:
    """A session's fields for display: value (masked or hidden where it is a secret) and what it is for."""
    rows = []
    for key, value in (data or {}).items():
        if key in SECRET_FIELDS:
            shown = "(secret, not shown)"
        elif key in MASKED_FIELDS and isinstance(value, str):
            shown = mask(value)
        elif key == META_KEY and isinstance(value, dict):
            shown = {
                name: human_time(item) if name in ("created", "last_seen") else item for name, item in value.items()
            }
        else:
            shown = value
        rows.append({"key": key, "value": shown, "note": FIELD_NOTES.get(key, "")})
    return rows


def store_ttl(store, sid: str, meta: dict, idle_timeout: int) -> tuple[float | None, str]:
    """Seconds the store itself will keep this session, and where that figure comes from."""
    target = unwrap(store)
    try:
        if target.name == "redis":
            from .sessions.redis import SESSION_KEY

            milliseconds = target.client.pttl(SESSION_KEY.format(sid))
            if milliseconds >= 0:
                return milliseconds / 1000, "Redis's own TTL for the key (PTTL)"
        elif target.name == "memory":
            return target._entries[sid][0] - time.time(), "the expiry time the memory store keeps beside the entry"
        elif target.name != "memcached":
            from .models import SessionRecord

            row = db.session.get(SessionRecord, sid)
            if row is not None:
                return row.expires_at - time.time(), "the row's expires_at column"
    except (AttributeError, KeyError, TypeError, LookupError):
        pass  # a store without that detail: fall back to what it was told
    last_seen = meta.get("last_seen")
    if not last_seen:
        return None, "unknown"
    return (
        last_seen + idle_timeout - time.time(),
        "the TTL the store was given at the last write (Memcached cannot report a key's remaining TTL)",
    )


def init_app(app: Flask) -> None:
    """The ``human_time`` template filter."""
    app.add_template_filter(human_time, "human_time")
