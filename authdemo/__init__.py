"""authdemo: web authentication with server-side sessions in five stores, side by side."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.globals import _cv_request

from .settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["create_app", "ConfigError"]


class AuthdemoFlask(Flask):
    """Flask, keeping two answers that never change instead of working them out on every request.

    Flask's ``ensure_sync`` runs ``inspect.iscoroutinefunction`` on each of the
    fifteen hooks and the view of every request; the answer never changes for
    a function, so it is kept (the documented override point for how hooks run).
    ``url_for`` keeps the path of an endpoint that takes no arguments: every page's
    navigation asks for a dozen, ~8 µs each (docs/performance.md).
    """

    # Paths kept per (endpoint, script root); the script root can come from a
    # proxy's header, so the table is bounded and past the bound Flask builds.
    PATHS_KEPT = 512

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._synchronous: dict[Callable, bool] = {}
        self._paths: dict[tuple[str, str], str] = {}

    def ensure_sync(self, func: Callable) -> Callable:
        target = getattr(func, "__func__", func)  # a bound method: its function, the same object every call
        if self._synchronous.get(target):
            return func
        wrapped = super().ensure_sync(func)
        if wrapped is func:
            self._synchronous[target] = True
        return wrapped

    def url_for(self, endpoint: str, /, *, _anchor=None, _method=None, _scheme=None, _external=None, **values) -> str:
        context = _cv_request.get(None)
        if (
            values
            or context is None
            or endpoint.startswith(".")
            or not (_anchor is _method is _scheme is _external is None)
        ):  # arguments, a relative endpoint, a full URL, or no request: Flask as it is
            return super().url_for(
                endpoint, _anchor=_anchor, _method=_method, _scheme=_scheme, _external=_external, **values
            )
        key = (endpoint, context.request.script_root)
        path = self._paths.get(key)
        if path is None:
            path = super().url_for(endpoint)
            if len(self._paths) < self.PATHS_KEPT and not any(self.url_default_functions.values()):
                self._paths[key] = path
        return path


def create_app(test_config: Mapping[str, str] | None = None, clock: Callable[[], float] | None = None) -> Flask:
    """Build the app from AUTHDEMO_* variables; ``test_config`` overrides them, ``clock`` replaces the time (tests)."""
    environ = {**os.environ, **(test_config or {})}
    settings = load_settings(environ)

    app = AuthdemoFlask(
        __name__,
        instance_path=settings.instance_path,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(_flask_config(settings))
    app.extensions["authdemo_settings"] = settings
    if clock is not None:
        app.extensions["authdemo_clock"] = clock

    from . import (
        account,
        admin,
        auth,
        cli,
        errors,
        events,
        experiments,
        forms,
        inspector,
        json_input,
        login,
        main,
        models,
        rbac,
        reasons,
        tokens,
        useragent,
    )
    from .extensions import csrf, db, login_manager, migrate

    json_input.init_app(app)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))  # `flask db …`; init-db upgrades
    _tune_database(app)
    tokens.init_app(app, settings)
    login.init_app(app, settings)  # sessions or token cookies; before CSRF: an outage must answer 503 first
    reasons.init_app(app)  # after the session or token check, before CSRF: a dead session's form is told why
    csrf.init_app(app)
    forms.init_csrf(app, csrf)
    login_manager.init_app(app)
    models.init_login(login_manager)
    errors.init_app(app)
    rbac.init_app(app)
    useragent.init_app(app)
    inspector.init_app(app)
    for blueprint in (main.bp, auth.bp, account.bp, admin.bp, experiments.bp):
        app.register_blueprint(blueprint)
    from .lab import views as lab_views  # the page only: reads results.json, imports no lab code

    app.register_blueprint(lab_views.bp)
    if settings.lab_routes:
        app.register_blueprint(lab_views.bench_bp)
    from . import webapp

    webapp.init_app(app)
    cli.init_app(app)
    events.init_app(app)
    from . import headers, proxy, ratelimit, wire

    headers.init_app(app, settings)
    wire.init_app(app)

    ratelimit.init_app(app, settings)  # after the blueprints: it wraps the login view
    proxy.init_app(app, settings)
    return app


def _flask_config(settings: Settings) -> dict:
    secure_cookies = settings.production
    return {
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(settings),
        # __Host-: browsers accept it only Secure, with Path=/ and no Domain, so no
        # subdomain or plain-http page can plant or overwrite the session cookie.
        "SESSION_COOKIE_NAME": "__Host-authdemo_session" if settings.production else "authdemo_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure_cookies,
        # The signed-cookie backend checks its signature's age against this: the idle timeout.
        "PERMANENT_SESSION_LIFETIME": timedelta(seconds=settings.session_idle_timeout),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session that holds it
        "WTF_CSRF_SSL_STRICT": True,
        "MAX_CONTENT_LENGTH": 64 * 1024,
    }


def _engine_options(settings: Settings) -> dict:
    if settings.database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 5}}
    # pre-ping replaces connections the database closed while it was down;
    # a short connect timeout turns an outage into a quick 503.
    return {
        "pool_pre_ping": True,
        "pool_size": 10,
        "connect_args": {"connect_timeout": max(1, int(settings.store_timeout))},
    }


def _tune_database(app: Flask) -> None:
    """SQLite in WAL mode: a session write costs ~0.05 ms instead of ~0.8 ms with the default journal."""
    from sqlalchemy import event

    from .extensions import db

    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode; only an OS
        # crash can lose the last transactions, which for sessions means a re-login.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
