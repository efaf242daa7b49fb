"""The admin page: users, roles and permissions, and changing a user's roles."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from .extensions import db
from .forms import UserRolesForm
from .models import Permission, Role, User
from .rbac import permission_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _roles_form(user: User, roles: list[Role]) -> UserRolesForm:
    form = UserRolesForm(prefix=f"user{user.id}")
    form.roles.choices = [(role.name, role.name) for role in roles]
    return form


@bp.route("")
@permission_required("admin.access")
def index():
    """Every user with roles and effective permissions; every role with its permissions."""
    roles = db.session.scalars(db.select(Role).order_by(Role.name)).all()
    users = db.session.scalars(db.select(User).order_by(User.username)).all()
    forms = {}
    for user in users:
        form = _roles_form(user, roles)
        form.roles.data = [role.name for role in user.roles]
        forms[user.id] = form
    permissions = db.session.scalars(db.select(Permission).order_by(Permission.name)).all()
    return render_template("admin/index.html", users=users, roles=roles, permissions=permissions, forms=forms)


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@permission_required("admin.access")
def update_roles(user_id: int):
    """Replace a user's roles; the change applies from the user's next request."""
    user = db.session.get(User, user_id) or abort(404)
    roles = db.session.scalars(db.select(Role).order_by(Role.name)).all()
    form = _roles_form(user, roles)
    if not form.validate_on_submit():
        abort(400, description="Unknown role in the form.")
    chosen = set(form.roles.data)
    user.roles = [role for role in roles if role.name in chosen]
    db.session.commit()
    flash(f"Roles of {user.username}: {', '.join(sorted(chosen)) or 'none'}.", "info")
    return redirect(url_for("admin.index"))
