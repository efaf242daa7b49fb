"""Security headers on every page (finding 6 of issue 10), and templates that let the CSP hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import Browser

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _pages(app) -> list[str]:
    """Every GET route without arguments, as a person or a script can reach it."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static":
            paths.append(rule.rule)
    return sorted(set(paths)) + ["/no-such-page", "/static/css/site.css"]


def _check(path: str, response, *, hsts: bool) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in csp.split(";") if part.strip())
    assert "unsafe-inline" not in directives.get("script-src", directives.get("default-src", "x")), path
    assert directives.get("script-src") == "'self'", (path, csp)
    assert directives.get("frame-ancestors") == "'none'", (path, csp)
    assert headers.get("X-Frame-Options") == "DENY", path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "same-origin", path
    assert ("Strict-Transport-Security" in headers) is hsts, path
    if path.startswith("/static/") or path == "/.well-known/jwks.json":
        assert "no-store" not in headers.get("Cache-Control", ""), path
    else:
        assert "no-store" in headers.get("Cache-Control", ""), (path, headers.get("Cache-Control"))


@pytest.mark.parametrize("backend", ["memory", "jwt:memory"])
def test_every_page_carries_the_headers_for_an_admin_and_a_visitor(make_app, backend):
    """Each GET route, logged in as the admin and anonymous: CSP, framing, nosniff, referrer, no-store."""
    app = make_app(backend)
    admin, visitor = Browser(app), Browser(app)
    assert admin.login("alice").status_code == 302
    for path in _pages(app):
        for browser in (admin, visitor):
            with browser.client.get(path) as response:
                assert response.status_code < 500, (path, response.status_code)
                _check(path, response, hsts=False)


def test_pages_that_show_user_data_are_never_cached(make_app):
    """The pages the review named, logged in: Cache-Control no-store on each (not only /account*)."""
    app = make_app("memory")
    browser = Browser(app)
    browser.login("alice")
    for path in ("/", "/admin", "/reports", "/account", "/account/sessions", "/compare", "/login"):
        response = browser.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


def test_production_adds_hsts_over_https_only(make_app):
    """HSTS in production, on HTTPS answers (behind nginx), never on plain http or in development."""
    app = make_app("memory", AUTHDEMO_ENV="production")
    secure = app.test_client().get("/login", base_url="https://auth.example.org")
    assert "max-age=31536000" in secure.headers["Strict-Transport-Security"]
    _check("/login", secure, hsts=True)
    assert "Strict-Transport-Security" not in app.test_client().get("/login").headers
    development = make_app("memory").test_client().get("/login", base_url="https://auth.example.org")
    assert "Strict-Transport-Security" not in development.headers
    # Never for localhost: the pin would hold for every port, make run's plain http included.
    for host in ("https://localhost", "https://localhost:8443"):
        assert "Strict-Transport-Security" not in app.test_client().get("/login", base_url=host).headers


def test_the_app_never_redirects_to_https_itself(make_app):
    """nginx owns the http → https redirect; make run and probes talk plain http to the app."""
    app = make_app("memory", AUTHDEMO_ENV="production")
    assert app.test_client().get("/healthz").status_code == 200


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\s(on[a-z]+|style)\s*=", re.IGNORECASE)


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_hold_no_inline_script_or_style(template):
    """The CSP (script-src and style-src 'self') would block them: scripts live in static/js, styles in css."""
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text), f"inline <script> in {template.name}: move it to static/js"
    assert not INLINE_HANDLER.search(text), f"inline handler or style= in {template.name}: move it to static/"
    assert "<style" not in text.lower(), f"<style> block in {template.name}: move it to static/css"
