"""Flask's signed-cookie sessions, with a server-side record per login so that logout is real.

The identity (id, name, roles, permissions) travels in the signed cookie; the
login's record, read on every request anyway, holds its authorization
version. An admin's change gives the record a new version: the next request
sees the cookie's identity is stale, reads it again from the database once,
and re-signs the cookie.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession

from ..drivers import StoreUnavailable
from .activity import Activity
from .base import SessionStore
from .codec import (
    AUTHZ_KEY,
    IDENTITY_KEY,
    LOGIN_USER_KEY,
    META_KEY,
    PENDING_AUTHZ_KEY,
    SID_PATTERN,
    decode,
    encode,
    new_authz_version,
    new_sid,
)
from .cookies import StoreBackedCookies
from .verified_cookies import CachedSecureCookieSessionInterface


class SignedCookieSession(SecureCookieSession):
    """Flask's signed-cookie session, plus what the record check needs."""

    store_error: StoreUnavailable | None = None
    cookie_sid: str | None = None


class SignedCookieSessionInterface(StoreBackedCookies, CachedSecureCookieSessionInterface):
    """Flask's signed cookie holds the whole session; a server-side record per login makes logout real.

    Without the record a copy of the cookie taken before logout would stay
    valid until it expires: the signature proves only that the server wrote
    it once. The record costs one indexed database read per logged-in request.
    """

    session_class = SignedCookieSession
    SID_KEY = "_sid"

    def __init__(self, record_store: SessionStore, activity: Activity):
        super().__init__()
        self.store = record_store
        self.activity = activity
        self.idle_timeout = activity.idle_timeout

    def current_sid(self, session) -> str | None:
        """The id of this login's server-side record."""
        return dict.get(session, self.SID_KEY)

    def open_session(self, app: Flask, request: Request) -> SignedCookieSession | None:
        """Verify the signature and age, then check a logged-in session still has its record."""
        session = super().open_session(app, request)
        if session is None or LOGIN_USER_KEY not in session:
            return session
        sid = dict.get(session, self.SID_KEY, "")
        try:
            raw = self.store.load(sid) if isinstance(sid, str) and SID_PATTERN.fullmatch(sid) else None
        except StoreUnavailable as error:
            fresh = self.session_class()
            fresh.store_error = error
            return fresh
        record = decode(raw) if raw is not None else None
        if record is None or str(record.get(LOGIN_USER_KEY)) != str(dict.get(session, LOGIN_USER_KEY)):
            fresh = self.session_class()
            fresh.modified = True  # ended elsewhere: tell the browser to drop the cookie
            return fresh
        session.cookie_sid = sid
        identity = dict.get(session, IDENTITY_KEY)
        version = record.get(AUTHZ_KEY)
        if not isinstance(identity, dict) or identity.get("v") != version:
            # An admin changed this user: the identity is read again (manager.load_user), the cookie re-signed.
            dict.pop(session, IDENTITY_KEY, None)
            dict.__setitem__(session, PENDING_AUTHZ_KEY, version)
            session.modified = True
        return session

    def updated_record(self, data: dict, identity) -> dict:
        """A login record of the user, with a new authorization version: its cookie's identity is stale."""
        return {**data, AUTHZ_KEY: new_authz_version()}

    def get_expiration_time(self, app: Flask, session) -> None:
        """None: a browser-session cookie; the idle timeout is enforced by the signature's age."""
        return None

    def should_set_cookie(self, app: Flask, session: SignedCookieSession) -> bool:
        """Re-sign when the session changed, or to push back its idle timeout."""
        return session.modified or (bool(session) and self.activity.touch_due(session))

    def regenerate(self, session: SignedCookieSession) -> None:
        """Start a new record id; the old record is deleted."""
        if session.cookie_sid is not None:
            self.store.delete(session.cookie_sid, dict.get(session, LOGIN_USER_KEY))
        session.cookie_sid = None
        dict.pop(session, META_KEY, None)
        dict.__setitem__(session, self.SID_KEY, new_sid())
        session.modified = True

    def save_session(self, app: Flask, session: SignedCookieSession, response: Response) -> None:
        """Keep the record in step with the cookie, then let Flask sign and set the cookie."""
        if session.store_error is not None:
            return
        user_id = dict.get(session, LOGIN_USER_KEY)
        try:
            if user_id is None and session.cookie_sid is not None:
                self.store.delete(session.cookie_sid, None)
            if self.should_set_cookie(app, session):
                self.activity.stamp(session)
                session.modified = True  # a touch must re-sign the cookie too
                if user_id is not None:
                    if self.SID_KEY not in session:
                        dict.__setitem__(session, self.SID_KEY, new_sid())
                    identity = dict.get(session, IDENTITY_KEY)
                    version = identity.get("v") if isinstance(identity, dict) else dict.get(session, PENDING_AUTHZ_KEY)
                    record = {LOGIN_USER_KEY: user_id, META_KEY: session[META_KEY], AUTHZ_KEY: version}
                    sid = session[self.SID_KEY]
                    existing = sid == session.cookie_sid
                    if not self.store.save(sid, encode(record), self.idle_timeout, user_id, must_exist=existing):
                        return  # ended while this request ran: do not re-sign a dead login
        except StoreUnavailable as error:
            self.answer_unavailable(app, response, error)
            return
        super().save_session(app, session, response)
