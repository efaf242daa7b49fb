"""/experiments: guided experiments for the store and mode in use, with buttons that run them for real.

Each button does the thing on this site and shows the answers it got: the
stolen-cookie replay is a real HTTP request from the app to itself over
loopback, carrying a copy of the browser's cookie taken before logging it
out. Cookie and token values never reach the page: only masked (first
characters and length).
"""

from __future__ import annotations

import http.client
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from .access import identity_changed
from .auth import end_this_login
from .events import record
from .extensions import db
from .lab import results
from .login import COOKIE_LIMIT
from .models import User
from .wire import mask

bp = Blueprint("experiments", __name__, url_prefix="/experiments")

REPLAY_TIMEOUT = 5.0
PADDING_KEY = "experiment_padding"
PADDING_BYTES = 5000


@bp.after_request
def _no_store(response):
    """Results describe this browser's credentials: no cache keeps them."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _settings():
    return current_app.extensions["authdemo_settings"]


def _credential_cookies() -> dict[str, str]:
    """The cookies that log this browser in (session cookie, or the access and refresh token cookies)."""
    settings = _settings()
    if settings.auth_mode == "jwt":
        from .tokens.browser import cookie_names

        names = cookie_names()
    else:
        names = (current_app.config["SESSION_COOKIE_NAME"],)
    return {name: request.cookies[name] for name in names if name in request.cookies}


def _self_address() -> tuple[str, int]:
    """This process's own listening socket, on loopback (the app asks itself, never another host)."""
    port = int(request.environ.get("SERVER_PORT") or 80)
    return "127.0.0.1", port


def replay(path: str, cookies: dict[str, str], headers: dict[str, str] | None = None) -> dict:
    """GET ``path`` from this very app over loopback HTTP with the given cookies; status and Location, or the error."""
    host, port = _self_address()
    connection = http.client.HTTPConnection(host, port, timeout=REPLAY_TIMEOUT)
    sent = {"Host": request.host, "User-Agent": "authdemo experiment (replay)"}
    if cookies:
        sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    sent.update(headers or {})
    try:
        connection.request("GET", path, headers=sent)
        answer = connection.getresponse()
        answer.read()
        return {
            "address": f"http://{host}:{port}{path}",
            "status": answer.status,
            "location": answer.getheader("Location") or "",
            "error": "",
        }
    except (OSError, http.client.HTTPException) as error:
        return {
            "address": f"http://{host}:{port}{path}",
            "status": None,
            "location": "",
            "error": f"{type(error).__name__}: {error}. A server that handles one request at a time cannot answer "
            "itself: run it with threads (make run does).",
        }
    finally:
        connection.close()


def _restart_rows() -> tuple[list[dict], bool]:
    """The measured restart matrix rows for this mode and store (and whether any matrix exists)."""
    settings = _settings()
    data = results.load(results.results_dir(current_app.instance_path))
    rows = data.get("restart") or []
    store = settings.session_backend if settings.auth_mode == "session" else settings.token_store
    mine = [row for row in rows if row.get("mode") == settings.auth_mode and row.get("store") == store]
    return mine, bool(rows)


@bp.route("")
def index():
    """The experiments for the store and mode in use."""
    from .lab.views import EVENT_TITLES, restart_why

    rows, any_results = _restart_rows()
    settings = _settings()
    store = settings.session_backend if settings.auth_mode == "session" else settings.token_store
    return render_template(
        "experiments/index.html",
        rows=rows,
        any_results=any_results,
        event_titles=EVENT_TITLES,
        why=restart_why(settings.auth_mode, store, rows[0].get("variant", "") if rows else ""),
        store=store,
        mode=settings.auth_mode,
        cookie_limit=COOKIE_LIMIT,
        tasks_url=settings.tasks_url,
    )


@bp.route("/steal-cookie", methods=["POST"])
@login_required
def steal_cookie():
    """Keep a copy of this browser's cookie, log the browser out, replay the copy, show the answer."""
    stolen = _credential_cookies()
    if not stolen:
        abort(400, description="This browser sent no login cookie to copy.")
    before = replay("/account", stolen)  # the control: the copy works while the login lives
    end_this_login(detail="the steal-my-cookie experiment")
    after = replay("/account", stolen)
    settings = _settings()
    return render_template(
        "experiments/steal.html",
        masked={name: mask(value) for name, value in stolen.items()},
        before=before,
        after=after,
        mode=settings.auth_mode,
        store=settings.session_backend if settings.auth_mode == "session" else settings.token_store,
    )


@bp.route("/token-at-tasks", methods=["POST"])
@login_required
def token_at_tasks():
    """JWT mode: log out, then present the old access token to the tasks service."""
    settings = _settings()
    if settings.auth_mode != "jwt":
        abort(404)
    from .tokens.browser import cookie_names

    token = request.cookies.get(cookie_names()[0], "")
    if not token:
        abort(400, description="This browser holds no access token.")
    end_this_login(detail="the token-at-the-tasks-service experiment")
    tasks_url = settings.tasks_url or "http://127.0.0.1:5001"
    answer = _ask_tasks(tasks_url, token)
    at_app = replay("/api/me", {}, {"Authorization": f"Bearer {token}"})
    return render_template(
        "experiments/tasks.html",
        masked=mask(token),
        tasks_url=tasks_url,
        answer=answer,
        at_app=at_app,
        token_store=settings.token_store,
    )


def _ask_tasks(base: str, token: str) -> dict:
    """GET /tasks at the tasks service (on loopback only) with the token."""
    parts = urlsplit(base)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or parts.scheme != "http":
        return {"status": None, "error": f"{base} is not a loopback http:// address; the site only asks itself."}
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=REPLAY_TIMEOUT)
    try:
        connection.request("GET", "/tasks", headers={"Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        answer.read()
        return {"status": answer.status, "error": ""}
    except (OSError, http.client.HTTPException) as error:
        return {
            "status": None,
            "error": f"the tasks service at {base} did not answer ({type(error).__name__}). Start it with: "
            ".venv/bin/flask --app authdemo.tasks_api run --port 5001",
        }
    finally:
        connection.close()


@bp.route("/role-change", methods=["POST"])
@login_required
def role_change():
    """Take this user's roles away for a moment, ask /reports with the browser's cookie, then give them back."""
    user = db.session.get(User, int(current_user.get_id())) or abort(404)
    stolen = _credential_cookies()
    if _settings().auth_mode == "jwt":
        # The access token alone: a replayed refresh token would rotate, and this browser's own copy would then
        # count as reused (and end the login).
        from .tokens.browser import cookie_names

        stolen = {name: value for name, value in stolen.items() if name == cookie_names()[0]}
    roles, grants = list(user.roles), list(user.direct_permissions)
    before = replay("/reports", stolen)
    user.roles, user.direct_permissions = [], []
    db.session.commit()
    identity_changed(str(user.id))  # what the admin page does after a change: sessions rewritten, tokens stale
    record(
        "roles_changed",
        user_id=user.id,
        username=user.username,
        detail="experiment: every role removed",
    )
    try:
        during = replay("/reports", stolen)
    finally:
        user = db.session.get(User, user.id)
        user.roles, user.direct_permissions = roles, grants
        db.session.commit()
        identity_changed(str(user.id))
        record(
            "roles_changed",
            user_id=user.id,
            username=user.username,
            detail="experiment: roles restored",
        )
    after = replay("/reports", stolen)
    settings = _settings()
    return render_template(
        "experiments/roles.html",
        before=before,
        during=during,
        after=after,
        mode=settings.auth_mode,
        roles=[role.name for role in roles],
        access_ttl=settings.jwt_access_ttl,
    )


@bp.route("/grow-cookie", methods=["POST"])
@login_required
def grow_cookie():
    """Signed-cookie store: put 5 KB into the session, so its cookie outgrows what a browser keeps."""
    if _settings().session_backend != "cookie" or _settings().auth_mode != "session":
        abort(404)
    # Random, so the signed cookie's zlib step cannot shrink it back under the limit.
    session[PADDING_KEY] = secrets.token_urlsafe(PADDING_BYTES * 3 // 4)
    return redirect(url_for("experiments.grown_cookie", sent=1))


@bp.route("/grow-cookie")
@login_required
def grown_cookie():
    """What came back: did the browser keep the oversized cookie? Then shrink the session again."""
    if _settings().session_backend != "cookie" or _settings().auth_mode != "session":
        abort(404)
    name = current_app.config["SESSION_COOKIE_NAME"]
    received = request.cookies.get(name, "")
    kept = PADDING_KEY in session
    session.pop(PADDING_KEY, None)
    return render_template(
        "experiments/grow.html",
        sent=request.args.get("sent") == "1",
        kept=kept,
        received_size=len(name) + 1 + len(received),
        cookie_limit=COOKIE_LIMIT,
        padding=PADDING_BYTES,
    )
