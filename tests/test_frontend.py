"""The token front end (/app) in real headless Chromium: memory-held access token, HttpOnly refresh cookie.

The site and the tasks service are served over real HTTP on two loopback
ports (two origins, so the tasks service's CORS is exercised), with a
2-second access lifetime and no leeway.
"""

from __future__ import annotations

import json
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from authdemo import tasks_api
from tests.support import PASSWORDS, SECRET, TIMEOUT_MS

pytestmark = pytest.mark.browser

ACCESS_TTL_MS = 2_000
REFRESH_PATH = "/api/token/refresh"
TASKS_FROM_BOTH = 4  # three from /api/tasks, one from the tasks service


class _Later:
    """A WSGI app named after its server is bound: the site must know its origin before it is built."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture
def site(make_app, tmp_path):
    """``site()``: the app and the tasks service served on loopback ports; returns the app's base URL."""
    running = []

    def start() -> str:
        site_app, service_app = _Later(), _Later()
        servers = [make_server("127.0.0.1", 0, wsgi, threaded=True) for wsgi in (site_app, service_app)]
        base, service_base = (f"http://127.0.0.1:{server.server_port}" for server in servers)
        app = make_app(
            "memory",
            AUTHDEMO_JWT_ACCESS_TTL=str(ACCESS_TTL_MS // 1000),
            AUTHDEMO_JWT_LEEWAY="0",
            AUTHDEMO_TASKS_URL=service_base,
        )
        site_app.app = app
        service_app.app = tasks_api.create_app(
            {
                "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "tasks-instance"),
                "AUTHDEMO_SECRET_KEY": SECRET,
                "AUTHDEMO_JWT_SECRET": app.extensions["authdemo_settings"].jwt_secret,
                "AUTHDEMO_JWT_LEEWAY": "0",
                "AUTHDEMO_SITE_ORIGIN": base,
            }
        )
        for server in servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            running.append((server, thread))
        return base

    yield start
    for server, thread in running:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        assert not thread.is_alive()


@pytest.fixture
def context(chromium):  # noqa: F811
    """A fresh browser context (its own cookie jar)."""
    context = chromium.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def _refreshes(page) -> list:
    """Every refresh request the page sends, as Chromium saw it leave."""
    seen = []
    page.on("request", lambda request: seen.append(request) if request.url.endswith(REFRESH_PATH) else None)
    return seen


def _open(page, base: str) -> None:
    page.goto(f"{base}/app")
    page.locator("#auto-renew").uncheck()  # the tests make every expired-token request themselves


def _log_in(page, base: str, username: str) -> dict:
    """Log in on /app; returns the body /api/token answered."""
    _open(page, base)
    expect(page.locator("#login-view")).to_be_visible()
    page.locator("#login-form [name=username]").fill(username)
    page.locator("#login-form [name=password]").fill(PASSWORDS[username])
    with page.expect_response(lambda response: response.url.endswith("/api/token")) as answer:
        page.get_by_role("button", name="Log in").click()
    expect(page.locator("#main-view")).to_be_visible()
    expect(page.locator("#who")).to_have_text(username)
    return answer.value.json()


def _wait_for_expiry(page) -> None:
    """Let the access token's real 2-second lifetime run out (exp is whole seconds: at most 2 s after issue)."""
    page.wait_for_timeout(ACCESS_TTL_MS + 100)


def test_log_in_lists_tasks_and_no_storage_holds_a_token(site, context):
    base = site()
    page = context.new_page()
    body = _log_in(page, base, "bob")

    assert "refresh_token" not in body and body["refresh_token_delivery"] == "cookie"
    expect(page.locator("#tasks li")).to_have_count(TASKS_FROM_BOTH)
    expect(page.locator("#tasks li[data-source=service]")).to_have_count(1)

    held = page.evaluate("() => ({local: {...localStorage}, session: {...sessionStorage}, cookie: document.cookie})")
    assert held == {"local": {}, "session": {}, "cookie": ""}, held
    access = body["access_token"]
    html = page.content()
    assert access not in html and access[-20:] not in html  # the panel shows it masked
    expect(page.locator("#held-token")).to_contain_text("masked")
    expect(page.locator("#held-localstorage")).to_have_text("nothing")
    expect(page.locator("#held-cookie")).to_contain_text("nothing")

    cookie = next(c for c in context.cookies() if c["name"] == "authdemo_app_refresh")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", REFRESH_PATH)
    assert cookie["value"] not in page.content()

    # An editor may add a task.
    page.locator("#task-title").fill("Write the front-end docs")
    page.get_by_role("button", name="Add task").click()
    expect(page.locator("#tasks li")).to_have_count(TASKS_FROM_BOTH + 1)
    expect(page.locator("#tasks")).to_contain_text("Write the front-end docs")


def test_after_expiry_reload_tasks_refreshes_exactly_once(site, context):
    base = site()
    page = context.new_page()
    _log_in(page, base, "bob")
    expect(page.locator("#tasks li")).to_have_count(TASKS_FROM_BOTH)
    refreshes = _refreshes(page)  # from here on (opening /app tried one, and found no cookie)

    _wait_for_expiry(page)
    page.locator("#reload-tasks").click()
    # Both the API and the tasks service answered 401; both requests were sent again after one refresh.
    expect(page.locator("#requests li.req-retry")).to_have_count(2)
    expect(page.locator("#tasks li")).to_have_count(TASKS_FROM_BOTH)
    expect(page.locator("#requests li.req-retry").first).to_contain_text("→ 200")
    expect(page.locator("#requests")).to_contain_text("→ 401 invalid_token")
    assert len(refreshes) == 1, [r.url for r in refreshes]
    expect(page.locator("#requests li.req-refresh").first).to_contain_text(f"POST {REFRESH_PATH} → 200")


def test_five_requests_after_expiry_share_one_refresh_and_the_login_survives(site, context):
    base = site()
    page = context.new_page()
    _log_in(page, base, "bob")
    refreshes = _refreshes(page)
    _wait_for_expiry(page)

    page.locator("#burst").click()
    expect(page.locator("#burst-result")).to_have_text(
        "Five requests answered 200, 200, 200, 200, 200; refreshes they needed: 1."
    )
    assert len(refreshes) == 1

    # Had a second refresh presented the same cookie, reuse detection would have ended the login.
    page.locator("#reload-tasks").click()
    expect(page.locator("#tasks li")).to_have_count(TASKS_FROM_BOTH)
    page.reload()
    expect(page.locator("#main-view")).to_be_visible()
    expect(page.locator("#tasks li")).to_have_count(TASKS_FROM_BOTH)
    assert len(refreshes) == 2  # the reload's


def test_a_reload_keeps_the_login_through_the_refresh_cookie(site, context):
    base = site()
    page = context.new_page()
    before = _log_in(page, base, "bob")["access_token"]
    refreshes = _refreshes(page)

    page.reload()  # the JavaScript variable is gone; the HttpOnly cookie is not
    expect(page.locator("#main-view")).to_be_visible()
    expect(page.locator("#who")).to_have_text("bob")
    expect(page.locator("#login-view")).to_be_hidden()
    expect(page.locator("#tasks li")).to_have_count(TASKS_FROM_BOTH)
    assert len(refreshes) == 1
    after = json.loads(refreshes[0].response().body())
    assert after["access_token"] != before and "refresh_token" not in after


def test_log_out_everywhere_from_another_browser_returns_the_page_to_the_login_form(site, context, chromium):  # noqa: F811
    base = site()
    page = context.new_page()
    _log_in(page, base, "bob")

    other = chromium.new_context()
    try:
        login = other.request.post(f"{base}/api/token", data={"username": "bob", "password": PASSWORDS["bob"]})
        assert login.ok
        access = login.json()["access_token"]
        ended = other.request.post(f"{base}/api/logout-all", headers={"Authorization": f"Bearer {access}"})
        assert ended.ok and ended.json()["logins_ended"] == 2
    finally:
        other.close()

    page.locator("#reload-tasks").click()
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#main-view")).to_be_hidden()
    expect(page.locator("#login-reason")).to_have_text(
        "Your login ended: 401 invalid_token: the token has been revoked"
    )
    expect(page.locator("#held-token")).to_have_text("none")
    # The failed refresh also dropped the dead cookie.
    assert not [c for c in context.cookies() if c["name"] == "authdemo_app_refresh"]


def test_a_viewer_is_refused_a_new_task_with_the_apis_403(site, context):
    base = site()
    page = context.new_page()
    _log_in(page, base, "carol")
    expect(page.locator("#tasks li")).to_have_count(TASKS_FROM_BOTH)

    page.locator("#task-title").fill("Carol's task")
    with page.expect_response(lambda r: r.url.endswith("/api/tasks") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Add task").click()
    assert answer.value.status == 403
    api_said = answer.value.json()
    expect(page.locator("#task-error")).to_have_text(f"Refused: 403 {api_said['error']}: {api_said['message']}")
    expect(page.locator("#task-error")).to_contain_text("insufficient_scope")
    expect(page.locator("#tasks li")).to_have_count(TASKS_FROM_BOTH)
