"""The database schema through migrations (Alembic, via Flask-Migrate): what init-db runs.

A database made by ``db.create_all()`` before migrations existed has the
tables but no ``alembic_version``: running the first migration on it would
fail on "table already exists". Such a database gets its missing tables (the
old init-db did the same) and is then stamped with the newest revision, so
later migrations apply to it like to any other.
"""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import inspect

from .extensions import db

VERSION_TABLE = "alembic_version"


def alembic_config():
    """Alembic's config for this app's migrations/ directory (Flask-Migrate knows where it is)."""
    migrate = current_app.extensions["migrate"]
    return migrate.migrate.get_config(migrate.directory)


def head_revision() -> str:
    """The newest revision in migrations/versions/."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision() -> str | None:
    """The revision the database is at, or None when it has no alembic_version."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_database() -> str:
    """Bring the schema to the newest revision; returns one line saying what was done."""
    config = alembic_config()
    tables = set(inspect(db.engine).get_table_names())
    before = current_revision() if VERSION_TABLE in tables else None
    if VERSION_TABLE not in tables and tables & set(db.metadata.tables):
        db.create_all()  # only the tables an older create_all did not know yet
        command.stamp(config, "head")
        message = f"Tables made before migrations found: stamped as revision {head_revision()}."
        differences = schema_differences()  # create_all never altered a table it found
        if differences:
            message += f" Warning: {len(differences)} differences from the models remain: {differences}"
        return message
    command.upgrade(config, "head")
    head = head_revision()
    if before == head:
        return f"Schema already at revision {head}."
    return f"Schema upgraded from {before or 'an empty database'} to revision {head}."


def schema_differences() -> list:
    """What the database lacks or has beyond the models (Alembic's autogenerate comparison); empty when in step."""
    migrate = current_app.extensions["migrate"]
    options = {"compare_type": migrate.configure_args.get("compare_type", True)}
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=options)
        return compare_metadata(context, db.metadata)
