"""Security headers on every answer (Flask-Talisman), and no-store on every page that can show user data.

The policy holds because no template carries an inline script or style
attribute: page scripts are files under static/js (tests/test_security_headers.py
checks the templates and every page's headers).
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_talisman import Talisman

from .settings import Settings

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",  # no 'unsafe-inline': an injected <script> does not run
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",  # no clickjacking: no page may frame these
}
HSTS_MAX_AGE = 365 * 24 * 3600
# Answers a shared cache may keep: they never depend on who asks.
LOCAL_HOST_NAMES = {"localhost", "localhost.", "[::1]"}
CACHEABLE_ENDPOINTS = {"static", "api.jwks"}


def content_security_policy(settings: Settings) -> dict[str, str]:
    """The policy; connect-src names the tasks service's origin too when /app reads it (AUTHDEMO_TASKS_URL)."""
    policy = dict(CONTENT_SECURITY_POLICY)
    if settings.tasks_url:
        from urllib.parse import urlsplit

        parts = urlsplit(settings.tasks_url)
        policy["connect-src"] = f"'self' {parts.scheme}://{parts.netloc}"
    return policy


class SiteWideTalisman(Talisman):
    """Talisman with the same headers on every page, worked out once instead of on every response.

    Flask-Talisman 1.1 looks up a view's own options four times per request
    and joins the Content-Security-Policy string again for every response:
    about a fifth of the smallest page's time (docs/performance.md). Here no
    view has options of its own and no policy carries a nonce, so the options
    are kept per endpoint and the policy string per policy. With a nonce
    configured, every response gets Talisman's own work, as before.
    """

    def __init__(self, app: Flask, **options):
        self._options_by_endpoint: dict[str | None, dict] = {}
        self._policy_strings: dict[int, tuple[object, str]] = {}
        super().__init__(app, **options)

    def _get_local_options(self) -> dict:
        endpoint = request.endpoint
        options = self._options_by_endpoint.get(endpoint)
        if options is None:
            options = self._options_by_endpoint[endpoint] = super()._get_local_options()
        return options

    def _parse_policy(self, policy) -> str:
        if self.content_security_policy_nonce_in:
            return super()._parse_policy(policy)  # a new nonce in every response
        kept = self._policy_strings.get(id(policy))
        if kept is None or kept[0] is not policy:
            kept = self._policy_strings[id(policy)] = (policy, super()._parse_policy(policy))
        return kept[1]

    def _force_https(self):
        return super()._force_https() if self.force_https else None  # off: nginx redirects plain http

    def _make_nonce(self) -> None:
        if self.content_security_policy_nonce_in:
            super()._make_nonce()


def init_app(app: Flask, settings: Settings) -> None:
    """Install Talisman with authdemo's policy and the no-store rule."""
    # Registered before Talisman's own hook, so it runs after it and sees its headers.
    app.after_request(_finish)
    SiteWideTalisman(
        app,
        # nginx redirects plain http and terminates TLS; the app itself may be reached on
        # http://127.0.0.1 (make run, probes), so it must not redirect.
        force_https=False,
        # Browsers pin HSTS to a host name on every port: sent only in production (and only over HTTPS).
        strict_transport_security=settings.production,
        strict_transport_security_max_age=HSTS_MAX_AGE,
        strict_transport_security_include_subdomains=False,
        content_security_policy=content_security_policy(settings),
        frame_options="DENY",
        referrer_policy="same-origin",
        x_content_type_options=True,
        # Talisman also sets the session cookie's flags: the same as the app factory's.
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=app.config["SESSION_COOKIE_HTTPONLY"],
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )


def _finish(response: Response) -> Response:
    """no-store on everything user-specific; no HSTS for localhost.

    Pages show who is logged in (the header) and often more: no browser or
    proxy cache keeps a copy. A browser pins HSTS to a host name for every
    port, so HSTS from `make serve` on https://localhost:8443 would break
    `make run` on http://localhost:5000 for a year (browsers ignore it on IP
    addresses by themselves).
    """
    if request.endpoint not in CACHEABLE_ENDPOINTS and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    if "Strict-Transport-Security" in response.headers:
        host = request.host
        if host in LOCAL_HOST_NAMES or host.rpartition(":")[0] in LOCAL_HOST_NAMES:
            del response.headers["Strict-Transport-Security"]
    return response
