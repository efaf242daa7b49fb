"""Telling people why: the reason shown to a logged-out device, confirm steps, /login while logged in, error pages."""

from __future__ import annotations

import re

import pytest

from tests.support import SECRET, MovableClock, let_time_pass

SESSION_STORES = ["memory", "redis", "memcached", "sqlalchemy", "cookie"]
EVERY_MODE = SESSION_STORES + ["jwt:sqlalchemy", "jwt:redis"]
CURRENT_ROW = re.compile(r'<tr class="current">\s*<td><code>([^<]+)</code>')
SEEN = "authdemo_seen"


def _own_handle(browser) -> str:
    """The handle the sessions page marks "this one"."""
    match = CURRENT_ROW.search(browser.client.get("/account/sessions").get_data(as_text=True))
    assert match, "no current session on the sessions page"
    return match.group(1)


def _next_page(browser, path: str = "/account") -> str:
    """What a device sees on its next request (following the redirect to /login)."""
    return browser.client.get(path, follow_redirects=True).get_data(as_text=True)


def _move_cookies(old, new) -> None:
    """The same browser, talking to a restarted app."""
    for name in (old.cookie_name, SEEN, "authdemo_access", "authdemo_refresh"):
        cookie = old.client.get_cookie(name)
        if cookie is not None:
            new.client.set_cookie(name, cookie.value)


@pytest.mark.parametrize("backend", EVERY_MODE)
def test_a_session_ended_from_another_device_is_told_so_once(make_app, browser_for, backend):
    """Confirm page, then the POST; the phone's next page says why, the one after says nothing more."""
    app = make_app(backend)
    laptop, phone = browser_for(app), browser_for(app)
    laptop.login("alice")
    phone.login("alice")
    handle = _own_handle(phone)

    confirm = laptop.client.get(f"/account/sessions/{handle}/revoke")
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "End that session?" in page and 'method="post"' in page
    assert "Werkzeug 3" in page  # the browser, by name
    assert phone.is_logged_in(), "the confirm page must not end anything"
    ended = laptop.post(f"/account/sessions/{handle}/revoke", form_page=f"/account/sessions/{handle}/revoke")
    assert ended.status_code == 302

    first = _next_page(phone)
    assert "Your session was ended from another device." in first
    assert "Your session was ended from another device." not in _next_page(phone, "/")
    assert laptop.is_logged_in()


@pytest.mark.parametrize("backend", EVERY_MODE)
def test_log_out_everywhere_asks_first_and_other_devices_are_told(make_app, browser_for, backend):
    """GET /logout-all is the confirm step; after the POST every other device hears why."""
    app = make_app(backend)
    laptop, phone = browser_for(app), browser_for(app)
    laptop.login("alice")
    phone.login("alice")
    confirm = laptop.client.get("/logout-all").get_data(as_text=True)
    assert "This ends all 2 of your sessions" in confirm and 'action="/logout-all"' in confirm
    assert laptop.is_logged_in() and phone.is_logged_in()

    response = laptop.post("/logout-all", form_page="/logout-all")
    assert response.status_code == 302
    assert "Your session was ended because you logged out everywhere." in _next_page(phone)
    own = laptop.client.get("/login").get_data(as_text=True)
    assert "Logged out everywhere: 2 session(s) ended." in own and "because you logged out everywhere" not in own


@pytest.mark.parametrize("backend", EVERY_MODE)
def test_a_plain_logout_gives_no_reason_and_drops_the_seen_cookie(make_app, browser_for, backend):
    """Logging out here is not news: no reason, and the small cookie goes."""
    app = make_app(backend)
    browser = browser_for(app)
    browser.login("alice")
    assert browser.client.get_cookie(SEEN) is not None
    browser.logout()
    assert browser.client.get_cookie(SEEN) is None
    assert "Your session" not in _next_page(browser)


@pytest.mark.parametrize("backend", ["memory", "redis", "cookie"])
def test_an_idle_session_is_told_it_was_idle(make_app, browser_for, backend):
    """The store's own expiry (2 s here) ended it: the reason names the idle timeout."""
    clock = MovableClock()
    app = make_app(backend, clock=clock, AUTHDEMO_SESSION_IDLE_TIMEOUT="2")
    browser = browser_for(app)
    browser.login("alice")
    assert browser.is_logged_in()
    let_time_pass(clock, backend, 2.2)  # Redis's own TTL is under test there; elsewhere the clock moves
    assert "Your session ended because it was idle for 2 seconds." in _next_page(browser)


@pytest.mark.parametrize("backend", ["memory", "jwt:memory"])
def test_a_session_the_store_lost_on_restart_says_so(make_app, browser_for, backend):
    """The memory store (or token store) starts empty after a restart: the browser is told the store lost it."""
    app = make_app(backend)
    before = browser_for(app)
    before.login("alice")
    if backend.startswith("jwt"):
        before.client.delete_cookie("authdemo_access")  # the next request must ask the (new, empty) token store
    after = browser_for(make_app(backend))  # the same instance folder and secret: an app restart
    _move_cookies(before, after)
    assert "store lost it (restart)" in _next_page(after)


@pytest.mark.parametrize("backend", ["cookie", "jwt:sqlalchemy"])
def test_a_changed_secret_key_says_the_key_changed(make_app, browser_for, backend):
    """Signed cookies (and tokens signed with a key derived from it) stop verifying when the key changes."""
    app = make_app(backend)
    before = browser_for(app)
    before.login("alice")
    after = browser_for(make_app(backend, AUTHDEMO_SECRET_KEY=SECRET + "-rotated"))
    _move_cookies(before, after)
    assert "Your session ended because the key changed" in _next_page(after)


def test_a_reused_refresh_token_tells_the_browser(make_app, browser_for):
    """JWT mode: someone used a copy of the refresh token first; the browser's refresh is refused and says why."""
    app = make_app("jwt:redis")
    browser = browser_for(app)
    browser.login("alice")
    stolen = browser.client.get_cookie("authdemo_refresh").value
    thief = app.test_client().post("/api/token/refresh", headers={"Authorization": f"Bearer {stolen}"})
    assert thief.status_code == 200
    browser.client.delete_cookie("authdemo_access")  # the access token ran out: the browser refreshes
    assert "its refresh token was used twice" in _next_page(browser)


def test_a_form_posted_by_an_ended_session_gets_the_reason_with_the_400(make_app, browser_for):
    """The CSRF secret died with the session: the 400 page says why the session ended."""
    app = make_app("redis")
    laptop, phone = browser_for(app), browser_for(app)
    laptop.login("alice")
    phone.login("alice")
    token = phone.csrf("/account/sessions")
    handle = _own_handle(phone)
    laptop.post(f"/account/sessions/{handle}/revoke", form_page="/account/sessions")
    refused = phone.client.post("/logout-all", data={"csrf_token": token})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "Your session was ended from another device." in body


@pytest.mark.parametrize("backend", ["memory", "jwt:sqlalchemy"])
def test_login_page_while_logged_in_says_who_and_offers_log_out(make_app, browser_for, backend):
    """/login names who is logged in and has a log-out button; anonymous visitors see only the form."""
    app = make_app(backend)
    browser = browser_for(app)
    assert "already logged in" not in browser.client.get("/login").get_data(as_text=True)
    browser.login("bob")
    page = browser.client.get("/login").get_data(as_text=True)
    assert "You are already logged in as <strong>bob</strong>" in page
    assert re.search(r'<form method="post" action="/logout">\s*<input type="hidden" name="csrf_token"', page)
    assert "Log out bob" in page


def test_sessions_page_names_browsers_and_links_to_confirm_steps(make_app, browser_for):
    """Readable browser names from the User-Agent; "End…" and "Log out everywhere…" lead to confirm pages."""
    app = make_app("sqlalchemy")
    browser = browser_for(app)
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    browser.client.environ_base["HTTP_USER_AGENT"] = chrome
    browser.login("alice")
    page = browser.client.get("/account/sessions").get_data(as_text=True)
    assert "Chrome 131 on Linux" in page
    assert 'href="/logout-all"' in page and re.search(r'href="/account/sessions/[0-9a-f]{16}/revoke"', page)
    assert 'method="post" action="/account/sessions/' not in page  # no one-click ending


def test_error_pages_keep_the_navigation(make_app, browser_for):
    """A 404 and a 503 both keep the site's navigation; the 503 names no user and shows no flashed message."""
    app = make_app("memory")
    browser = browser_for(app)
    browser.login("alice")
    missing = browser.client.get("/no-such-page").get_data(as_text=True)
    assert "<nav>" in missing and 'href="/compare"' in missing

    down = make_app("redis", AUTHDEMO_REDIS_URL="redis://127.0.0.1:9/0", AUTHDEMO_STORE_TIMEOUT="0.2")
    client = down.test_client()
    client.set_cookie("authdemo_session", "a" * 43)  # a session id: the store must be asked, and it is down
    response = client.get("/account")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and "redis" in page
    assert "<nav>" in page and 'href="/compare"' in page
    assert 'class="flash' not in page and "Log in</a>" not in page


@pytest.mark.parametrize("backend", ["redis", "jwt:redis"])
def test_a_disabled_account_is_told_so(make_app, browser_for, backend):
    """An admin disables carol: carol's open browser hears why on its next page."""
    from authdemo.extensions import db
    from authdemo.models import User

    app = make_app(backend)
    admin, carol = browser_for(app), browser_for(app)
    admin.login("alice")
    carol.login("carol")
    with app.app_context():
        carol_id = db.session.scalar(db.select(User.id).filter_by(username="carol"))
    assert admin.post(f"/admin/users/{carol_id}/disable", form_page="/admin").status_code == 302
    assert "Your session was ended because your account was disabled or deleted." in _next_page(carol)
