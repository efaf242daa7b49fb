"""JWT: keys, the token store, the JSON API, and (in jwt mode) the browser login on tokens.

The API is served in both auth modes, so API clients use bearer tokens
whichever way the browser logs in.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from ..clock import get_clock
from ..drivers import Connections, get_connections
from ..settings import Settings
from ..tasks import TaskList
from .keys import issuer_keys
from .service import Subject, TokenService
from .store import TokenStore

__all__ = ["init_app", "get_service", "build_token_store", "open_token_store", "load_subject", "Subject"]


def _memory(settings: Settings, connections: Connections) -> TokenStore:
    from .memory_store import MemoryTokenStore

    return MemoryTokenStore()


def _redis(settings: Settings, connections: Connections) -> TokenStore:
    from .redis_store import RedisTokenStore

    return RedisTokenStore(connections.redis())


def _memcached(settings: Settings, connections: Connections) -> TokenStore:
    from .memcached_store import MemcachedTokenStore

    return MemcachedTokenStore(connections.memcached(), settings.jwt_refresh_ttl)


def _sqlalchemy(settings: Settings, connections: Connections) -> TokenStore:
    from .sqlalchemy_store import SqlAlchemyTokenStore

    return SqlAlchemyTokenStore(connections.sql())


#: AUTHDEMO_TOKEN_STORE → the store of deny list, families and versions.
TOKEN_STORES: dict[str, Callable[[Settings, Connections], TokenStore]] = {
    "memory": _memory,
    "redis": _redis,
    "memcached": _memcached,
    "sqlalchemy": _sqlalchemy,
}
#: The token stores another process can share: the tasks service checks revocation only in these.
SHARED_TOKEN_STORES = ("redis", "memcached")


def open_token_store(settings: Settings, connections: Connections) -> TokenStore:
    """The token store named by AUTHDEMO_TOKEN_STORE, on the given connections (the tasks service has no app)."""
    return TOKEN_STORES[settings.token_store](settings, connections)


def build_token_store(settings: Settings, app: Flask) -> TokenStore:
    """The token store named by AUTHDEMO_TOKEN_STORE, on the app's connections."""
    store = open_token_store(settings, get_connections(app))
    store.clock = get_clock(app)
    return store


def init_app(app: Flask, settings: Settings) -> None:
    """Keys, store, service and the JSON API (the browser side is a login backend: see :mod:`authdemo.login`)."""
    from ..wire import instrument
    from . import api

    store = build_token_store(settings, app)
    service = TokenService(
        issuer_keys(settings),
        instrument(app, store, f"{store.name} tokens"),
        settings.jwt_access_ttl,
        settings.jwt_refresh_ttl,
        settings.jwt_leeway,
        get_clock(app),
    )
    service.on_event = _on_token_event
    app.extensions["authdemo_tokens"] = service
    app.extensions["authdemo_tasks"] = TaskList()
    app.register_blueprint(api.bp)


def _on_token_event(event_type: str, **fields) -> None:
    """The event log hears what the token service did; a reused refresh token leaves a tombstone too."""
    from .. import reasons
    from ..events import record

    record(event_type, **fields)
    if event_type == "refresh_reuse_detected" and current_app.extensions["authdemo_settings"].auth_mode == "jwt":
        reasons.bury([fields["session_key"]], reasons.REFRESH_REUSE)


def get_service(app: Flask | None = None) -> TokenService:
    """The app's TokenService."""
    return (app or current_app).extensions["authdemo_tokens"]


def load_subject(user_id: str) -> Subject | None:
    """Roles and permissions as the database holds them now (at login and at every refresh)."""
    from ..models import load_identity

    try:
        identity = load_identity(int(user_id))
    except (TypeError, ValueError):
        return None
    if identity is None:
        return None
    return Subject(
        user_id=identity.id,
        username=identity.username,
        roles=list(identity.role_names),
        permissions=sorted(identity.permission_names),
    )
