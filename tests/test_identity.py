"""The identity travels with the session: an admin's change reaches every session and token at the next request.

Also what an anonymous visitor costs the stores (nothing), the CSRF secret's
rotation at login and logout, and the signed-cookie store refusing an
identity the client changed.
"""

from __future__ import annotations

import base64
import json
import os
import time
import zlib

import pytest
from itsdangerous import URLSafeTimedSerializer

from authdemo.extensions import db
from authdemo.models import User
from tests.jwt_support import Api
from tests.support import BACKENDS, Browser

TOKEN_STORES = ["memory", "redis", "memcached", "sqlalchemy"]
# Anonymous page views are cheap: the full 10,000. Failed logins cost a scrypt
# each (as they must), so a few dozen of them show the same zero.
ANONYMOUS_REQUESTS = int(os.environ.get("AUTHDEMO_TEST_ANONYMOUS", "10000"))
FAILED_LOGINS = 40


def _user_id(app, username: str) -> str:
    with app.app_context():
        return str(db.session.scalar(db.select(User.id).filter_by(username=username)))


def _set_access(admin: Browser, app, username: str, roles: list[str], permissions: list[str] = ()):
    uid = _user_id(app, username)
    form = {f"user{uid}-roles": roles, f"user{uid}-permissions": list(permissions)}
    response = admin.client.post(
        f"/admin/users/{uid}/roles", data={**form, f"user{uid}-csrf_token": admin.csrf("/admin")}
    )
    assert response.status_code == 302, response.status_code


def _admin_post(admin: Browser, path: str):
    response = admin.post(path, form_page="/admin")
    assert response.status_code == 302, response.status_code
    return response


def _cli(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


# -- session mode, every store --------------------------------------------------------


def test_a_logged_in_request_reads_no_database(app, browser_for):
    """The identity comes from the session record: not one SQL statement for /reports on the server-side stores."""
    from sqlalchemy import event

    carol = browser_for(app)
    carol.login("carol")
    statements = []
    with app.app_context():
        engine = db.engine

    def count(*args):
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert carol.client.get("/reports").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # The session row (sqlalchemy) or the login's record (cookie) is read on the DBAPI cursor, below these
    # events; nothing else may run: above all, not the identity query on the users tables.
    assert statements == [], statements


def test_removed_permission_is_403_and_added_one_200_on_the_next_request(app, browser_for):
    alice, carol, carol_elsewhere = browser_for(app), browser_for(app), browser_for(app)
    alice.login("alice")
    carol.login("carol")
    carol_elsewhere.login("carol")
    assert carol.client.get("/reports").status_code == 200
    assert carol.client.get("/admin").status_code == 403
    _set_access(alice, app, "carol", roles=[], permissions=["admin.access"])
    for browser in (carol, carol_elsewhere):  # every session of the user, not only one
        assert browser.client.get("/reports").status_code == 403
        assert browser.client.get("/admin").status_code == 200
    assert carol.is_logged_in()  # the login goes on
    assert alice.client.get("/admin").status_code == 200  # other users untouched


def test_disabled_user_is_logged_out_at_the_next_request_and_cannot_log_in(app, browser_for):
    alice, carol = browser_for(app), browser_for(app)
    alice.login("alice")
    carol.login("carol")
    uid = _user_id(app, "carol")
    _admin_post(alice, f"/admin/users/{uid}/disable")
    assert not carol.is_logged_in()
    assert carol.login("carol").status_code == 200  # the form again: refused
    assert not carol.is_logged_in()
    _admin_post(alice, f"/admin/users/{uid}/enable")
    assert carol.login("carol").status_code == 302


def test_deleted_user_is_logged_out_at_the_next_request(app, browser_for):
    alice, bob = browser_for(app), browser_for(app)
    alice.login("alice")
    bob.login("bob")
    _admin_post(alice, f"/admin/users/{_user_id(app, 'bob')}/delete")
    assert not bob.is_logged_in()
    alice.client.get("/admin")  # the page that shows the flash
    assert "<td>bob" not in alice.client.get("/admin").get_data(as_text=True)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "memory"])  # the CLI is another process's memory
def test_cli_disable_and_delete_end_the_sessions(app, browser_for):
    bob, carol = browser_for(app), browser_for(app)
    bob.login("bob")
    carol.login("carol")
    assert "1 session(s)" in _cli(app, "users", "disable", "carol")
    assert not carol.is_logged_in()
    assert bob.is_logged_in()
    _cli(app, "users", "delete", "bob")
    assert not bob.is_logged_in()
    with app.app_context():
        assert db.session.scalar(db.select(User).filter_by(username="bob")) is None


def test_cli_refuses_an_unknown_user(make_app):
    app = make_app("memory")
    result = app.test_cli_runner().invoke(args=["users", "disable", "nobody"])
    assert result.exit_code == 1
    assert "no user named 'nobody'" in result.output


def test_bearer_tokens_in_session_mode_go_stale_too(make_app, browser_for):
    app = make_app("memory")
    alice, api = browser_for(app), Api(app)
    alice.login("alice")
    pair = api.token("carol")
    assert api.call("GET", "/api/tasks", pair["access_token"]).status_code == 200
    _set_access(alice, app, "carol", roles=[])
    stale = api.call("GET", "/api/tasks", pair["access_token"])
    assert stale.status_code == 401
    assert 'error="invalid_token"' in stale.headers["WWW-Authenticate"]
    renewed = api.refresh(pair["refresh_token"]).get_json()
    assert api.call("GET", "/api/tasks", renewed["access_token"]).status_code == 403


# -- JWT mode, every token store ---------------------------------------------------------


@pytest.fixture(params=TOKEN_STORES)
def jwt_app(request, make_app):
    """An app in JWT mode on each token store."""
    return make_app(f"jwt:{request.param}")


def test_jwt_browser_refreshes_transparently_with_the_new_claims(jwt_app, browser_for):
    alice, carol = browser_for(jwt_app), browser_for(jwt_app)
    alice.login("alice")
    carol.login("carol")
    assert carol.client.get("/reports").status_code == 200
    _set_access(alice, jwt_app, "carol", roles=[], permissions=["admin.access"])
    assert carol.client.get("/reports").status_code == 403  # the very next request, still logged in
    assert carol.client.get("/admin").status_code == 200
    _set_access(alice, jwt_app, "carol", roles=["viewer"])
    assert carol.client.get("/reports").status_code == 200
    assert carol.client.get("/admin").status_code == 403


def test_jwt_bearer_client_gets_401_then_refreshes_into_the_new_claims(jwt_app, browser_for):
    alice, api = browser_for(jwt_app), Api(jwt_app)
    alice.login("alice")
    pair = api.token("carol")
    assert api.call("GET", "/api/tasks", pair["access_token"]).status_code == 200
    _set_access(alice, jwt_app, "carol", roles=[])
    stale = api.call("GET", "/api/tasks", pair["access_token"])
    assert stale.status_code == 401
    assert 'error="invalid_token"' in stale.headers["WWW-Authenticate"]
    renewed = api.refresh(pair["refresh_token"])
    assert renewed.status_code == 200  # the login goes on
    assert api.call("GET", "/api/tasks", renewed.get_json()["access_token"]).status_code == 403
    _set_access(alice, jwt_app, "carol", roles=["viewer"])
    again = api.refresh(renewed.get_json()["refresh_token"]).get_json()
    assert api.call("GET", "/api/tasks", again["access_token"]).status_code == 200


def test_jwt_disabled_user_loses_browser_and_bearer_logins(jwt_app, browser_for):
    alice, carol, api = browser_for(jwt_app), browser_for(jwt_app), Api(jwt_app)
    alice.login("alice")
    carol.login("carol")
    pair = api.token("carol")
    _admin_post(alice, f"/admin/users/{_user_id(jwt_app, 'carol')}/disable")
    assert not carol.is_logged_in()
    assert api.me(pair["access_token"]).status_code == 401
    assert api.refresh(pair["refresh_token"]).status_code == 401
    response = api.client.post("/api/token", json={"username": "carol", "password": "carol-password"})
    assert response.status_code == 401


# -- the signed-cookie store: the identity is in the cookie, and cannot be changed ----------


def _cookie_payload(value: str) -> tuple[dict, str]:
    """Flask's cookie: [.]base64(json or zlib(json)).timestamp.signature; the payload and the rest."""
    compressed = value.startswith(".")
    payload, _, rest = value.lstrip(".").partition(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw), rest


def _encode_payload(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def test_cookie_store_refuses_a_widened_identity(make_app, browser_for):
    app = make_app("cookie")
    carol = browser_for(app)
    carol.login("carol")
    original = carol.cookie
    data, rest = _cookie_payload(original)
    assert data["_identity"]["perms"] == ["reports.view", "tasks.read"]  # the identity travels in the cookie
    assert carol.client.get("/admin").status_code == 403

    widened = json.loads(json.dumps(data))
    widened["_identity"]["perms"].append("admin.access")
    # The old signature on the new payload: refused.
    carol.use_cookie(_encode_payload(widened) + "." + rest)
    assert carol.client.get("/admin").status_code == 302
    # Signed with a key that is not the server's: refused.
    forged = URLSafeTimedSerializer("not-the-key", salt="cookie-session", signer_kwargs={"key_derivation": "hmac"})
    carol.use_cookie(forged.dumps(widened))
    assert carol.client.get("/admin").status_code == 302
    # Another user's id with carol's signed identity is impossible too: the whole cookie is signed.
    carol.use_cookie(original)
    assert carol.client.get("/reports").status_code == 200


# -- anonymous visitors cost the stores nothing; the CSRF secret rotates -------------------


def _entries(app) -> int:
    """What the session store holds (Memcached: has ever stored), counted the store's own way."""
    store = app.extensions["authdemo_login"].store
    backend = app.extensions["authdemo_settings"].session_backend
    if backend == "memory":
        return store.stats()["sessions"]
    if backend == "redis":
        return store.client.dbsize()
    if backend == "memcached":
        # Items ever stored: curr_items drifts while Memcached reclaims what an earlier test left.
        return int(store.client.stats()[b"total_items"])
    from authdemo.models import SessionRecord

    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(SessionRecord))


def test_anonymous_visitors_add_no_store_entry(app, browser_for):
    before = _entries(app)
    pages = ("/login", "/", "/compare")
    for number in range(ANONYMOUS_REQUESTS):
        if number % 10 == 0:
            visitor = browser_for(app)  # a new visitor every ten requests, with no cookie
        assert visitor.client.get(pages[number % len(pages)]).status_code == 200
    for number in range(FAILED_LOGINS):
        visitor = browser_for(app)
        token = visitor.csrf("/login")
        failed = visitor.client.post("/login", data={"username": f"x{number}", "password": "no", "csrf_token": token})
        assert failed.status_code == 200
        assert "Invalid username or password." in failed.get_data(as_text=True)
    assert _entries(app) == before
    user = browser_for(app)
    assert user.login("carol").status_code == 302  # the login form's CSRF works without a store entry
    assert _entries(app) > before  # and a login is stored (the cookie store's record too)


@pytest.mark.parametrize("backend", ["memory", "cookie", "redis", "jwt:memory"])
def test_a_csrf_token_read_before_login_is_refused_after_it(make_app, backend):
    app = make_app(backend)
    browser = Browser(app)
    before_login = browser.csrf("/login")
    response = browser.client.post(
        "/login", data={"username": "carol", "password": "carol-password", "csrf_token": before_login}
    )
    assert response.status_code == 302
    refused = browser.client.post("/logout", data={"csrf_token": before_login})
    assert refused.status_code == 400
    assert browser.is_logged_in()
    logged_in = browser.csrf("/")
    assert browser.client.post("/logout", data={"csrf_token": logged_in}).status_code == 302
    assert not browser.is_logged_in()
    # …and the one read while logged in is refused after logout.
    assert (
        browser.client.post(
            "/login", data={"username": "carol", "password": "carol-password", "csrf_token": logged_in}
        ).status_code
        == 400
    )


def test_a_remembered_cookie_still_honours_the_signature_age_and_the_bound():
    from authdemo.sessions.verified_cookies import VerifiedCookies

    cache = VerifiedCookies(size=2)
    cache.put("old", time.time() - 100, {"a": 1})
    assert cache.get("old", max_age=50) is None  # older than the limit: verified again (and refused) by itsdangerous
    assert cache.get("old", max_age=500) == {"a": 1}
    copy = cache.get("old", max_age=500)
    copy["a"] = 2  # each hit is a fresh copy: a request's changes do not leak into the next
    assert cache.get("old", max_age=500) == {"a": 1}
    cache.put("b", time.time(), {})
    cache.put("c", time.time(), {})
    assert cache.get("old", max_age=500) is None  # bounded: the least recently used went first
    assert cache.get("never-verified", max_age=500) is None
