"""Server-side sessions: a random id in the cookie, the session's bytes in any SessionStore."""

from __future__ import annotations

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SessionInterface

from ..drivers import StoreUnavailable
from .activity import Activity
from .base import SessionStore
from .codec import LOGIN_USER_KEY, META_KEY, SID_PATTERN, decode, encode, new_sid
from .cookies import StoreBackedCookies


class ServerSideSession(SecureCookieSession):
    """A session dict that tracks changes and reads, plus the ids the interface needs.

    ``sid`` is the id this session will be saved under; ``cookie_sid`` the id
    the browser sent (None for a new session), so a change of id is a rotation.
    """

    def __init__(self, initial=None, sid: str = "", cookie_sid: str | None = None):
        super().__init__(initial)
        self.sid = sid
        self.cookie_sid = cookie_sid
        self.store_error: StoreUnavailable | None = None


class StoreSessionInterface(StoreBackedCookies, SessionInterface):
    """Server-side sessions in any SessionStore, keyed by a random id in the cookie."""

    session_class = ServerSideSession

    def __init__(self, store: SessionStore, activity: Activity):
        self.store = store
        self.activity = activity
        self.idle_timeout = activity.idle_timeout

    def current_sid(self, session) -> str:
        """The id the store and the sessions page know this session by."""
        return session.sid

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
        return self.session_class(data, sid=cookie_sid, cookie_sid=cookie_sid)

    def _fresh(self, store_error: StoreUnavailable | None = None) -> ServerSideSession:
        session = self.session_class(sid=new_sid())
        session.store_error = store_error
        return session

    def regenerate(self, session: ServerSideSession) -> None:
        """Give the session a new id and delete the old record (login, logout: no fixation)."""
        if session.cookie_sid is not None:
            self.store.delete(session.cookie_sid, dict.get(session, LOGIN_USER_KEY))
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
            if not session.modified and not self.activity.touch_due(session):
                return
            self.activity.stamp(session)
            existing = session.sid == session.cookie_sid
            saved = self.store.save(
                session.sid,
                encode(dict(session)),
                self.idle_timeout,
                dict.get(session, LOGIN_USER_KEY),
                must_exist=existing,
            )
        except StoreUnavailable as error:
            self.answer_unavailable(app, response, error)
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
