"""The admin page: users, roles and permissions, and changing a user's roles."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from . import events
from .access import delete_account, disable_account, identity_changed
from .events import record
from .extensions import db
from .forms import ConfirmForm, UserAccessForm
from .models import Permission, Role, User
from .rbac import permission_required

bp = Blueprint("admin", __name__, url_prefix="/admin")
MAX_ID = 2**63 - 1  # the largest BIGINT; SQLite raises OverflowError past it


def _access_form(user: User, roles: list[Role], permissions: list[Permission]) -> UserAccessForm:
    form = UserAccessForm(prefix=f"user{user.id}")
    form.roles.choices = [(role.name, role.name) for role in roles]
    form.permissions.choices = [(p.name, p.name) for p in permissions]
    return form


def _all_roles_and_permissions() -> tuple[list[Role], list[Permission]]:
    roles = db.session.scalars(db.select(Role).order_by(Role.name).options(selectinload(Role.permissions))).all()
    permissions = db.session.scalars(db.select(Permission).order_by(Permission.name)).all()
    return list(roles), list(permissions)


@bp.route("")
@permission_required("admin.access")
def index():
    """Every user with roles and effective permissions; every role with its permissions."""
    roles, permissions = _all_roles_and_permissions()
    users = db.session.scalars(
        db.select(User).order_by(User.username).options(selectinload(User.roles), selectinload(User.direct_permissions))
    ).all()
    forms = {}
    for user in users:
        form = _access_form(user, roles, permissions)
        form.roles.data = [role.name for role in user.roles]
        form.permissions.data = [p.name for p in user.direct_permissions]
        forms[user.id] = form
    return render_template(
        "admin/index.html", users=users, roles=roles, permissions=permissions, forms=forms, confirm=ConfirmForm()
    )


def _event_filters() -> tuple[list[str], str]:
    types = [t for t in request.args.getlist("type") if t]
    unknown = [t for t in types if t not in events.TYPES]
    if unknown:
        abort(400, description=f"Unknown event type {unknown[0][:40]!r}: choose one of {', '.join(events.TYPES)}.")
    username = request.args.get("user", "").strip()[:64]
    return types, username


@bp.route("/events")
@permission_required("admin.access")
def events_page():
    """Every auth event, newest first, filtered by type and user."""
    types, username = _event_filters()
    found = events.query(types=types, username=username or None, limit=500)
    return render_template("admin/events.html", events=found, types=events.TYPES, chosen_types=types, username=username)


@bp.route("/events.json")
@permission_required("admin.access")
def events_json():
    """The same as JSON: a list of objects with type, username, time, mode, store (and the rest)."""
    types, username = _event_filters()
    found = events.query(types=types, username=username or None, limit=500)
    response = jsonify([event.as_dict() for event in found])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@permission_required("admin.access")
def update_roles(user_id: int):
    """Replace a user's roles and direct grants; the change applies from the user's next request."""
    if user_id > MAX_ID:  # the database's integer would overflow: no such user
        abort(404, description=f"There is no user {user_id}.")
    user = db.session.get(User, user_id) or abort(404, description=f"There is no user {user_id}.")
    roles, permissions = _all_roles_and_permissions()
    form = _access_form(user, roles, permissions)
    if not form.validate_on_submit():
        abort(400, description="Unknown role or permission in the form.")
    user.roles = [role for role in roles if role.name in form.roles.data]
    user.direct_permissions = [p for p in permissions if p.name in form.permissions.data]
    db.session.commit()
    identity_changed(str(user.id))  # every session of the user sees it on its next request
    granted = ", ".join(form.roles.data + form.permissions.data) or "nothing"
    record(
        "roles_changed",
        user_id=user.id,
        username=user.username,
        detail=f"by {current_user.username}: roles {', '.join(form.roles.data) or 'none'}; "
        f"granted directly {', '.join(form.permissions.data) or 'none'}",
    )
    flash(f"{user.username} now has: {granted}.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
@permission_required("admin.access")
def disable(user_id: int):
    """Disable an account: it cannot log in, and its sessions and tokens end now."""
    user = db.session.get(User, user_id) or abort(404)
    ended = disable_account(user)
    flash(f"{user.username} is disabled; {ended} session(s) or login(s) ended.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
@permission_required("admin.access")
def enable(user_id: int):
    """Let a disabled account log in again."""
    user = db.session.get(User, user_id) or abort(404)
    user.disabled = False
    db.session.commit()
    flash(f"{user.username} can log in again.", "info")
    return redirect(url_for("admin.index"))


@bp.route("/users/<int:user_id>/delete", methods=["POST"])
@permission_required("admin.access")
def delete(user_id: int):
    """Delete an account: its row goes, and its sessions and tokens end now."""
    user = db.session.get(User, user_id) or abort(404)
    username = user.username
    ended = delete_account(user)
    flash(f"{username} is deleted; {ended} session(s) or login(s) ended.", "info")
    return redirect(url_for("admin.index"))
