"""The auth event log: written by every auth action in both modes and the API; never by a page view, nor a password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from authdemo.events import TYPES, session_hash
from authdemo.extensions import db
from authdemo.models import AuthEvent
from tests.support import PASSWORDS, SECRET

ROOT = Path(__file__).resolve().parent.parent
SESSION_STORES = ["memory", "redis", "memcached", "sqlalchemy", "cookie"]
TOKEN_STORES = ["jwt:sqlalchemy", "jwt:redis"]


def _events(app, **filters) -> list[AuthEvent]:
    with app.app_context():
        statement = db.select(AuthEvent).order_by(AuthEvent.id)
        for name, value in filters.items():
            statement = statement.where(getattr(AuthEvent, name) == value)
        rows = list(db.session.scalars(statement))
        db.session.expunge_all()
        return rows


def _types(app) -> list[str]:
    return [event.type for event in _events(app)]


def _no_password_anywhere(app, captured: str) -> None:
    everything = json.dumps([event.as_dict() for event in _events(app)]) + captured
    for password in PASSWORDS.values():
        assert password not in everything


@pytest.mark.parametrize("backend", SESSION_STORES)
def test_session_mode_writes_an_event_per_action_and_none_per_page_view(make_app, browser_for, backend, capsys):
    """Failed and good logins, page views (no event), ending another session, logout, log out everywhere."""
    app = make_app(backend)
    laptop, phone = browser_for(app), browser_for(app)
    capsys.readouterr()

    assert laptop.login("alice", "wrong-password").status_code == 200
    assert laptop.login("nobody", "whatever").status_code == 200
    assert laptop.login("alice").status_code == 302
    assert _types(app) == ["login_failed", "login_failed", "login_succeeded"]
    failed_alice, failed_nobody, succeeded = _events(app)
    assert failed_alice.username == "alice" and failed_alice.user_id is not None  # shows on alice's activity
    assert failed_nobody.username == "nobody" and failed_nobody.user_id is None
    assert succeeded.mode == "session" and succeeded.store == backend and succeeded.address == "127.0.0.1"
    assert len(succeeded.session_hash) == 16

    for path in ("/", "/account", "/account/sessions", "/reports", "/admin", "/account/activity"):
        assert laptop.client.get(path).status_code == 200, path
    assert len(_events(app)) == 3, "a plain GET wrote an event"

    phone.login("alice")
    handle = _events(app)[-1].session_hash
    # The handle the sessions page shows is the event's session hash.
    assert handle in laptop.client.get("/account/sessions").get_data(as_text=True)
    assert laptop.post(f"/account/sessions/{handle}/revoke", form_page="/account/sessions").status_code == 302
    ended = _events(app)[-1]
    assert ended.type == "session_ended" and ended.detail == f"ended {handle}"
    assert not phone.is_logged_in()

    laptop.logout()
    assert _types(app)[-1] == "logout"
    laptop.login("alice")
    phone.login("alice")
    assert laptop.post("/logout-all", form_page="/account/sessions").status_code == 302
    assert _types(app)[-1] == "logout_everywhere" and "2 ended" in _events(app)[-1].detail

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith('{"event"')]
    assert [line["event"] for line in lines] == _types(app)
    assert {"time", "username", "address", "browser", "mode", "store", "session_hash"} <= set(lines[0])
    _no_password_anywhere(app, json.dumps(lines))


@pytest.mark.parametrize("backend", TOKEN_STORES)
def test_jwt_mode_and_the_api_write_token_events(make_app, browser_for, backend, capsys):
    """Browser login in JWT mode, then the API: issue, refresh, reuse, revoke, log out everywhere."""
    app = make_app(backend)
    browser = browser_for(app)
    capsys.readouterr()
    assert browser.login("bob").status_code == 302
    assert _types(app) == ["token_issued", "login_succeeded"]
    assert browser.is_logged_in()
    assert len(_events(app)) == 2
    browser.logout()
    assert _types(app)[-1] == "logout"

    client = app.test_client()
    assert client.post("/api/token", json={"username": "bob", "password": "nope"}).status_code == 401
    assert _types(app)[-1] == "login_failed"
    pair = client.post("/api/token", json={"username": "bob", "password": PASSWORDS["bob"]}).get_json()
    assert _types(app)[-2:] == ["login_succeeded", "token_issued"]
    family = _events(app)[-1].session_hash
    assert client.get("/api/me", headers={"Authorization": f"Bearer {pair['access_token']}"}).status_code == 200
    assert _types(app)[-1] == "token_issued", "an API call wrote an event"

    rotated = client.post("/api/token/refresh", headers={"Authorization": f"Bearer {pair['refresh_token']}"})
    assert rotated.status_code == 200
    refreshed = _events(app)[-1]
    assert refreshed.type == "token_refreshed" and refreshed.session_hash == family and refreshed.username == "bob"
    reused = client.post("/api/token/refresh", headers={"Authorization": f"Bearer {pair['refresh_token']}"})
    assert reused.status_code == 401
    reuse = _events(app)[-1]
    assert reuse.type == "refresh_reuse_detected" and reuse.session_hash == family and reuse.username == "bob"

    second = client.post("/api/token", json={"username": "bob", "password": PASSWORDS["bob"]}).get_json()
    revoke = client.post("/api/token/revoke", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert revoke.status_code == 200 and _types(app)[-1] == "token_revoked"
    third = client.post("/api/token", json={"username": "bob", "password": PASSWORDS["bob"]}).get_json()
    everywhere = client.post("/api/logout-all", headers={"Authorization": f"Bearer {third['access_token']}"})
    assert everywhere.status_code == 200 and _types(app)[-1] == "logout_everywhere"
    assert {event.mode for event in _events(app)} == {"jwt"}
    assert {event.store for event in _events(app)} == {backend.split(":")[1]}
    _no_password_anywhere(app, capsys.readouterr().err)


def test_rate_limited_logins_and_role_changes_are_events(make_app, browser_for):
    """The limiter's refusal and an admin's change of roles each write one event."""
    app = make_app("redis", AUTHDEMO_LOGIN_LIMIT_ACCOUNT="2 per minute")
    guesser = browser_for(app)
    for _ in range(2):
        assert guesser.login("carol", "guess").status_code == 200
    assert guesser.login("carol", "guess").status_code == 429
    assert _types(app) == ["login_failed", "login_failed", "login_rate_limited"]
    limited = _events(app)[-1]
    assert limited.username == "carol" and limited.user_id is not None and "2 per 1 minute" in limited.detail

    admin = browser_for(app)
    admin.login("alice")
    with app.app_context():
        from authdemo.models import User

        carol_id = db.session.scalar(db.select(User.id).filter_by(username="carol"))
    form = {f"user{carol_id}-roles": ["editor"]}
    token = admin.csrf("/admin")
    response = admin.client.post(f"/admin/users/{carol_id}/roles", data={**form, f"user{carol_id}-csrf_token": token})
    assert response.status_code == 302
    changed = _events(app)[-1]
    assert changed.type == "roles_changed" and changed.username == "carol" and changed.user_id == str(carol_id)
    assert "by alice" in changed.detail and "editor" in changed.detail


def test_activity_shows_only_your_own_and_admin_filters(make_app, browser_for):
    """/account/activity is the user's own; /admin/events and its JSON filter by type and user; admin only."""
    app = make_app("sqlalchemy")
    alice, bob, carol = browser_for(app), browser_for(app), browser_for(app)
    bob.login("bob", "wrong")
    bob.login("bob")
    carol.login("carol")
    alice.login("alice")

    mine = bob.client.get("/account/activity").get_data(as_text=True)
    assert mine.count("<code>login_succeeded</code>") == 1 and "<code>login_failed</code>" in mine
    assert "Werkzeug" in mine  # the browser column, readable
    assert "carol" not in mine

    assert carol.client.get("/admin/events").status_code == 403
    assert carol.client.get("/admin/events.json").status_code == 403
    assert app.test_client().get("/admin/events.json").status_code == 302

    everything = alice.client.get("/admin/events.json")
    assert everything.status_code == 200 and everything.headers["Cache-Control"] == "no-store"
    body = everything.get_json()
    assert isinstance(body, list) and len(body) == 4
    for item in body:
        assert {"type", "username", "time", "mode", "store"} <= set(item)
        assert item["mode"] == "session" and item["store"] == "sqlalchemy" and isinstance(item["time"], float)
    assert [item["username"] for item in body] == ["alice", "carol", "bob", "bob"]  # newest first

    failed = alice.client.get("/admin/events.json?type=login_failed").get_json()
    assert [(item["type"], item["username"]) for item in failed] == [("login_failed", "bob")]
    bobs = alice.client.get("/admin/events.json?user=bob&type=login_succeeded").get_json()
    assert [(item["type"], item["username"]) for item in bobs] == [("login_succeeded", "bob")]
    page = alice.client.get("/admin/events?type=login_failed&user=bob").get_data(as_text=True)
    assert "login_failed" in page and "carol" not in page.split("<tbody>")[1]
    bad = alice.client.get("/admin/events.json?type=nonsense")
    assert bad.status_code == 400 and "Unknown event type" in bad.get_json()["message"]


def test_event_hash_matches_the_sessions_page_handle():
    """One hash for both: an event row can be matched to a row of /account/sessions."""
    from authdemo.sessions.manager import public_handle

    assert session_hash("x" * 43) == public_handle("x" * 43)
    assert session_hash(None) == ""


def _cli_env(app) -> dict:
    return {
        **os.environ,
        "AUTHDEMO_INSTANCE_PATH": app.instance_path,
        "AUTHDEMO_SECRET_KEY": SECRET,
        "AUTHDEMO_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
    }


def test_cli_lists_filters_follows_and_purges(make_app, browser_for):
    """`events`, `events --type`, `events --follow` (a new event appears), `events purge --older-than`."""
    app = make_app("sqlalchemy")
    browser_for(app).login("bob", "wrong")
    browser_for(app).login("carol")
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["events"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert "login_failed" in lines[0] and "bob" in lines[0] and "login_succeeded" in lines[1]
    only = runner.invoke(args=["events", "--type", "login_succeeded"])
    assert "carol" in only.output and "login_failed" not in only.output
    assert runner.invoke(args=["events", "--type", "nonsense"]).exit_code == 2

    follower = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "events", "--follow", "--interval", "0.1"],
        cwd=ROOT,
        env=_cli_env(app),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "login_failed" in follower.stdout.readline()
        assert "login_succeeded" in follower.stdout.readline()
        browser_for(app).login("alice")
        assert "alice" in follower.stdout.readline()
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        follower.stdout.close()
        follower.stderr.close()

    with app.app_context():
        old = db.session.scalars(db.select(AuthEvent).order_by(AuthEvent.id)).first()
        old.time = time.time() - 3 * 86400
        db.session.commit()
    purged = runner.invoke(args=["events", "purge", "--older-than", "2"])
    assert purged.exit_code == 0 and "Removed 1 event(s)" in purged.output
    assert _types(app) == ["login_succeeded", "login_succeeded"]
    assert runner.invoke(args=["events", "purge"]).exit_code == 2  # --older-than is required


def test_every_type_has_a_writer():
    """Each type the log declares is named by some code outside events.py (a type nobody writes is a dead row)."""
    package = Path(__file__).resolve().parent.parent / "authdemo"
    sources = "\n".join(path.read_text(encoding="utf-8") for path in package.rglob("*.py") if path.name != "events.py")
    assert [kind for kind in TYPES if f'"{kind}"' not in sources] == []


def test_the_types_are_the_contracts():
    """The list of types is the contract's list."""
    assert set(TYPES) == {
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
    }
