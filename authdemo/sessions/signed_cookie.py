"""Flask's signed-cookie sessions, with a server-side record per login so that logout is real."""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from ..drivers import StoreUnavailable
from .activity import Activity
from .base import SessionStore
from .codec import LOGIN_USER_KEY, META_KEY, SID_PATTERN, encode, new_sid
from .cookies import StoreBackedCookies


class SignedCookieSession(SecureCookieSession):
    """Flask's signed-cookie session, plus what the record check needs."""

    store_error: StoreUnavailable | None = None
    cookie_sid: str | None = None


class SignedCookieSessionInterface(StoreBackedCookies, SecureCookieSessionInterface):
    """Flask's signed cookie holds the whole session; a server-side record per login makes logout real.

    Without the record a copy of the cookie taken before logout would stay
    valid until it expires: the signature proves only that the server wrote
    it once. The record costs one indexed database read per logged-in request.
    """

    session_class = SignedCookieSession
    SID_KEY = "_sid"

    def __init__(self, record_store: SessionStore, activity: Activity):
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
                    record = {LOGIN_USER_KEY: user_id, META_KEY: session[META_KEY]}
                    sid = session[self.SID_KEY]
                    existing = sid == session.cookie_sid
                    if not self.store.save(sid, encode(record), self.idle_timeout, user_id, must_exist=existing):
                        return  # ended while this request ran: do not re-sign a dead login
        except StoreUnavailable as error:
            self.answer_unavailable(app, response, error)
            return
        super().save_session(app, session, response)
