"""The command line: init-db, seed-demo, users create, sessions list and purge."""

from __future__ import annotations

from authdemo.extensions import db
from authdemo.models import Role, User
from tests.support import Browser


def test_init_db_is_idempotent(make_app):
    app = make_app("memory")
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        roles = {role.name: {p.name for p in role.permissions} for role in db.session.scalars(db.select(Role))}
    assert roles["admin"] == {"admin.access", "reports.view", "tasks.read", "tasks.write"}
    assert roles["editor"] == {"reports.view", "tasks.read", "tasks.write"}
    assert roles["viewer"] == {"reports.view", "tasks.read"}


def test_seed_demo_is_idempotent(make_app):
    runner = make_app("memory").test_cli_runner()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0 and "already exist" in result.output


def test_users_create_reads_the_password_from_stdin(make_app):
    app = make_app("memory")
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "dave", "--role", "viewer", "--role", "editor", "--password-stdin"],
        input="dave's secret\n",
    )
    assert result.exit_code == 0, result.output
    assert "dave's secret" not in result.output
    with app.app_context():
        dave = db.session.scalar(db.select(User).filter_by(username="dave"))
        assert {r.name for r in dave.roles} == {"viewer", "editor"}
        assert dave.password_hash.startswith("scrypt:") and "dave's secret" not in dave.password_hash
    assert Browser(app).login("dave", "dave's secret").status_code == 302


def test_users_create_without_any_role(make_app):
    app = make_app("memory")
    result = app.test_cli_runner().invoke(args=["users", "create", "erin", "--password-stdin"], input="pw\n")
    assert result.exit_code == 0, result.output
    browser = Browser(app)
    browser.login("erin", "pw")
    assert browser.is_logged_in()
    assert browser.client.get("/reports").status_code == 403


def test_users_create_refuses_unknown_role_and_duplicates(make_app):
    runner = make_app("memory").test_cli_runner()
    unknown = runner.invoke(args=["users", "create", "frank", "--role", "wizard", "--password-stdin"], input="pw\n")
    assert unknown.exit_code == 1 and "wizard" in unknown.output
    duplicate = runner.invoke(args=["users", "create", "alice", "--password-stdin"], input="pw\n")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output


def test_sessions_list_shows_active_sessions(make_app):
    app = make_app("sqlalchemy")
    Browser(app).login("bob")
    result = app.test_cli_runner().invoke(args=["sessions", "list", "--user", "bob"])
    assert result.exit_code == 0, result.output
    assert result.output.count("bob") == 1
    missing = app.test_cli_runner().invoke(args=["sessions", "list", "--user", "nobody"])
    assert missing.exit_code == 1


def test_permission_granted_directly_without_a_role(make_app):
    app = make_app("memory")
    result = app.test_cli_runner().invoke(
        args=["users", "create", "gina", "--permission", "reports.view", "--password-stdin"], input="pw\n"
    )
    assert result.exit_code == 0, result.output
    browser = Browser(app)
    browser.login("gina", "pw")
    assert browser.client.get("/reports").status_code == 200
    assert browser.client.get("/admin").status_code == 403
    bad = app.test_cli_runner().invoke(
        args=["users", "create", "hank", "--permission", "root", "--password-stdin"], input="pw\n"
    )
    assert bad.exit_code == 1 and "root" in bad.output
