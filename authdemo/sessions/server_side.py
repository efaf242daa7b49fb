"""Server-side sessions: a random id in the cookie, the session's bytes in any SessionStore.

Only a login is stored. An anonymous visitor's session (the login form's CSRF
secret, a flash message) travels signed in the cookie itself, so no number
of anonymous requests adds an entry to the store.

The logged-in user's identity (id, name, roles, permissions) is in the
session, written at login: a logged-in request is one store round trip and
no database query. An admin's change rewrites it in every session of the
user through the per-user index (``SessionManager.update_identity``).
"""

from __future__ import annotations

from flask import Flask, Request, Response, request
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSession, SessionInterface
from itsdangerous import BadSignature, URLSafeSerializer

from ..drivers import StoreUnavailable
from .activity import Activity
from .base import SessionStore
from .codec import IDENTITY_KEY, LOGIN_USER_KEY, META_KEY, SID_PATTERN, decode, encode, new_authz_version, new_sid
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
        self._anonymous: dict[str, URLSafeSerializer] = {}

    def _anonymous_serializer(self, app: Flask) -> URLSafeSerializer:
        """Signs anonymous sessions; built once per key (building one derives the key)."""
        serializer = self._anonymous.get(app.secret_key)
        if serializer is None:
            serializer = URLSafeSerializer(
                app.secret_key, salt="authdemo-anonymous-session", serializer=TaggedJSONSerializer()
            )
            self._anonymous[app.secret_key] = serializer
        return serializer

    def current_sid(self, session) -> str:
        """The id the store and the sessions page know this session by."""
        return session.sid

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        """Load the session named by the cookie; unknown, expired or forged ids start a fresh one.

        A logged-in cookie is a session id (one store lookup); an anonymous
        one is the signed session itself (no lookup).
        """
        cookie = request.cookies.get(self.get_cookie_name(app), "")
        if not SID_PATTERN.fullmatch(cookie):
            return self._fresh(self._anonymous_data(app, cookie))
        try:
            raw = self.store.load(cookie)
        except StoreUnavailable as error:
            return self._fresh(store_error=error)
        data = decode(raw) if raw is not None else None
        if data is None:
            return self._fresh()
        return self.session_class(data, sid=cookie, cookie_sid=cookie)

    def _anonymous_data(self, app: Flask, cookie: str) -> dict | None:
        if not cookie:
            return None
        try:
            data = self._anonymous_serializer(app).loads(cookie)
        except BadSignature:
            return None
        # A user id never comes from an anonymous cookie: only a stored session holds one.
        return data if isinstance(data, dict) and LOGIN_USER_KEY not in data else None

    def _fresh(self, data: dict | None = None, store_error: StoreUnavailable | None = None) -> ServerSideSession:
        session = self.session_class(data, sid=new_sid())
        session.store_error = store_error
        return session

    def updated_record(self, data: dict, identity) -> dict:
        """A stored session of the user, with the identity an admin's change left."""
        return {**data, IDENTITY_KEY: identity.as_record(new_authz_version())}

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
            self.vary_on_cookie(response)
        try:
            if dict.get(session, LOGIN_USER_KEY) is None:
                if session.cookie_sid is not None:  # a stored session that lost its user: not kept
                    self.store.delete(session.cookie_sid, None)
                self._save_anonymous(app, session, response)
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
            self.vary_on_cookie(response)

    def _save_anonymous(self, app: Flask, session: ServerSideSession, response: Response) -> None:
        """An anonymous session goes out signed in the cookie (or the cookie goes, when it is empty)."""
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        data = {key: value for key, value in dict.items(session) if key != "_permanent"}
        if not data:
            if request.cookies.get(name) is not None:
                response.delete_cookie(name, domain=domain, path=path)
            return
        if not session.modified and session.cookie_sid is None and request.cookies.get(name) is not None:
            return  # unchanged, and the browser holds it already
        response.set_cookie(
            name,
            self._anonymous_serializer(app).dumps(data),
            httponly=self.get_cookie_httponly(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
            domain=domain,
            path=path,
        )
        self.vary_on_cookie(response)
