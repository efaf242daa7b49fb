"""The auth event log: one row per authentication action, in both modes, and one JSON line on stderr.

What Keycloak calls events and ASVS V7 asks for: who logged in or failed to,
from where, with which browser, which session or token family ended and why.
Written by the actions themselves (login, logout, ending sessions, issuing,
refreshing and revoking tokens, changing roles), never by an ordinary page
view, and never with a password or a whole credential in it: a session id or
token family appears only as its public handle (a short SHA-256 prefix).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections.abc import Iterable

import click
from flask import Flask, current_app, has_request_context, request
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import AuthEvent

TYPES = (
    "login_succeeded",
    "login_failed",
    "login_rate_limited",
    "logout",
    "session_ended",
    "logout_everywhere",
    "token_issued",
    "token_refreshed",
    "refresh_reuse_detected",
    "token_revoked",
    "roles_changed",
)
LOGGER_NAME = "authdemo.events"
logger = logging.getLogger(LOGGER_NAME)


def session_hash(key: str | None) -> str:
    """The public handle of a session id or token family: enough to match rows, useless as a credential."""
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""


class _StderrHandler(logging.StreamHandler):
    """A handler that writes to whatever sys.stderr is at the time (gunicorn, the CLI, pytest's capture)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def _setup_logger() -> None:
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))  # the message is the JSON line
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # one line per event, not a second copy through the root logger


def record(
    event_type: str,
    *,
    user_id: str | int | None = None,
    username: str = "",
    session_key: str | None = None,
    detail: str = "",
) -> dict:
    """Write one event (row and log line) and return it; a database outage loses the row, never the action."""
    if event_type not in TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    settings = current_app.extensions["authdemo_settings"]
    if user_id is not None and not username:
        username = _username_for(user_id)
    row = {
        "time": round(time.time(), 3),
        "type": event_type,
        "user_id": str(user_id) if user_id is not None else None,
        "username": (username or "")[:64],
        "address": (request.remote_addr or "")[:64] if has_request_context() else "",
        "browser": (request.user_agent.string or "")[:200] if has_request_context() else "",
        "mode": settings.auth_mode,
        "store": settings.session_backend if settings.auth_mode == "session" else settings.token_store,
        "session_hash": session_hash(session_key),
        "detail": detail[:500],
    }
    try:
        # Its own connection and transaction: the event stays even if the request's own work rolls back.
        with db.engine.begin() as connection:
            connection.execute(insert(AuthEvent.__table__).values(**row))
    except SQLAlchemyError as error:
        current_app.logger.warning("auth event not stored (%s): %s", type(error).__name__, event_type)
    logger.info(json.dumps({"event": event_type, **{k: v for k, v in row.items() if k != "type"}}))
    return row


def _username_for(user_id) -> str:
    from .models import User

    try:
        return db.session.scalar(select(User.username).where(User.id == int(user_id))) or ""
    except (TypeError, ValueError, SQLAlchemyError):
        return ""


def user_id_for(username: str) -> str | None:
    """The id of the account with this name, if one exists (so a failed login shows on its owner's activity)."""
    if not username or "\x00" in username:
        return None
    from .models import User

    found = db.session.scalar(select(User.id).where(User.username == username[:64]))
    return str(found) if found is not None else None


def query(
    *, types: Iterable[str] = (), user_id: str | None = None, username: str | None = None, after_id: int = 0, limit=200
) -> list[AuthEvent]:
    """Events newest first, filtered by type, user id or username (exact)."""
    statement = select(AuthEvent)
    types = [t for t in types if t]
    if types:
        statement = statement.where(AuthEvent.type.in_(types))
    if user_id is not None:
        statement = statement.where(AuthEvent.user_id == str(user_id))
    if username:
        statement = statement.where(func.lower(AuthEvent.username) == username.strip().lower())
    if after_id:
        statement = statement.where(AuthEvent.id > after_id)
    statement = statement.order_by(AuthEvent.id.desc()).limit(limit)
    return list(db.session.scalars(statement))


def purge(older_than_days: float) -> int:
    """Delete events older than the given number of days; returns how many."""
    cutoff = time.time() - older_than_days * 86400
    with db.engine.begin() as connection:
        return connection.execute(delete(AuthEvent.__table__).where(AuthEvent.time < cutoff)).rowcount


# -- the command line ---------------------------------------------------------------


def _line(event: AuthEvent) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.time))
    parts = [when, f"{event.type:<22}", f"{event.username or '-':<12}", f"{event.address or '-':<15}"]
    parts.append(f"{event.mode}/{event.store}")
    if event.session_hash:
        parts.append(f"session {event.session_hash}")
    if event.detail:
        parts.append(event.detail)
    return "  ".join(parts)


class _EventsGroup(AppGroup):
    """`events` lists by itself; `events purge` is its one subcommand."""


@click.group("events", cls=_EventsGroup, invoke_without_command=True)
@click.option("--type", "types", multiple=True, type=click.Choice(TYPES), help="Only this type (repeatable).")
@click.option("--user", "username", help="Only this username (as typed, for failed logins).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000), help="How many to show.")
@click.option("--follow", is_flag=True, help="Keep printing new events as they happen (Ctrl-C stops).")
@click.option("--interval", default=1.0, type=click.FloatRange(0.05, 60), hidden=True)
@click.pass_context
@with_appcontext
def events_cli(ctx, types, username, limit, follow, interval):
    """Print the auth event log, oldest first (the newest --limit events)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        found = query(types=types, username=username, limit=limit)
    except SQLAlchemyError as error:
        raise click.ClickException(f"the database is not answering ({type(error).__name__})") from None
    last_id = found[0].id if found else 0
    for event in reversed(found):
        click.echo(_line(event))
    if not follow:
        if not found:
            click.echo("No events.", err=True)
        return
    try:
        while True:
            db.session.rollback()  # a new snapshot each poll
            new = query(types=types, username=username, after_id=last_id, limit=1000)
            for event in reversed(new):
                click.echo(_line(event))
                last_id = max(last_id, event.id)
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        pass


@events_cli.command("purge")
@click.option("--older-than", "days", required=True, type=click.FloatRange(min=0), help="Age in days.")
def events_purge_command(days: float):
    """Delete events older than --older-than DAYS."""
    removed = purge(days)
    click.echo(f"Removed {removed} event(s) older than {days:g} day(s).")


def init_app(app: Flask) -> None:
    """The JSON log line on stderr, and the `events` command."""
    _setup_logger()
    app.cli.add_command(events_cli)
    app.add_template_filter(lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), "isotime")
    app.add_template_filter(lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)), "clocktime")
