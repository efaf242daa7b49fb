"""The account page with its inspector, the list of active logins, and the user's own activity."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from . import events, reasons
from .events import record
from .forms import ConfirmForm
from .login import get_login_backend
from .useragent import browser_name

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.after_request
def _no_store(response):
    """These pages show session contents: no cache may keep a copy."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("")
@login_required
def account():
    """User, roles, permissions; one column for what the browser holds, one for what the server holds."""
    backend = get_login_backend()
    return render_template(backend.inspector_template, **backend.describe(), form=ConfirmForm())


@bp.route("/sessions")
@login_required
def sessions():
    """Every active session of this user, with a button to end each."""
    backend = get_login_backend()
    return render_template(
        "account/sessions.html",
        sessions=backend.list_for_user(current_user.get_id(), backend.current_sid()),
        backend=backend.backend,
        form=ConfirmForm(),
    )


@bp.route("/sessions/<handle>/revoke", methods=["GET"])
@login_required
def confirm_revoke(handle: str):
    """The confirm step before ending a session (a page, so it works without JavaScript)."""
    manager = get_login_backend()
    found = [s for s in manager.list_for_user(current_user.get_id(), manager.current_sid()) if s.handle == handle]
    if not found:
        flash("No such session (it may have ended already).", "warning")
        return redirect(url_for("account.sessions"))
    info = found[0]
    what = "this browser's session: you will be logged out here" if info.current else "that session"
    return render_template(
        "auth/confirm.html",
        title="End a session?",
        question=f"End {what}?",
        details=[
            ("Browser", browser_name(info.user_agent)),
            ("Address", info.ip or "unknown"),
            ("Last seen", info.last_seen.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("Session", handle),
        ],
        explanation="The device that holds it is logged out at its next request, and is told why.",
        action=url_for("account.revoke", handle=handle),
        button="End the session",
        cancel=url_for("account.sessions"),
    )


@bp.route("/sessions/<handle>/revoke", methods=["POST"])
@login_required
def revoke(handle: str):
    """End one session of this user; ending the current one logs out here."""
    backend = get_login_backend()
    sid = backend.current_sid()
    user_id, username = current_user.get_id(), current_user.username
    if sid and backend.is_handle(sid, handle):
        record("logout", user_id=user_id, username=username, session_key=sid, detail="from the sessions page")
        backend.end_current()
        flash("This session has ended; you are logged out.", "info")
        return redirect(url_for("auth.login"))
    if backend.end(user_id, handle):
        record("session_ended", user_id=user_id, username=username, session_key=sid, detail=f"ended {handle}")
        reasons.bury([handle], reasons.ENDED_ELSEWHERE)
        flash("The session has ended.", "info")
    else:
        flash("No such session (it may have ended already).", "warning")
    return redirect(url_for("account.sessions"))


@bp.route("/activity")
@login_required
def activity():
    """This user's own auth events: logins (failed ones too), logouts, sessions ended, tokens."""
    return render_template("account/activity.html", events=events.query(user_id=current_user.get_id(), limit=100))
