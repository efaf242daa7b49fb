"""The Content-Security-Policy holds in a real browser: no page of the site trips it (finding 6 of issue 10).

Headless Chromium visits every GET page as the admin, in session and in jwt
mode, with a listener for ``securitypolicyviolation`` installed before any
page script runs. An inline script, a ``style=`` attribute or a handler
attribute left in a template would be blocked by the policy and reported here;
the tokens page's countdown proves that the site's own script files still run.
"""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from tests.support import PASSWORDS, TIMEOUT_MS

pytestmark = pytest.mark.browser

LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture(params=["memory", "jwt:memory"])
def served(request, make_app):
    """The app on a loopback port; yields (app, base URL)."""
    app = make_app(request.param)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def _pages(app) -> list[str]:
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and not rule.arguments
        and not rule.rule.startswith(("/api/", "/static", "/.well-known", "/bench"))
        and not rule.rule.endswith((".json", ".svg"))
        and rule.rule != "/healthz"
    )


def test_no_page_trips_the_policy(chromium, served):  # noqa: F811
    app, base = served
    context = chromium.new_context(base_url=base)
    try:
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(LISTEN)
        page = context.new_page()
        page.goto("/login")
        page.fill("#username", "alice")
        page.fill("#password", PASSWORDS["alice"])
        with page.expect_navigation():
            page.locator("form button[type=submit]").first.click()
        visited = []
        for path in _pages(app):
            response = page.goto(path)
            page.wait_for_load_state("load")
            assert response is not None and response.status < 500, (path, response and response.status)
            violations = page.evaluate("window.__cspViolations")
            assert violations == [], (path, violations)
            visited.append(path)
        assert {"/", "/account", "/admin", "/reports"} <= set(visited)
        if app.extensions["authdemo_settings"].auth_mode == "jwt":
            page.goto("/account/tokens")
            countdown = page.locator("#expires-in")
            if countdown.count():
                first = countdown.inner_text()
                page.wait_for_function(
                    "(first) => document.getElementById('expires-in').textContent !== first", arg=first
                )
            assert page.evaluate("window.__cspViolations") == []
    finally:
        context.close()
