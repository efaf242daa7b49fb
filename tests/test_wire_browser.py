"""The wire in real headless Chromium: log in, open /account/wire, see the Set-Cookie and the store being asked."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.support import PASSWORDS, TIMEOUT_MS

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("backend", ["redis", "jwt:sqlalchemy"])
def test_a_new_user_sees_the_cookie_set_and_the_store_asked(chromium, make_app, serve, backend, tmp_path):  # noqa: F811
    app = make_app(backend)
    base = serve(app)
    context = chromium.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    try:
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.goto("/login")
        page.fill("#username", "alice")
        page.fill("#password", PASSWORDS["alice"])
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
        page.goto("/reports")
        page.get_by_role("link", name="Wire").click()
        expect(page.get_by_role("heading", name="The wire", exact=False)).to_be_visible()

        login_row = page.locator("tr.wire-entry", has_text="POST /login").first
        cookie = "authdemo_session" if backend == "redis" else "authdemo_access"
        expect(login_row).to_contain_text(f"Set-Cookie: {cookie}=")
        expect(login_row).to_contain_text("HttpOnly")
        expect(login_row).to_contain_text("SameSite=Lax")
        expect(login_row).to_contain_text("scrypt password check")
        store_op = "SET session (new id)" if backend == "redis" else "INSERT/UPDATE new token family"
        expect(login_row).to_contain_text(store_op)

        diagram = page.locator("#diagram-login svg")
        expect(diagram).to_be_visible()
        expect(diagram).to_contain_text("POST /login")
        box = diagram.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 200  # drawn, not an empty box

        # The page holds no whole credential: the browser's own cookie values are nowhere in it.
        html = page.content()
        for stored in context.cookies():
            if stored["name"] != "authdemo_wire" and len(stored["value"]) >= 16:
                assert stored["value"] not in html, stored["name"]
        if os.environ.get("AUTHDEMO_SCREENSHOTS"):
            page.screenshot(path=str(tmp_path / f"wire-{backend.replace(':', '-')}.png"), full_page=True)
    finally:
        context.close()
