"""Session interfaces: cookies, rotation, idle expiry and outages, built once over any store.

``StoreSessionInterface`` extends Flask-Session 0.8's ServerSideSessionInterface
for the four server-side stores; ``SignedCookieSessionInterface`` extends
Flask's own signed-cookie interface with a small server-side record per
logged-in session, so that logout really ends it. Both keep the same
``_meta`` (created, last seen, address, browser) that the sessions page lists.
"""

from __future__ import annotations

import re
import secrets
import time

import msgspec
from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_session.base import ServerSideSession, ServerSideSessionInterface

from .base import SessionStore, StoreUnavailable

# token_urlsafe(32) gives 43 characters; anything else in the cookie is not ours,
# and must never reach a store (memcached rejects keys with spaces, for one).
SID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
META_KEY = "_meta"
USER_KEY = "_user_id"  # where Flask-Login keeps the user id

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(dict)


def encode(data: dict) -> bytes:
    """Session dict to msgpack bytes (compact, and no pickle to load back)."""
    return _encoder.encode(data)


def decode(raw: bytes) -> dict | None:
    """msgpack bytes to a session dict, or None for bytes that are not one."""
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError:
        return None


def new_sid() -> str:
    """A 256-bit random session id."""
    return secrets.token_urlsafe(32)


class TrackingMixin:
    """What both interfaces share: session metadata, throttled touches, outage answers."""

    store: SessionStore
    idle_timeout: int
    touch_interval: int

    def _configure(self, store: SessionStore, idle_timeout: int, touch_interval: int) -> None:
        self.store = store
        self.idle_timeout = idle_timeout
        # A touch must come well before the idle timeout ends, or an active user
        # would be logged out between two touches.
        self.touch_interval = min(touch_interval, idle_timeout // 4)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure when configured (production) and whenever the request came over HTTPS."""
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)

    def _touch_due(self, session) -> bool:
        """Whether the store's expiry must be pushed back on this request."""
        meta = dict.get(session, META_KEY)
        return meta is None or time.time() - meta.get("last_seen", 0) >= self.touch_interval

    def _stamp(self, session) -> None:
        """Record when and from where this session was last seen."""
        now = int(time.time())
        meta = dict(dict.get(session, META_KEY) or {})
        meta.setdefault("created", now)
        meta["last_seen"] = now
        meta["ip"] = request.remote_addr or ""
        meta["ua"] = (request.user_agent.string or "")[:200]
        dict.__setitem__(session, META_KEY, meta)

    @staticmethod
    def _answer_unavailable(response: Response, error: StoreUnavailable) -> None:
        """Turn the response already built into the 503 page: the session could not be saved."""
        from ..errors import store_unavailable_response

        replacement = store_unavailable_response(error)
        response.status_code = replacement.status_code
        response.set_data(replacement.get_data())
        response.content_type = replacement.content_type
        for header in ("Set-Cookie", "Location"):
            response.headers.pop(header, None)


class StoreSessionInterface(TrackingMixin, ServerSideSessionInterface):
    """Server-side sessions in any SessionStore, keyed by a random id in the cookie."""

    session_class = ServerSideSession

    def __init__(self, app: Flask, store: SessionStore, idle_timeout: int, touch_interval: int):
        super().__init__(app, key_prefix="", use_signer=False, permanent=False, sid_length=32)
        self._configure(store, idle_timeout, touch_interval)

    def current_sid(self, session) -> str:
        """The id the store and the sessions page know this session by."""
        return session.sid

    # Flask-Session's three backend primitives, answered by the store.
    def _retrieve_session_data(self, store_id: str) -> dict | None:
        raw = self.store.load(store_id)
        return decode(raw) if raw is not None else None

    def _delete_session(self, store_id: str) -> None:
        self.store.delete(store_id, None)

    def _upsert_session(self, session_lifetime, session: ServerSideSession, store_id: str) -> None:
        self.store.save(store_id, encode(dict(session)), self.idle_timeout, dict.get(session, USER_KEY))

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        """Load the session named by the cookie; unknown, expired or forged ids start a fresh one."""
        cookie_sid = request.cookies.get(self.get_cookie_name(app), "")
        data = None
        if SID_PATTERN.fullmatch(cookie_sid):
            try:
                raw = self.store.load(cookie_sid)
            except StoreUnavailable as error:
                return self._fresh(store_error=error)
            data = decode(raw) if raw is not None else None
        if data is None:
            return self._fresh()
        session = self.session_class(data, sid=cookie_sid)
        session.cookie_sid = cookie_sid
        session.store_error = None
        return session

    def _fresh(self, store_error: StoreUnavailable | None = None) -> ServerSideSession:
        session = self.session_class(sid=new_sid())
        session.cookie_sid = None
        session.store_error = store_error
        return session

    def regenerate(self, session: ServerSideSession) -> None:
        """Give the session a new id and delete the old record (login, logout: no fixation)."""
        if session.cookie_sid is not None:
            self.store.delete(session.cookie_sid, dict.get(session, USER_KEY))
        session.sid = new_sid()
        session.cookie_sid = None
        dict.pop(session, META_KEY, None)
        session.modified = True

    def save_session(self, app: Flask, session: ServerSideSession, response: Response) -> None:
        """Write the session when it changed or its expiry needs pushing back; set the cookie when its id is new."""
        if session.store_error is not None:
            return
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        if session.accessed:
            response.vary.add("Cookie")
        try:
            if not session:
                if session.cookie_sid is not None:
                    self.store.delete(session.cookie_sid, None)
                if request.cookies.get(name) is not None:
                    response.delete_cookie(name, domain=domain, path=path)
                return
            if not session.modified and not self._touch_due(session):
                return
            self._stamp(session)
            existing = session.sid == session.cookie_sid
            saved = self.store.save(
                session.sid,
                encode(dict(session)),
                self.idle_timeout,
                dict.get(session, USER_KEY),
                must_exist=existing,
            )
        except StoreUnavailable as error:
            self._answer_unavailable(response, error)
            return
        if saved and session.sid != session.cookie_sid:
            response.set_cookie(
                name,
                session.sid,
                httponly=self.get_cookie_httponly(app),
                secure=self.get_cookie_secure(app),
                samesite=self.get_cookie_samesite(app),
                domain=domain,
                path=path,
            )
            response.vary.add("Cookie")


class SignedCookieSession(SecureCookieSession):
    """Flask's signed-cookie session, plus what the record check needs."""

    store_error: StoreUnavailable | None = None
    cookie_sid: str | None = None


class SignedCookieSessionInterface(TrackingMixin, SecureCookieSessionInterface):
    """Flask's signed cookie holds the whole session; a server-side record per login makes logout real.

    Without the record a copy of the cookie taken before logout would stay
    valid until it expires: the signature proves only that the server wrote
    it once. The record costs one indexed database read per logged-in request.
    """

    session_class = SignedCookieSession
    SID_KEY = "_sid"

    def __init__(self, record_store: SessionStore, idle_timeout: int, touch_interval: int):
        self._configure(record_store, idle_timeout, touch_interval)

    def current_sid(self, session) -> str | None:
        """The id of this login's server-side record."""
        return dict.get(session, self.SID_KEY)

    def open_session(self, app: Flask, request: Request) -> SignedCookieSession | None:
        """Verify the signature and age, then check a logged-in session still has its record."""
        session = super().open_session(app, request)
        if session is None or USER_KEY not in session:
            return session
        sid = dict.get(session, self.SID_KEY, "")
        try:
            alive = isinstance(sid, str) and SID_PATTERN.fullmatch(sid) and self.store.load(sid) is not None
        except StoreUnavailable as error:
            fresh = self.session_class()
            fresh.store_error = error
            return fresh
        if not alive:
            fresh = self.session_class()
            fresh.modified = True  # ended elsewhere: tell the browser to drop the cookie
            return fresh
        session.cookie_sid = sid
        return session

    def get_expiration_time(self, app: Flask, session) -> None:
        """A browser-session cookie; the idle timeout is enforced by the signature's age."""
        return None

    def should_set_cookie(self, app: Flask, session: SignedCookieSession) -> bool:
        """Re-sign when the session changed, or to push back its idle timeout."""
        return session.modified or (bool(session) and self._touch_due(session))

    def regenerate(self, session: SignedCookieSession) -> None:
        """Start a new record id; the old record is deleted."""
        if session.cookie_sid is not None:
            self.store.delete(session.cookie_sid, dict.get(session, USER_KEY))
        session.cookie_sid = None
        dict.pop(session, META_KEY, None)
        dict.__setitem__(session, self.SID_KEY, new_sid())
        session.modified = True

    def save_session(self, app: Flask, session: SignedCookieSession, response: Response) -> None:
        """Keep the record in step with the cookie, then let Flask sign and set the cookie."""
        if session.store_error is not None:
            return
        user_id = dict.get(session, USER_KEY)
        try:
            if user_id is None and session.cookie_sid is not None:
                self.store.delete(session.cookie_sid, None)
            if self.should_set_cookie(app, session):
                self._stamp(session)
                session.modified = True  # a touch must re-sign the cookie too
                if user_id is not None:
                    if self.SID_KEY not in session:
                        dict.__setitem__(session, self.SID_KEY, new_sid())
                    record = {USER_KEY: user_id, META_KEY: session[META_KEY]}
                    sid = session[self.SID_KEY]
                    existing = sid == session.cookie_sid
                    if not self.store.save(sid, encode(record), self.idle_timeout, user_id, must_exist=existing):
                        return  # ended while this request ran: do not re-sign a dead login
        except StoreUnavailable as error:
            self._answer_unavailable(response, error)
            return
        super().save_session(app, session, response)
