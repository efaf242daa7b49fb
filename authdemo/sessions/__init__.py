"""Pluggable session stores: pick one by name, wire it into the app.

The registry maps each AUTHDEMO_SESSION_BACKEND value to a factory that
imports its store lazily, so running on memory never imports redis. Clients
come from the driver layer (:mod:`authdemo.drivers`).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request, session

from ..clock import get_clock
from ..drivers import Connections, StoreUnavailable, get_connections
from ..settings import Settings
from .base import SessionStore
from .manager import SessionManager, get_manager

__all__ = ["SessionStore", "StoreUnavailable", "SessionManager", "get_manager", "init_app", "build_store", "STORES"]

# Endpoints that must answer even when the store does not: they report the outage.
STORE_INDEPENDENT_ENDPOINTS = {"main.healthz", "static"}


def _memory(settings: Settings, connections: Connections) -> SessionStore:
    from .memory import MemorySessionStore

    return MemorySessionStore(settings.memory_max_sessions)


def _redis(settings: Settings, connections: Connections) -> SessionStore:
    from .redis import RedisSessionStore

    return RedisSessionStore(connections.redis())


def _memcached(settings: Settings, connections: Connections) -> SessionStore:
    from .memcached import MemcachedSessionStore

    return MemcachedSessionStore(connections.memcached(), index_ttl=settings.session_idle_timeout)


def _sqlalchemy(settings: Settings, connections: Connections) -> SessionStore:
    from .sqlalchemy import SqlAlchemySessionStore

    return SqlAlchemySessionStore(connections.sql())


def _cookie_records(settings: Settings, connections: Connections) -> SessionStore:
    # The session itself is in the browser; the per-login records that make
    # logout real live in the database, through the sqlalchemy store.
    from .sqlalchemy import SqlAlchemySessionStore

    return SqlAlchemySessionStore(connections.sql(), name="cookie (login records in the database)")


#: AUTHDEMO_SESSION_BACKEND → the store (for ``cookie``, the store of per-login records).
STORES: dict[str, Callable[[Settings, Connections], SessionStore]] = {
    "memory": _memory,
    "redis": _redis,
    "memcached": _memcached,
    "sqlalchemy": _sqlalchemy,
    "cookie": _cookie_records,
}


def build_store(settings: Settings, app: Flask) -> SessionStore:
    """The store (or, for ``cookie``, the record store) named by the settings, on the app's connections."""
    store = STORES[settings.session_backend](settings, get_connections(app))
    store.clock = get_clock(app)
    return store


def init_app(app: Flask, settings: Settings) -> SessionManager:
    """Install the session interface for the configured backend and the outage guard; the login backend."""
    from ..wire import instrument
    from .activity import Activity

    # Wrapped once, here: every call the interface and the manager make shows on /account/wire.
    store = build_store(settings, app)
    store = instrument(app, store, "cookie records" if settings.session_backend == "cookie" else store.name)
    activity = Activity(settings.session_idle_timeout, settings.session_touch_interval, get_clock(app))
    if settings.session_backend == "cookie":
        from .signed_cookie import SignedCookieSessionInterface

        interface = SignedCookieSessionInterface(store, activity)
    else:
        from .server_side import StoreSessionInterface

        interface = StoreSessionInterface(store, activity)
    app.session_interface = interface
    # Registered before CSRF protection so an outage answers 503, not "CSRF token missing".
    app.before_request(_refuse_when_store_down)
    return SessionManager(settings.session_backend, store, interface)


def _refuse_when_store_down() -> None:
    error = getattr(session, "store_error", None)
    if error is not None and request.endpoint not in STORE_INDEPENDENT_ENDPOINTS:
        raise error
