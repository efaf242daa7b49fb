"""Migrations: empty to head on SQLite and PostgreSQL, the result equal to the models, old databases stamped.

The other tests build their tables with create_all (fast); these make sure the
migrations build the same schema, so a model change without a migration fails
here, and that init-db takes over a database made before migrations existed.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from authdemo import create_app
from authdemo.extensions import db
from authdemo.models import Role, User
from authdemo.rbac import create_user
from authdemo.schema import VERSION_TABLE, alembic_config, current_revision, head_revision, schema_differences
from tests.support import SECRET, shutdown

ROOT = Path(__file__).resolve().parent.parent
MODEL_TABLES = {
    "users",
    "roles",
    "permissions",
    "user_roles",
    "role_permissions",
    "user_permissions",
    "sessions",
    "token_denylist",
    "token_families",
    "token_versions",
    "auth_events",
}
_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request, tmp_path) -> str:
    """The URL of a database with no table in it: a new SQLite file, or a new database on our PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server = request.getfixturevalue("postgres_server")
    name = f"authdemo_migrations_{next(_names)}"
    server.create_database(name)
    return server.url(name)


@pytest.fixture
def app_on(tmp_path):
    """``app_on(url)``: an app on that database, without the fixtures' create_all."""
    apps = []

    def make(url: str):
        environment = {
            "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "instance"),
            "AUTHDEMO_SECRET_KEY": SECRET,
            "AUTHDEMO_DATABASE_URL": url,
        }
        apps.append(create_app(environment))
        return apps[-1]

    yield make
    for app in apps:
        shutdown(app)


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def test_empty_to_head_builds_the_models_schema(app_on, empty_database):
    """init-db on an empty database runs every migration; the result is what the models describe, seeded."""
    app = app_on(empty_database)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "from an empty database" in result.output
    with app.app_context():
        assert _tables() == MODEL_TABLES | {VERSION_TABLE}
        assert set(db.metadata.tables) == MODEL_TABLES  # a new model table needs a migration and this list
        assert current_revision() == head_revision()
        # The check `flask db check` makes: a model changed without a migration fails here.
        assert schema_differences() == []
        assert {role.name for role in db.session.scalars(db.select(Role))} == {"admin", "editor", "viewer"}

    again = runner.invoke(args=["init-db"])
    assert again.exit_code == 0 and "already at revision" in again.output, again.output


def test_downgrade_to_empty_and_up_again(app_on, empty_database):
    """Every migration can be undone: down to base leaves only alembic_version, and up again works."""
    from alembic import command

    app = app_on(empty_database)
    with app.app_context():
        config = alembic_config()
        command.upgrade(config, "head")
        command.downgrade(config, "base")
        assert _tables() == {VERSION_TABLE} and current_revision() is None
        command.upgrade(config, "head")
        assert schema_differences() == []


def test_a_database_made_by_create_all_is_stamped(app_on, empty_database):
    """A database from before migrations (here, before JWT mode too): missing tables added, data kept, stamped."""
    app = app_on(empty_database)
    with app.app_context():
        old_tables = [table for name, table in db.metadata.tables.items() if not name.startswith("token_")]
        db.metadata.create_all(db.engine, tables=old_tables)
        db.session.add(Role(name="viewer"))
        db.session.commit()
        create_user("olga", "olga-password", ["viewer"])

    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "stamped as revision" in result.output and "Warning" not in result.output
    with app.app_context():
        assert _tables() == MODEL_TABLES | {VERSION_TABLE}
        assert current_revision() == head_revision()
        assert schema_differences() == []
        olga = db.session.scalar(db.select(User).filter_by(username="olga"))
        assert olga.check_password("olga-password") and [role.name for role in olga.roles] == ["viewer"]


def test_the_comparison_sees_a_schema_that_drifted(app_on, tmp_path):
    """The check above is not vacuous: a column the models do not have is reported."""
    app = app_on(f"sqlite:///{tmp_path / 'drift.db'}")
    with app.app_context():
        app.test_cli_runner().invoke(args=["init-db"])
        with db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE users ADD COLUMN nickname VARCHAR(40)"))
        differences = schema_differences()
    assert [(step[0], step[2], step[3].name) for step in differences] == [("remove_column", "users", "nickname")]


def test_one_head(app_on):
    """No branches: `flask db upgrade` has exactly one place to go."""
    from alembic.script import ScriptDirectory

    with app_on("sqlite://").app_context():
        assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_make_db_on_a_fresh_clone(tmp_path):
    """What `make db` runs, as separate processes, in an empty instance folder: init-db, then seed-demo."""
    environment = {"PATH": "/usr/bin:/bin", "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "instance")}
    outputs = []
    for command in (["init-db"], ["seed-demo"], ["init-db"]):
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *command],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert "from an empty database" in outputs[0]
    assert "Demo users created: alice, bob, carol." in outputs[1]
    assert "already at revision" in outputs[2]
    assert (tmp_path / "instance" / "authdemo.db").exists()
