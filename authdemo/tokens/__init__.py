"""JWT: keys, the token store, the JSON API, and (in jwt mode) the browser login on tokens.

The API is served in both auth modes, so API clients use bearer tokens
whichever way the browser logs in.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from ..settings import Settings
from .keys import issuer_keys
from .service import Subject, TokenService
from .store import TokenStore

__all__ = ["init_app", "get_service", "build_token_store", "load_subject", "Subject"]


def _memory(settings: Settings, app: Flask) -> TokenStore:
    from .memory_store import MemoryTokenStore

    return MemoryTokenStore()


def _redis(settings: Settings, app: Flask) -> TokenStore:
    from ..clients import redis_client
    from .redis_store import RedisTokenStore

    return RedisTokenStore(redis_client(settings.redis_url, settings.store_timeout))


def _memcached(settings: Settings, app: Flask) -> TokenStore:
    from ..clients import memcached_client
    from .memcached_store import MemcachedTokenStore

    return MemcachedTokenStore(
        memcached_client(settings.memcached_servers, settings.store_timeout), settings.jwt_refresh_ttl
    )


def _sqlalchemy(settings: Settings, app: Flask) -> TokenStore:
    from ..extensions import db
    from .sqlalchemy_store import SqlAlchemyTokenStore

    with app.app_context():
        return SqlAlchemyTokenStore(db.engine)


TOKEN_STORES: dict[str, Callable[[Settings, Flask], TokenStore]] = {
    "memory": _memory,
    "redis": _redis,
    "memcached": _memcached,
    "sqlalchemy": _sqlalchemy,
}


def build_token_store(settings: Settings, app: Flask) -> TokenStore:
    """The token store named by AUTHDEMO_TOKEN_STORE."""
    return TOKEN_STORES[settings.token_store](settings, app)


def init_app(app: Flask, settings: Settings) -> None:
    """Keys, store, service and the API; the browser side too when AUTHDEMO_AUTH_MODE=jwt."""
    from . import api

    service = TokenService(
        issuer_keys(settings),
        build_token_store(settings, app),
        settings.jwt_access_ttl,
        settings.jwt_refresh_ttl,
        settings.jwt_leeway,
    )
    from ..events import record

    service.on_event = record
    app.extensions["authdemo_tokens"] = service
    app.register_blueprint(api.bp)
    if settings.auth_mode == "jwt":
        from . import browser

        browser.init_app(app, service)


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
