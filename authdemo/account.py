"""The account page with its inspector, and the list of active sessions."""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from . import events
from .events import record
from .forms import ConfirmForm
from .sessions import get_manager
from .sessions.codec import decode
from .tokens import get_service
from .tokens.browser import cookie_names
from .tokens.tamper import TAMPERS, tamper
from .tokens.verify import InvalidToken, unverified_parts

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.after_request
def _no_store(response):
    """These pages show session contents: no cache may keep a copy."""
    response.headers["Cache-Control"] = "no-store"
    return response


COOKIE_LIMIT = 4096  # bytes a browser keeps per cookie (name, value and attributes)
SECRET_FIELDS = {"csrf_token"}


def redact(data: dict | None) -> dict | None:
    """A copy fit for display: the CSRF secret stays out of the page."""
    if data is None:
        return None
    return {key: ("(secret, not shown)" if key in SECRET_FIELDS else value) for key, value in data.items()}


@bp.route("")
@login_required
def account():
    """User, roles, permissions, and what the browser and the server each hold for this session."""
    if current_app.extensions["authdemo_settings"].auth_mode == "jwt":
        return _token_account()
    manager = get_manager()
    cookie_name = current_app.config["SESSION_COOKIE_NAME"]
    cookie_value = request.cookies.get(cookie_name, "")
    sid = manager.current_sid()
    raw = manager.store.load(sid) if sid else None
    return render_template(
        "account/account.html",
        backend=manager.backend,
        store=manager.store,
        cookie_name=cookie_name,
        cookie_value=cookie_value,
        cookie_size=len(cookie_name) + 1 + len(cookie_value),
        cookie_limit=COOKIE_LIMIT,
        session_contents=redact(dict(session)),
        server_record=redact(decode(raw)) if raw is not None else None,
        server_record_size=len(raw) if raw is not None else 0,
        form=ConfirmForm(),
    )


@bp.route("/sessions")
@login_required
def sessions():
    """Every active session of this user, with a button to end each."""
    manager = get_manager()
    return render_template(
        "account/sessions.html",
        sessions=manager.list_for_user(current_user.get_id(), manager.current_sid()),
        backend=manager.backend,
        form=ConfirmForm(),
    )


@bp.route("/sessions/<handle>/revoke", methods=["POST"])
@login_required
def revoke(handle: str):
    """End one session of this user; ending the current one logs out here."""
    manager = get_manager()
    sid = manager.current_sid()
    user_id, username = current_user.get_id(), current_user.username
    if sid and manager.is_handle(sid, handle):
        record("logout", user_id=user_id, username=username, session_key=sid, detail="from the sessions page")
        manager.end_current()
        flash("This session has ended; you are logged out.", "info")
        return redirect(url_for("auth.login"))
    if manager.end(user_id, handle):
        record("session_ended", user_id=user_id, username=username, session_key=sid, detail=f"ended {handle}")
        flash("The session has ended.", "info")
    else:
        flash("No such session (it may have ended already).", "warning")
    return redirect(url_for("account.sessions"))


@bp.route("/activity")
@login_required
def activity():
    """This user's own auth events: logins (failed ones too), logouts, sessions ended, tokens."""
    return render_template("account/activity.html", events=events.query(user_id=current_user.get_id(), limit=100))


def _current_access_token() -> str:
    pair = g.get("new_pair")
    return pair.access_token if pair is not None else request.cookies.get(cookie_names()[0], "")


def _token_account(tampered: str | None = None, tamper_choice: str | None = None, verdict: str | None = None):
    """JWT mode: the access token decoded (header, payload, signature), its expiry, and the tamper demo."""
    token = _current_access_token()
    header, payload = unverified_parts(token)
    parts = token.split(".")
    return render_template(
        "account/tokens.html",
        token=token,
        parts=parts,
        header=header,
        payload=payload,
        cookie_name=cookie_names()[0],
        token_size=len(cookie_names()[0]) + 1 + len(token),
        cookie_limit=COOKIE_LIMIT,
        seconds_left=max(0, payload["exp"] - int(time.time())),
        algorithm=get_service().keys.algorithm,
        tampers={key: label for key, (label, _) in TAMPERS.items()},
        tampered=tampered,
        tamper_choice=tamper_choice,
        verdict=verdict,
        form=ConfirmForm(),
    )


@bp.route("/tamper", methods=["POST"])
@login_required
def tamper_token():
    """Change this browser's token as an attacker would and show how the server answers."""
    if current_app.extensions["authdemo_settings"].auth_mode != "jwt":
        abort(404)
    choice = request.form.get("change", "")
    if choice not in TAMPERS:
        abort(400, description="Choose one of the listed changes.")
    tampered = tamper(_current_access_token(), choice)
    try:
        get_service().verify(tampered, "access")
        verdict = "ACCEPTED — this would be a vulnerability."
    except InvalidToken as error:
        verdict = f"Refused with 401: {error.reason}."
    return _token_account(tampered, choice, verdict)
