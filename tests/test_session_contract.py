"""The contract every session store keeps, run against each one on a real server."""

from __future__ import annotations

from authdemo.sessions import get_manager
from tests.support import MovableClock, let_time_pass


def test_login_redirects_to_next_and_serves_protected_page(browser):
    response = browser.login("alice", next="/reports")
    assert response.status_code == 302
    assert response.headers["Location"] == "/reports"
    page = browser.client.get("/account")
    assert page.status_code == 200
    assert "alice" in page.get_data(as_text=True)


def test_failed_login_does_not_say_whether_the_account_exists(browser):
    unknown = browser.login("nobody", "whatever")
    wrong = browser.login("alice", "wrong-password")
    assert unknown.status_code == wrong.status_code == 200
    assert "Invalid username or password." in unknown.get_data(as_text=True)
    assert "Invalid username or password." in wrong.get_data(as_text=True)
    assert not browser.is_logged_in()


def test_session_id_rotates_at_login_and_the_old_cookie_stays_anonymous(browser):
    browser.csrf()  # the login form puts a CSRF secret in the session: a pre-login cookie exists
    before = browser.cookie
    assert before is not None
    browser.login("alice")
    after = browser.cookie
    assert after and after != before
    browser.use_cookie(before)
    assert not browser.is_logged_in()
    browser.use_cookie(after)
    assert browser.is_logged_in()


def test_cookie_flags(browser):
    response = browser.login("alice")
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(browser.cookie_name + "="))
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert "httponly" in attributes
    assert "samesite=lax" in header.lower()
    assert "secure" not in attributes  # plain http in development; production sets it
    assert "expires" not in attributes  # a browser-session cookie: the server enforces the idle timeout


def test_logout_ends_the_session_and_a_copy_of_the_cookie_is_refused(browser):
    browser.login("alice")
    copy = browser.cookie
    assert browser.logout().status_code == 302
    assert not browser.is_logged_in()
    browser.use_cookie(copy)
    assert not browser.is_logged_in()


def test_logout_all_ends_every_session_of_the_user_only(app, browser_for):
    laptop, phone, other_user = browser_for(app), browser_for(app), browser_for(app)
    laptop.login("alice")
    phone.login("alice")
    other_user.login("bob")
    stolen = phone.cookie
    assert laptop.post("/logout-all", form_page="/account").status_code == 302
    assert not laptop.is_logged_in()
    assert not phone.is_logged_in()
    thief = browser_for(app)
    thief.use_cookie(stolen)
    assert not thief.is_logged_in()
    assert other_user.is_logged_in()


def test_sessions_page_lists_and_ends_one_session(app, browser_for):
    laptop, phone = browser_for(app), browser_for(app)
    laptop.login("alice")
    phone.client.environ_base["HTTP_USER_AGENT"] = "PhoneBrowser/1.0"
    phone.login("alice")
    with app.test_request_context():
        listed = get_manager(app).list_for_user(_user_id(app, "alice"))
    assert len(listed) == 2
    phone_entry = next(s for s in listed if s.user_agent == "PhoneBrowser/1.0")
    page = laptop.client.get("/account/sessions").get_data(as_text=True)
    assert phone_entry.handle in page and "PhoneBrowser/1.0" in page
    response = laptop.post(f"/account/sessions/{phone_entry.handle}/revoke", form_page="/account/sessions")
    assert response.status_code == 302
    assert not phone.is_logged_in()
    assert laptop.is_logged_in()
    page = laptop.client.get("/account/sessions").get_data(as_text=True)
    assert phone_entry.handle not in page


def test_a_user_cannot_end_another_users_session(app, browser_for):
    alice, bob = browser_for(app), browser_for(app)
    alice.login("alice")
    bob.login("bob")
    with app.test_request_context():
        (bob_session,) = get_manager(app).list_for_user(_user_id(app, "bob"))
    alice.post(f"/account/sessions/{bob_session.handle}/revoke", form_page="/account/sessions")
    assert bob.is_logged_in()


def test_idle_session_expires_and_purge_cleans_up(make_app, backend, browser_for):
    clock = MovableClock()
    app = make_app(backend, clock=clock, AUTHDEMO_SESSION_IDLE_TIMEOUT="2")
    browser = browser_for(app)
    browser.login("alice")
    assert browser.is_logged_in()
    let_time_pass(clock, backend, 2.2)
    assert not browser.is_logged_in()
    result = app.test_cli_runner().invoke(args=["sessions", "purge"])
    assert result.exit_code == 0, result.output
    manager = get_manager(app)
    if manager.store.native_expiry:
        assert f"The {manager.store.name} store expires entries itself" in result.output
    else:
        assert "Removed" in result.output
        assert manager.store.stats()["expired_not_purged"] == 0


def test_activity_keeps_an_idle_timeout_session_alive(make_app, backend, browser_for):
    clock = MovableClock()
    app = make_app(backend, clock=clock, AUTHDEMO_SESSION_IDLE_TIMEOUT="2", AUTHDEMO_SESSION_TOUCH_INTERVAL="0")
    browser = browser_for(app)
    browser.login("alice")
    for _ in range(4):  # 4 × 0.7 s of activity outlasts the 2 s idle timeout
        let_time_pass(clock, backend, 0.7)
        assert browser.is_logged_in()


def test_permissions(app, browser_for):
    carol, alice, anonymous = browser_for(app), browser_for(app), browser_for(app)
    carol.login("carol")
    alice.login("alice")
    assert carol.client.get("/reports").status_code == 200
    assert carol.client.get("/admin").status_code == 403
    assert alice.client.get("/admin").status_code == 200
    response = anonymous.client.get("/reports")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_role_change_applies_at_the_next_request(app, browser_for):
    alice, carol = browser_for(app), browser_for(app)
    alice.login("alice")
    carol.login("carol")
    assert carol.client.get("/reports").status_code == 200
    uid = _user_id(app, "carol")
    form = {f"user{uid}-roles": [], f"user{uid}-permissions": []}  # no role, no direct grant
    response = alice.client.post(
        f"/admin/users/{uid}/roles", data={**form, f"user{uid}-csrf_token": alice.csrf("/admin")}
    )
    assert response.status_code == 302
    assert carol.client.get("/reports").status_code == 403


def test_healthz_reports_the_store(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["auth_mode"] == "session"
    assert body["session_backend"] == app.extensions["authdemo_settings"].session_backend
    assert body["store"]["ok"] is True


def _user_id(app, username: str) -> str:
    from authdemo.extensions import db
    from authdemo.models import User

    with app.app_context():
        return str(db.session.scalar(db.select(User.id).filter_by(username=username)))


def test_admin_grants_a_permission_directly(app, browser_for):
    alice, carol = browser_for(app), browser_for(app)
    alice.login("alice")
    carol.login("carol")
    assert carol.client.get("/admin").status_code == 403
    uid = _user_id(app, "carol")
    form = {f"user{uid}-roles": ["viewer"], f"user{uid}-permissions": ["admin.access"]}
    alice.client.post(f"/admin/users/{uid}/roles", data={**form, f"user{uid}-csrf_token": alice.csrf("/admin")})
    assert carol.client.get("/admin").status_code == 200
    bogus = {f"user{uid}-roles": ["wizard"], f"user{uid}-csrf_token": alice.csrf("/admin")}
    assert alice.client.post(f"/admin/users/{uid}/roles", data=bogus).status_code == 400
