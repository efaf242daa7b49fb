"""Pluggable session stores: pick one by name, wire it into the app.

The registry maps each AUTHDEMO_SESSION_BACKEND value to a factory that
imports its driver lazily, so running on memory never imports redis.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, request, session

from ..settings import Settings
from .base import SessionStore, StoreUnavailable
from .manager import SessionManager, get_manager

__all__ = ["SessionStore", "StoreUnavailable", "SessionManager", "get_manager", "init_app", "build_store"]

# Endpoints that must answer even when the store does not: they report the outage.
STORE_INDEPENDENT_ENDPOINTS = {"main.healthz", "static"}


def _memory(settings: Settings, app: Flask) -> SessionStore:
    from .memory import MemorySessionStore

    return MemorySessionStore(settings.memory_max_sessions)


def _redis(settings: Settings, app: Flask) -> SessionStore:
    from ..clients import redis_client
    from .redis import RedisSessionStore

    return RedisSessionStore(redis_client(settings.redis_url, settings.store_timeout))


def _memcached(settings: Settings, app: Flask) -> SessionStore:
    from ..clients import memcached_client
    from .memcached import MemcachedSessionStore

    client = memcached_client(settings.memcached_servers, settings.store_timeout)
    return MemcachedSessionStore(client, index_ttl=settings.session_idle_timeout)


def _sqlalchemy(settings: Settings, app: Flask, name: str = "sqlalchemy") -> SessionStore:
    from ..extensions import db
    from .sqlalchemy import SqlAlchemySessionStore

    with app.app_context():
        return SqlAlchemySessionStore(db.engine, name)


def _cookie_records(settings: Settings, app: Flask) -> SessionStore:
    # The session itself is in the browser; the per-login records that make
    # logout real live in the database, through the sqlalchemy store.
    return _sqlalchemy(settings, app, name="cookie (login records in the database)")


STORES: dict[str, Callable[[Settings, Flask], SessionStore]] = {
    "memory": _memory,
    "redis": _redis,
    "memcached": _memcached,
    "sqlalchemy": _sqlalchemy,
    "cookie": _cookie_records,
}


def build_store(settings: Settings, app: Flask) -> SessionStore:
    """The store (or, for ``cookie``, the record store) named by the settings."""
    return STORES[settings.session_backend](settings, app)


def init_app(app: Flask, settings: Settings) -> None:
    """Install the session interface for the configured backend and the outage guard."""
    from .interface import SignedCookieSessionInterface, StoreSessionInterface

    store = build_store(settings, app)
    if settings.session_backend == "cookie":
        interface = SignedCookieSessionInterface(store, settings.session_idle_timeout, settings.session_touch_interval)
    else:
        interface = StoreSessionInterface(app, store, settings.session_idle_timeout, settings.session_touch_interval)
    app.session_interface = interface
    app.extensions["authdemo_sessions"] = SessionManager(settings.session_backend, store, interface)
    # Registered before CSRF protection so an outage answers 503, not "CSRF token missing".
    app.before_request(_refuse_when_store_down)


def _refuse_when_store_down() -> None:
    error = getattr(session, "store_error", None)
    if error is not None and request.endpoint not in STORE_INDEPENDENT_ENDPOINTS:
        raise error
