"""Drive the real site with real headless Chromium (Playwright, sync API).

The app is served over HTTP by werkzeug in a background thread, once with a
server-side store (memory) and once with the signed-cookie store, so the
browser's own cookie handling (HttpOnly, SameSite, redirects, CSRF forms) is
exercised end to end.
"""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from tests.support import PASSWORDS, TIMEOUT_MS

pytestmark = pytest.mark.browser


@pytest.fixture(params=["memory", "cookie"])
def live_server(request, make_app):
    """The app served over real HTTP on a free loopback port; yields its base URL."""
    app = make_app(request.param)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="authdemo-live-server", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        assert not thread.is_alive(), "live server thread did not stop"


@pytest.fixture
def page(chromium, live_server):
    """A page in a fresh browser context (no cookies) pointed at the live server."""
    context = chromium.new_context(base_url=live_server)
    try:
        context.set_default_timeout(TIMEOUT_MS)
        yield context.new_page()
    finally:
        context.close()


def _path(url: str, base: str) -> str:
    assert url.startswith(base), url
    return url[len(base) :]


def test_login_redirect_cookie_flags_and_logout(page, live_server):
    context = page.context

    # Logged out: the protected page sends us to the login form, remembering where we were going.
    page.goto("/reports")
    assert re.fullmatch(r"/login\?next=(%2F|/)reports", _path(page.url, live_server)), page.url
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    page.fill("#username", "alice")
    page.fill("#password", PASSWORDS["alice"])
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()

    # Back where we wanted to go, logged in.
    assert _path(page.url, live_server) == "/reports"
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    expect(page.locator("header .who .user")).to_have_text("alice")

    # The session cookie as the browser stored it: HttpOnly and SameSite=Lax ...
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    assert "authdemo_session" in cookies, sorted(cookies)
    session_cookie = cookies["authdemo_session"]
    assert session_cookie["httpOnly"] is True
    assert session_cookie["sameSite"] == "Lax"
    # ... so page scripts cannot read it.
    assert "authdemo_session" not in page.evaluate("document.cookie")

    # The header's log-out button (a POST form with a CSRF token).
    with page.expect_navigation():
        page.locator("header").get_by_role("button", name="Log out").click()
    assert _path(page.url, live_server) == "/"
    expect(page.get_by_role("heading", name="Nobody is logged in")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")

    # The session is really over: a protected page sends us to the login form again.
    page.goto("/account")
    assert re.fullmatch(r"/login\?next=(%2F|/)account", _path(page.url, live_server)), page.url
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_wrong_password_stays_on_login(page, live_server):
    page.goto("/login")
    page.fill("#username", "alice")
    page.fill("#password", "not-alice-password")
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()

    assert _path(page.url, live_server) == "/login"
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")
    expect(page.locator("header .who .user")).to_have_count(0)
    expect(page.locator("header .who").get_by_role("link", name="Log in")).to_be_visible()


def test_jwt_mode_access_token_expires_mid_visit(chromium, make_app, serve):
    """Tokens in HttpOnly cookies; an expired access token is renewed silently; an expired refresh token logs out."""
    app = make_app("jwt:sqlalchemy", AUTHDEMO_JWT_ACCESS_TTL="2", AUTHDEMO_JWT_REFRESH_TTL="5", AUTHDEMO_JWT_LEEWAY="0")
    base = serve(app)
    context = chromium.new_context(base_url=base)
    try:
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.goto("/account")
        page.fill("#username", "bob")
        page.fill("#password", PASSWORDS["bob"])
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        assert _path(page.url, base) == "/account"
        expect(page.locator("#token-header")).to_contain_text("at+jwt")
        expect(page.locator("#token-payload")).to_contain_text('"username": "bob"')

        cookies = {cookie["name"]: cookie for cookie in context.cookies()}
        for name in ("authdemo_access", "authdemo_refresh"):
            assert cookies[name]["httpOnly"] is True and cookies[name]["sameSite"] == "Lax"
        assert "authdemo_access" not in page.evaluate("document.cookie")
        first_access = cookies["authdemo_access"]["value"]

        # The tamper demo: the server refuses a token whose signature no longer matches.
        page.get_by_label("Add admin.access to my permissions (signature kept)").check()
        with page.expect_navigation():
            page.get_by_role("button", name="Send the tampered token").click()
        expect(page.locator("#tamper-verdict")).to_contain_text("Refused with 401")

        # The access token expires mid-visit: the next page view refreshes it without a login.
        page.wait_for_timeout(2_500)
        page.goto("/reports")
        expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
        renewed = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
        assert renewed["authdemo_access"] != first_access

        # The refresh token expires too: back to the login page.
        page.wait_for_timeout(3_000)
        page.goto("/account")
        assert re.fullmatch(r"/login\?next=(%2F|/)account", _path(page.url, base)), page.url
    finally:
        context.close()
