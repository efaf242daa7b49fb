"""Telling a device why it was logged out: tombstones for ended sessions, and a small "last seen" cookie.

When a session is ended on purpose (from the sessions page of another
device, by "log out everywhere", by a refresh token used twice) a tombstone
is written under the session's public handle: a few bytes saying why, kept
as long as the idle timeout (a device that comes back later would have been
logged out by the timeout anyway). In session mode tombstones live in the
session store itself (``tomb:<handle>``, never a valid cookie id), so every
app process sees them and they are bounded the way the store is; in JWT
mode, where nothing but revocations is stored, in a bounded in-process cache.

A logged-in browser also holds ``authdemo_seen``: the signed handle of its
session and when it was last seen (no credential: knowing it logs nobody
in). When a request comes back anonymous with that cookie, the reason is the
tombstone's, or else worked out: idle longer than the timeout; the store
lost the session (restart, eviction); or the signature no longer verifies
(the secret key changed).
"""

from __future__ import annotations

import time

from cachelib import SimpleCache
from flask import Flask, Response, current_app, flash, g, request
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer

from .clock import get_clock
from .sessions.base import StoreUnavailable
from .sessions.codec import decode, encode
from .sessions.verified_cookies import VerifiedCookies

SEEN_COOKIE = "authdemo_seen"
TOMBSTONE_PREFIX = "tomb:"  # has a colon: no cookie id (43 URL-safe characters) can name a tombstone
JWT_TOMBSTONES_MAX = 10_000  # per process; ~200 bytes each

ENDED_ELSEWHERE = "ended_elsewhere"
LOGOUT_EVERYWHERE = "logout_everywhere"
REFRESH_REUSE = "refresh_reuse"
ROLES_CHANGED = "roles_changed"
ACCOUNT_DISABLED = "account_disabled"

MESSAGES = {
    ENDED_ELSEWHERE: "Your session was ended from another device.",
    LOGOUT_EVERYWHERE: "Your session was ended because you logged out everywhere.",
    REFRESH_REUSE: "Your login was ended because its refresh token was used twice: a copy of it may have been "
    "taken, so every token of that login was revoked.",
    ROLES_CHANGED: "Your session was ended because your roles changed.",
    ACCOUNT_DISABLED: "Your session was ended because your account was disabled or deleted.",
}
# The bench's stateless token check runs without the token cookies' check, so it looks anonymous: not a logout.
SKIPPED_ENDPOINTS = {"static", "main.healthz", "bench.bench_stateless"}


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} hour" + ("s" if seconds != 3600 else "")
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} minute" + ("s" if seconds != 60 else "")
    return f"{seconds} second" + ("s" if seconds != 1 else "")


def _settings():
    return current_app.extensions["authdemo_settings"]


def _serializer() -> URLSafeSerializer:
    # Built once per app: building one derives its key, and every logged-in request reads the cookie.
    serializer = current_app.extensions.get("authdemo_seen_serializer")
    if serializer is None:
        serializer = URLSafeSerializer(current_app.secret_key, salt="authdemo-seen")
        current_app.extensions["authdemo_seen_serializer"] = serializer
    return serializer


def _seen(value: str) -> dict:
    """The "seen" cookie's contents; each cookie string verified once per process (it comes back unchanged).

    Verifying it on every logged-in request was ~¼ of a protected request in the
    profile (docs/performance.md); a string never seen is verified as before.
    """
    cache = current_app.extensions["authdemo_seen_verified"]
    found = cache.get(value, float("inf"))
    if found is not None:
        return found
    try:
        seen = _serializer().loads(value)
    except BadSignature:
        return {}
    if not isinstance(seen, dict):
        return {}
    cache.put(value, time.time(), seen)
    return seen


def seen_cookie_name() -> str:
    """With the __Host- prefix in production, like the session cookie."""
    return ("__Host-" if current_app.config["SESSION_COOKIE_SECURE"] else "") + SEEN_COOKIE


def current_handle() -> str | None:
    """The public handle of this request's session or token family (what the sessions page shows)."""
    from .login import get_login_backend
    from .sessions.manager import public_handle

    app = current_app._get_current_object()
    sid = get_login_backend(app).current_sid()
    if not sid:
        return None
    return sid if app.extensions["authdemo_settings"].auth_mode == "jwt" else public_handle(sid)


# -- tombstones ---------------------------------------------------------------------


def live_handles(user_id: str) -> list[str]:
    """The handles of the user's live sessions or logins (before ending them all)."""
    from .login import get_login_backend

    try:
        return [info.handle for info in get_login_backend().list_for_user(user_id)]
    except StoreUnavailable:
        return []


def _jwt_cache(app: Flask) -> SimpleCache:
    return app.extensions["authdemo_tombstones"]


def bury(handles, reason: str) -> None:
    """Leave a tombstone for each ended session, so its device is told why; a store outage only loses the reason."""
    settings = _settings()
    ttl = settings.session_idle_timeout
    value = {"reason": reason, "at": int(get_clock(current_app)())}
    if settings.auth_mode == "jwt":
        cache = _jwt_cache(current_app)
        for handle in handles:
            cache.set(TOMBSTONE_PREFIX + handle, value, timeout=ttl)
        return
    from .login import get_login_backend

    store = get_login_backend().store
    try:
        for handle in handles:
            store.save(TOMBSTONE_PREFIX + handle, encode(value), ttl, None)
    except StoreUnavailable as error:
        current_app.logger.warning("tombstone not written: %s", error)


def tombstone(handle: str) -> dict | None:
    """The tombstone of an ended session, or None."""
    if _settings().auth_mode == "jwt":
        return _jwt_cache(current_app).get(TOMBSTONE_PREFIX + handle)
    from .login import get_login_backend

    try:
        raw = get_login_backend().store.load(TOMBSTONE_PREFIX + handle)
    except StoreUnavailable:
        return None
    return decode(raw) if raw is not None else None


# -- the reason, told on the next request ------------------------------------------------


def explain(cookie_value: str) -> str:
    """Why the session this "seen" cookie names is no longer logged in, in one sentence."""
    settings = _settings()
    try:
        seen = _serializer().loads(cookie_value)
        handle, last_seen = str(seen["h"]), float(seen["t"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return (
            "Your session ended because the key changed: the server's secret key is no longer the one that "
            "signed your cookies, so none of them is accepted."
        )
    found = tombstone(handle)
    if found is not None and found.get("reason") in MESSAGES:
        return MESSAGES[found["reason"]]
    idle = get_clock(current_app)() - last_seen
    if settings.auth_mode == "jwt":
        if idle >= settings.jwt_refresh_ttl:
            return f"Your login expired: a refresh token lasts {_duration(settings.jwt_refresh_ttl)}."
        return (
            f"Your login ended because the token store lost it (restart): the {settings.token_store} token store "
            "no longer knows this login."
        )
    if idle >= settings.session_idle_timeout:
        return f"Your session ended because it was idle for {_duration(settings.session_idle_timeout)}."
    return (
        f"Your session ended because the session store lost it (restart): the {settings.session_backend} store no "
        "longer holds it (restarted, flushed, or it evicted the session to make room)."
    )


def _before_request() -> None:
    """A browser that was logged in and comes back anonymous is told why (once)."""
    if request.endpoint in SKIPPED_ENDPOINTS or request.path.startswith("/api/"):
        return
    cookie = request.cookies.get(seen_cookie_name())
    if cookie is None or current_user.is_authenticated:
        return
    g.forget_seen = True
    if request.endpoint == "auth.login" and request.method == "POST":
        return  # logging in again: the reason no longer matters
    g.logout_reason = explain(cookie)
    flash(g.logout_reason, "warning")


def _after_request(response: Response) -> Response:
    """Keep the "seen" cookie of a logged-in browser fresh; drop it after a logout.

    On every request, so written for it: the app and the request are looked up once.
    """
    req, app = request._get_current_object(), current_app._get_current_object()
    if req.endpoint in SKIPPED_ENDPOINTS or req.path.startswith("/api/") or response.status_code >= 500:
        return response
    name = seen_cookie_name()
    sent = req.cookies.get(name)
    if current_user.is_authenticated:
        handle = current_handle()
        if handle is None:
            return response
        seen = _seen(sent) if sent else {}
        activity = getattr(app.session_interface, "activity", None)  # absent in jwt mode
        interval = activity.touch_interval if activity is not None else 60
        now = get_clock(app)()
        if seen.get("h") != handle or now - float(seen.get("t", 0)) >= interval:
            value = _serializer().dumps({"h": handle, "t": int(now)})
            secure = bool(app.config["SESSION_COOKIE_SECURE"] or req.is_secure)
            response.set_cookie(name, value, httponly=True, secure=secure, samesite="Lax", path="/")
    elif g.get("forget_seen") or sent is not None:
        secure = bool(app.config["SESSION_COOKIE_SECURE"] or req.is_secure)
        response.delete_cookie(name, httponly=True, secure=secure, samesite="Lax", path="/")
    return response


def init_app(app: Flask) -> None:
    """Before CSRF protection: a form posted by a logged-out device gets its reason with the 400."""
    settings = app.extensions["authdemo_settings"]
    if settings.auth_mode == "jwt":
        app.extensions["authdemo_tombstones"] = SimpleCache(
            threshold=JWT_TOMBSTONES_MAX, default_timeout=settings.session_idle_timeout
        )
    app.extensions["authdemo_seen_verified"] = VerifiedCookies(10_000)
    app.before_request(_before_request)
    app.after_request(_after_request)
