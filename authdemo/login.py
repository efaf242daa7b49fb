"""The login backend: what the pages need from "being logged in", whichever way the browser holds it.

Two implementations, chosen by AUTHDEMO_AUTH_MODE and registered once at
start-up: :class:`~authdemo.sessions.manager.SessionManager` (a server-side
session, or a signed cookie with a login record) and
:class:`~authdemo.tokens.browser.BrowserTokens` (access and refresh tokens in
HttpOnly cookies). Views talk to the protocol only, so none of them asks
which mode is on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask import Flask, current_app

from .settings import Settings

EXTENSION = "authdemo_login"
#: Bytes a browser keeps per cookie (name, value and attributes): the inspectors show how close a login comes.
COOKIE_LIMIT = 4096


@dataclass(frozen=True)
class LoginInfo:
    """One active login (a session, or a token family) as the sessions page and the CLI show it."""

    handle: str
    created: datetime
    last_seen: datetime
    ip: str
    user_agent: str
    current: bool


class Store(Protocol):
    """What /healthz and ``sessions purge`` ask of the store behind a login backend."""

    name: str
    native_expiry: bool

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    def stats(self) -> dict:
        """Store-specific figures."""

    def clear_expired(self) -> int:
        """Remove expired entries; return how many."""


class LoginBackend(Protocol):
    """Who is logged in, their logins, ending one or all of them, and what the inspector shows."""

    #: The session backend's name, or "jwt": what the pages and the CLI call it.
    backend: str
    #: What the header badge names; ``{engine}`` stands for the database engine (SQLite, PostgreSQL).
    label: str
    #: Where this backend's logins live.
    store: Store
    #: The account page's inspector for this backend.
    inspector_template: str

    def log_in(self, user) -> None:
        """Start a new login for ``user`` on this browser (a new id or family: no fixation)."""

    def current_sid(self) -> str | None:
        """The store's id of this request's login (a session id, or a token family id)."""

    def is_handle(self, sid: str, handle: str) -> bool:
        """Whether the public ``handle`` names the login ``sid``."""

    def list_for_user(self, user_id: str, current_sid: str | None = None) -> list[LoginInfo]:
        """The user's live logins, newest activity first."""

    def end(self, user_id: str, handle: str) -> bool:
        """End one of the user's logins by its handle; False if it is not theirs."""

    def end_all(self, user_id: str) -> int:
        """End every login of the user (log out everywhere); return how many."""

    def end_current(self) -> None:
        """Log this browser out."""

    def update_identity(self, user_id: str, identity) -> int:
        """An admin changed the user's roles or grants: every live login sees it on its next request; how many."""

    def purge(self) -> int:
        """Remove expired logins from a store that does not expire them itself."""

    def describe(self) -> dict:
        """What the browser and the server hold for this login: the inspector template's variables."""


def _sessions(app: Flask, settings: Settings) -> LoginBackend:
    from . import sessions

    return sessions.init_app(app, settings)


def _tokens(app: Flask, settings: Settings) -> LoginBackend:
    from .tokens import browser, get_service

    return browser.init_app(app, get_service(app))


#: AUTHDEMO_AUTH_MODE → installs the backend's request hooks and returns it.
BACKENDS: dict[str, Callable[[Flask, Settings], LoginBackend]] = {"session": _sessions, "jwt": _tokens}


def init_app(app: Flask, settings: Settings) -> None:
    """Install the login backend of the configured auth mode (after the token service, before CSRF)."""
    app.extensions[EXTENSION] = BACKENDS[settings.auth_mode](app, settings)


def get_login_backend(app: Flask | None = None) -> LoginBackend:
    """The app's login backend."""
    return (app or current_app).extensions[EXTENSION]
