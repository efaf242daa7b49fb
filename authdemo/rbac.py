"""Roles and permissions: the default set, seeding, and the permission_required decorator."""

from __future__ import annotations

from functools import wraps

from flask import Flask, abort
from flask_login import current_user, login_required

from .extensions import db
from .models import Permission, Role, User

PERMISSIONS = {
    "admin.access": "See and change users and roles in /admin",
    "reports.view": "Read /reports",
    "tasks.read": "Read tasks through the API and the tasks service",
    "tasks.write": "Change tasks",
}
ROLES = {
    "admin": sorted(PERMISSIONS),
    "editor": ["reports.view", "tasks.read", "tasks.write"],
    "viewer": ["reports.view", "tasks.read"],
}
DEMO_USERS = {
    "alice": ("admin", "alice-password"),
    "bob": ("editor", "bob-password"),
    "carol": ("viewer", "carol-password"),
}


def permission_required(permission: str):
    """Refuse with 403 unless the logged-in user holds ``permission``; anonymous users go to /login."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.can(permission):
                abort(403, description=f"This page needs the permission “{permission}”.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def insert_roles() -> None:
    """Create the default permissions and roles, idempotently (existing grants are completed, not removed)."""
    permissions = {p.name: p for p in db.session.scalars(db.select(Permission))}
    for name, description in PERMISSIONS.items():
        if name not in permissions:
            permissions[name] = Permission(name=name, description=description)
            db.session.add(permissions[name])
    roles = {r.name: r for r in db.session.scalars(db.select(Role))}
    for name, granted in ROLES.items():
        role = roles.get(name) or Role(name=name)
        db.session.add(role)
        for permission_name in granted:
            if permissions[permission_name] not in role.permissions:
                role.permissions.append(permissions[permission_name])
    db.session.commit()


def _by_name(model, names, kind: str) -> list:
    """The rows named ``names``; ValueError naming the first that does not exist."""
    found = []
    for name in names:
        row = db.session.scalar(db.select(model).filter_by(name=name))
        if row is None:
            raise ValueError(f"no {kind} named {name!r} (run init-db for the defaults)")
        found.append(row)
    return found


def create_user(username: str, password: str, role_names: list[str], permission_names: tuple[str, ...] = ()) -> User:
    """Add a user with roles (possibly none) and direct grants; ValueError for a bad name, role or permission."""
    username = username.strip()
    if not username or len(username) > 64:
        raise ValueError("a username has 1 to 64 characters")
    if not password:
        raise ValueError("the password is empty")
    if db.session.scalar(db.select(User).filter_by(username=username)) is not None:
        raise ValueError(f"user {username!r} already exists")
    roles = _by_name(Role, role_names, "role")
    permissions = _by_name(Permission, permission_names, "permission")
    user = User(username=username, roles=roles, direct_permissions=permissions)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def seed_demo() -> list[str]:
    """Create the demo users that do not exist yet; return their names."""
    insert_roles()
    created = []
    for username, (role, password) in DEMO_USERS.items():
        if db.session.scalar(db.select(User).filter_by(username=username)) is None:
            create_user(username, password, [role])
            created.append(username)
    return created


def init_app(app: Flask) -> None:
    """Make the permission check available to templates."""

    @app.context_processor
    def _permissions():
        return {"can": lambda permission: current_user.can(permission)}
