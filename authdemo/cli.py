"""Command-line tools: thin click wrappers, each with a one-line --help."""

from __future__ import annotations

import sys

import click
from alembic.util import CommandError
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from .access import delete_account, disable_account
from .drivers import StoreUnavailable
from .extensions import db
from .lab import cli as lab_cli
from .login import get_login_backend
from .models import User
from .rbac import create_user, insert_roles, seed_demo
from .schema import upgrade_database
from .tokens import get_service

users_cli = AppGroup("users", help="Manage user accounts.")
sessions_cli = AppGroup("sessions", help="Inspect and clean up sessions.")


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Apply the migrations (upgrade to head), then the default roles and permissions (idempotent)."""
    try:
        click.echo(upgrade_database())
    except CommandError as error:  # e.g. a database at a revision these migrations do not know
        raise click.ClickException(f"migrations: {error}") from None
    insert_roles()
    click.echo("Database ready: roles admin/editor/viewer and their permissions.")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Create the demo users alice (admin), bob (editor) and carol (viewer)."""
    upgrade_database()
    created = seed_demo()
    click.echo(f"Demo users created: {', '.join(created)}." if created else "Demo users already exist.")


@users_cli.command("create")
@click.argument("name")
@click.option("--role", "roles", multiple=True, help="A role to grant (repeatable); none is allowed.")
@click.option("--permission", "permissions", multiple=True, help="A permission granted directly (repeatable).")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the password from standard input.")
def users_create_command(name: str, roles: tuple[str, ...], permissions: tuple[str, ...], password_stdin: bool):
    """Create a user, reading the password from standard input (never from the command line)."""
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        user = create_user(name, password, list(roles), permissions)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"User {user.username} created with roles: {', '.join(roles) or 'none'}.")


def _user_named(name: str) -> User:
    user = db.session.scalar(db.select(User).filter_by(username=name))
    if user is None:
        raise click.ClickException(f"no user named {name!r}")
    return user


@users_cli.command("disable")
@click.argument("name")
def users_disable_command(name: str):
    """Disable an account: it cannot log in, and every session and token of it ends now."""
    _end_account(name, "disabled", disable_account, _user_named(name))


@users_cli.command("delete")
@click.argument("name")
def users_delete_command(name: str):
    """Delete an account, and end every session and token of it now."""
    _end_account(name, "deleted", delete_account, _user_named(name))


def _end_account(name: str, what: str, change, user: User) -> None:
    """Make the change (committed first), then say how many sessions ended, or why none could be."""
    try:
        ended = change(user)
    except StoreUnavailable as error:
        raise click.ClickException(f"{name} is {what}, but its sessions could not be ended: {error}") from None
    click.echo(f"User {name} {what}; {ended} session(s) or login(s) ended.")


@sessions_cli.command("list")
@click.option("--user", "username", help="Only this user's sessions.")
def sessions_list_command(username: str | None):
    """List active sessions, per user, as the sessions page shows them."""
    manager = get_login_backend()
    if manager.backend == "memory":
        click.echo(
            "Note: the memory store lives inside the running app's process; "
            "this command runs in a process of its own and sees none of its sessions."
        )
    query = db.select(User).order_by(User.username)
    if username:
        query = query.filter_by(username=username)
    users = db.session.scalars(query).all()
    if username and not users:
        raise click.ClickException(f"no user named {username!r}")
    try:
        for user in users:
            for info in manager.list_for_user(user.get_id()):
                click.echo(
                    f"{user.username:<12} {info.handle}  created {info.created:%Y-%m-%d %H:%M:%S}  "
                    f"last seen {info.last_seen:%Y-%m-%d %H:%M:%S}  {info.ip:<15} {info.user_agent[:40]}"
                )
    except StoreUnavailable as error:
        raise click.ClickException(str(error)) from None


@sessions_cli.command("purge")
def sessions_purge_command():
    """Delete expired sessions, deny-list entries and token families from stores without their own expiry."""
    stores = {id(store): store for store in (get_login_backend().store, get_service().store)}
    for store in stores.values():
        try:
            removed = store.clear_expired()
        except StoreUnavailable as error:
            raise click.ClickException(str(error)) from None
        if store.native_expiry:
            click.echo(f"The {store.name} store expires entries itself; removed {removed} now.")
        else:
            click.echo(f"Removed {removed} expired entries from the {store.name} store.")


def init_app(app: Flask) -> None:
    """Register the commands."""
    for command in (init_db_command, seed_demo_command, users_cli, sessions_cli):
        app.cli.add_command(command)
    lab_cli.init_app(app)  # compare-restart, bench
