"""Login, logout and log out everywhere (steps 1–4 of the cookie workflow)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from . import reasons
from .events import record, user_id_for
from .forms import LoginForm
from .login import get_login_backend
from .models import User

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None  # browsers read "/\\evil.example" as "//evil.example"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Check the credentials; on success rotate the session id, then store the user in it."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    error = None
    if form.validate_on_submit():
        user = User.authenticate(form.username.data, form.password.data)
        if user is not None:
            # Session mode: a new session id, then the user id in it (no fixation).
            # JWT mode: a new token family, its pair in HttpOnly cookies.
            backend = get_login_backend()
            backend.log_in(user)
            record("login_succeeded", user_id=user.id, username=user.username, session_key=backend.current_sid())
            return redirect(safe_next(form.next.data) or url_for("main.index"))
        # Same words whether the account does not exist or the password is wrong.
        error = "Invalid username or password."
        attempted = form.username.data or ""
        record("login_failed", user_id=user_id_for(attempted), username=attempted, detail="wrong username or password")
    elif request.method == "POST":
        error = "Please fill in both the username and the password."
    return render_template("auth/login.html", form=form, error=error)


def end_this_login(detail: str = "") -> None:
    """End this browser's login (session or token family), with its ``logout`` event."""
    backend = get_login_backend()
    if current_user.is_authenticated:
        record(
            "logout",
            user_id=current_user.get_id(),
            username=current_user.username,
            session_key=backend.current_sid(),
            detail=detail,
        )
    backend.end_current()


@bp.route("/logout", methods=["POST"])
def logout():
    """End this session: the server-side record is deleted, so a copy of the cookie is useless."""
    # CSRFProtect has already refused a POST without a valid token (400).
    end_this_login()
    flash("You are logged out.", "info")
    return redirect(url_for("main.index"))


@bp.route("/logout-all", methods=["GET"])
@login_required
def confirm_logout_all():
    """The confirm step before logging out everywhere (a page, so it works without JavaScript)."""
    count = len(reasons.live_handles(current_user.get_id()))
    return render_template(
        "auth/confirm.html",
        title="Log out everywhere?",
        question=f"Log out everywhere? This ends all {count} of your sessions, this one included.",
        details=[],
        explanation="Every device is logged out at its next request and told that you logged out everywhere.",
        action=url_for("auth.logout_all"),
        button="Log out everywhere",
        cancel=url_for("account.sessions"),
    )


@bp.route("/logout-all", methods=["POST"])
@login_required
def logout_all():
    """End every session of this user, on every device."""
    backend = get_login_backend()
    user_id, username, current = current_user.get_id(), current_user.username, backend.current_sid()
    reasons.bury(reasons.live_handles(user_id), reasons.LOGOUT_EVERYWHERE)
    ended = backend.end_all(user_id)
    backend.end_current()
    record("logout_everywhere", user_id=user_id, username=username, session_key=current, detail=f"{ended} ended")
    flash(f"Logged out everywhere: {ended} session(s) ended.", "info")
    return redirect(url_for("auth.login"))
