"""/experiments against a real served app: the stolen-cookie replay on every store, the role change, the tasks
service, the oversized signed cookie; CSRF on every form, no whole credential on any page."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.support import CSRF_PATTERN, PASSWORDS

EVERY_STORE = ["memory", "redis", "memcached", "sqlalchemy", "sqlalchemy-postgres", "cookie"]
TOKEN_STORES = ["jwt:sqlalchemy", "jwt:redis"]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class RealBrowser:
    """A cookie-keeping HTTP client talking to a served app over loopback."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        """Status, Location and body of one request (redirects not followed)."""
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=15) as answer:
                return answer.status, answer.headers.get("Location", ""), answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", ""), error.read().decode()

    def csrf(self, path: str) -> str:
        match = CSRF_PATTERN.search(self.request(path)[2])
        assert match, f"no csrf_token on {path}"
        return match.group(1)

    def login(self, username: str) -> None:
        token = self.csrf("/login")
        status, _, _ = self.request(
            "/login", {"username": username, "password": PASSWORDS[username], "csrf_token": token}
        )
        assert status == 302

    def post(self, path: str, form_page: str = "/experiments") -> tuple[int, str, str]:
        return self.request(path, {"csrf_token": self.csrf(form_page)})

    def cookie_values(self) -> list[str]:
        return [cookie.value for cookie in self.jar if len(cookie.value) > 20]


@pytest.mark.parametrize("backend", EVERY_STORE + TOKEN_STORES)
def test_a_stolen_cookie_is_refused_after_logout(make_app, serve, backend):
    """The control replay answers 200; after the browser is logged out the same copy gets 302 to /login."""
    base = serve(make_app(backend))
    browser = RealBrowser(base)
    browser.login("alice")
    held = browser.cookie_values()
    assert held

    status, _, page = browser.post("/experiments/steal-cookie")
    assert status == 200, page
    before, after = re.findall(r'<strong class="status-(\d+)">', page)
    assert before == "200", page
    assert after == "302", page
    assert "/login" in page.split("After logout")[1]
    assert "Refused." in page
    for value in held:  # masked, never whole
        assert value not in page
    assert browser.request("/account")[0] == 302, "the experiment logs this browser out"
    assert "Your session" not in browser.request("/")[2]  # logged out here on purpose: no "ended elsewhere" reason


@pytest.mark.parametrize("backend", ["redis", "jwt:sqlalchemy"])
def test_a_role_change_reaches_a_session_and_refuses_an_older_token(make_app, serve, backend):
    """Session mode: 403 while the roles are gone. JWT: the older access token is refused. Roles come back."""
    app = make_app(backend)
    base = serve(app)
    browser = RealBrowser(base)
    browser.login("carol")
    status, _, page = browser.post("/experiments/role-change")
    assert status == 200, page
    before, during, after = re.findall(r'<strong class="status-(\d+)">', page)
    assert before == "200"
    if backend.startswith("jwt"):  # the token carries the old roles: refused from the change on
        assert (during, after) == ("302", "302")
    else:  # the sessions were rewritten with the new identity
        assert (during, after) == ("403", "200")
    assert browser.request("/reports")[0] == 200  # roles restored


def test_the_tasks_service_accepts_a_logged_out_token_it_cannot_check(make_app, serve):
    """sqlalchemy token store: the tasks service never opens the database, so it cannot see the logout."""
    from authdemo.tasks_api import create_app as create_tasks_app
    from tests.support import SECRET

    tasks_base = serve(create_tasks_app({"AUTHDEMO_SECRET_KEY": SECRET, "AUTHDEMO_TOKEN_STORE": "sqlalchemy"}))
    app = make_app("jwt:sqlalchemy", AUTHDEMO_TASKS_URL=tasks_base)
    browser = RealBrowser(serve(app))
    browser.login("bob")
    status, _, page = browser.post("/experiments/token-at-tasks")
    assert status == 200, page
    assert '<strong id="tasks-status">200</strong>' in page
    assert re.search(r'<strong class="status-401">401</strong>', page)  # the app itself refuses it
    for value in browser.cookie_values():
        assert value not in page


@pytest.mark.filterwarnings("ignore:The 'authdemo_session' cookie is too large")
def test_growing_a_signed_cookie_session_past_4_kb(make_app, browser_for):
    """The site sends the oversized cookie; what came back is reported, and the padding is taken out again."""
    app = make_app("cookie")
    browser = browser_for(app)
    browser.login("alice")
    response = browser.post("/experiments/grow-cookie", form_page="/experiments")
    assert response.status_code == 302 and "sent=1" in response.headers["Location"]
    assert len(browser.cookie) > 4096  # Werkzeug's test client keeps what a real browser would drop
    page = browser.client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your browser kept it" in page
    assert len(browser.cookie) < 4096 and browser.is_logged_in()


def test_every_experiment_form_has_csrf_and_a_post_without_it_is_refused(make_app, browser_for):
    """Each button is a POST form with the hidden token; without it the answer is 400."""
    app = make_app("cookie")
    browser = browser_for(app)
    browser.login("alice")
    page = browser.client.get("/experiments").get_data(as_text=True)
    forms = re.findall(
        r'<form method="post" action="(/experiments/[^"]+)">\s*<input type="hidden" name="csrf_token"', page
    )
    assert sorted(forms) == ["/experiments/grow-cookie", "/experiments/role-change", "/experiments/steal-cookie"]
    for action in forms:
        assert browser.client.post(action).status_code == 400
    assert browser.is_logged_in()


def test_the_page_names_commands_for_this_machine_and_the_measured_matrix(make_app, browser_for):
    """Commands are .venv/bin/flask or make; with a results.json the rows for this store are shown."""
    from authdemo.lab import results

    app = make_app("memory")
    browser = browser_for(app)
    page = browser.client.get("/experiments").get_data(as_text=True)
    assert ".venv/bin/flask --app app compare-restart --backends memory" in page
    assert "No measured restart matrix yet" in page
    assert not re.search(r"<code>flask ", page)
    results.update(
        results.results_dir(app.instance_path),
        {
            "restart": [
                {
                    "mode": "session",
                    "store": "memory",
                    "variant": "",
                    "event": "app_restart",
                    "survived": False,
                    "detail": "GET /account answered 302 → /login",
                },
                {
                    "mode": "session",
                    "store": "redis",
                    "variant": "AOF",
                    "event": "app_restart",
                    "survived": True,
                    "detail": "redis row",
                },
            ]
        },
    )
    page = browser.client.get("/experiments").get_data(as_text=True)
    assert "GET /account answered 302 → /login" in page and "redis row" not in page
    assert "The memory store lives in one process" in page


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:The 'authdemo_session' cookie is too large")
def test_in_real_chromium_the_oversized_cookie_is_dropped_and_the_stolen_copy_refused(make_app, serve, chromium):  # noqa: F811
    """Headless Chromium: it drops the 5 KB cookie (the old one comes back), and the steal button shows the 302."""
    from tests.support import TIMEOUT_MS

    base = serve(make_app("cookie"))
    context = chromium.new_context(base_url=base)
    try:
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.goto("/login")
        page.fill("#username", "alice")
        page.fill("#password", PASSWORDS["alice"])
        page.click("form[action='/login'] button[type=submit]")
        page.goto("/experiments")
        page.click("form[action='/experiments/grow-cookie'] button")
        assert "Your browser dropped it" in page.inner_text("#verdict")
        page.goto("/account")
        assert page.url.endswith("/account"), "still logged in with the old cookie"
        page.goto("/experiments")
        page.click("form[action='/experiments/steal-cookie'] button")
        assert "Refused." in page.inner_text("#verdict")
        page.goto("/account")
        assert "/login" in page.url
    finally:
        context.close()
