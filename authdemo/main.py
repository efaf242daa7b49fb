"""Home, the example protected page, and the health check."""

from __future__ import annotations

import ipaddress

from flask import Blueprint, current_app, jsonify, render_template, request, session
from flask_login import current_user

from .drivers import StoreUnavailable
from .login import get_login_backend
from .rbac import permission_required

bp = Blueprint("main", __name__)


SUMMARY = "authdemo_config_summary"
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL"}


def database_engine() -> str:
    """The app database's engine as people name it (SQLite, PostgreSQL), not only "sqlalchemy"."""
    from .extensions import db

    name = db.engine.dialect.name
    return ENGINE_NAMES.get(name, name)


@bp.app_context_processor
def config_summary():
    """What every page shows in its header: the auth mode and the store, fixed at start-up, so built once."""
    extensions = current_app.extensions
    if SUMMARY not in extensions:
        settings = extensions["authdemo_settings"]
        engine = database_engine()
        extensions[SUMMARY] = {
            "config_summary": {
                "auth_mode": settings.auth_mode,
                "session_backend": settings.session_backend,
                "token_store": settings.token_store,
                # What the header badge names: the session store, or in jwt mode the token store.
                "store_label": get_login_backend().label.format(engine=engine),
                "database_engine": engine,
                "wire": settings.wire,
                "access_ttl": settings.jwt_access_ttl,
                "store_description": store_description(settings, engine),
                "idle_timeout": settings.session_idle_timeout,
                "instance": settings.instance_name,
            }
        }
    return extensions[SUMMARY]


# What the bench measures (docs and /compare): the in-process dict is fastest; a SQLite lookup or write
# (a local file, no network) costs less than a Redis or Memcached round trip; PostgreSQL pays a round trip too.
STORE_DESCRIPTIONS = {
    "memory": "a dict inside this app process: the fastest (no round trip at all), lost on restart, "
    "not shared with a second process",
    "redis": "a Redis server shared by every app process: one network round trip per lookup; "
    "survives its restart only with persistence on",
    "memcached": "a Memcached server shared by every app process: one network round trip per lookup; "
    "keeps nothing on disk",
    "sqlalchemy": "rows in the app's database: survives every restart",
    "cookie": "the whole session in a signed cookie in your browser (~4 KB limit); "
    "a small database record per login makes logout real",
}
ENGINE_SPEED = {
    "SQLite": "a local file, no network: a lookup or a write costs less than a Redis or Memcached round trip",
    "PostgreSQL": "a database server: each lookup is a network round trip, as with Redis, and each write a commit",
}


def store_description(settings, engine: str) -> str:
    """The home page's sentence about the session store, with what the bench measures for its engine."""
    text = STORE_DESCRIPTIONS[settings.session_backend]
    if settings.session_backend == "sqlalchemy" and engine in ENGINE_SPEED:
        text += f"; on {engine}, {ENGINE_SPEED[engine]}"
    return text


@bp.route("/")
def index():
    """Who is logged in, and which auth mode and store are in use."""
    return render_template("main/index.html")


@bp.route("/reports")
@permission_required("reports.view")
def reports():
    """An example page that needs ``reports.view``."""
    return render_template("main/reports.html")


@bp.route("/healthz")
def healthz():
    """JSON: status (503 when the store is down); mode, backend and store figures for loopback or an admin."""
    settings = current_app.extensions["authdemo_settings"]
    backend = get_login_backend()
    store = {"name": backend.store.name, "ok": True}
    try:
        backend.store.ping()
        store.update(backend.store.stats())
    except StoreUnavailable as error:
        store.update(ok=False, error=str(error))
    if getattr(session, "store_error", None) is not None:
        store.update(ok=False, error=str(session.store_error))
    status = 200 if store["ok"] else 503
    if not _may_see_details():
        return jsonify(status="ok" if store["ok"] else "unavailable"), status
    body = {
        "status": "ok" if store["ok"] else "unavailable",
        "auth_mode": settings.auth_mode,
        "session_backend": settings.session_backend,
        "store": store,
        # Which app process answered: behind a load balancer, consecutive requests differ.
        "instance": settings.instance_name,
        "sessions_shared_between_instances": settings.session_backend != "memory",
        "database": {"engine": database_engine(), "holds": "users, roles, permissions"},
        "wire": "on" if settings.wire else "off",
    }
    if settings.auth_mode == "jwt":
        # In jwt mode no server-side session exists (session_backend is unused): say where each thing is.
        body["token_store"] = settings.token_store
        body["holds"] = {
            "browser": "the access and refresh tokens, in HttpOnly cookies; a small signed cookie with the CSRF secret",
            f"token store ({settings.token_store})": "revoked token ids (deny list), refresh-token families, "
            "each user's token version",
            f"database ({database_engine()})": "users, roles and permissions (read at login and at each refresh)",
        }
    return jsonify(body), status


def _may_see_details() -> bool:
    """Host name, pid and store figures only for a request from this machine (probes, the lab) or an admin."""
    try:
        if ipaddress.ip_address(request.remote_addr or "").is_loopback:
            return True
    except ValueError:
        pass
    try:
        return current_user.can("admin.access")
    except Exception:  # noqa: BLE001 - the store that holds the login may be the one that is down
        return False
