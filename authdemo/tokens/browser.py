"""The browser on tokens (AUTHDEMO_AUTH_MODE=jwt): HttpOnly cookies, silent refresh, the same pages.

The access and refresh tokens live in HttpOnly, SameSite=Lax cookies, out
of reach of page scripts. Forms keep their CSRF tokens, whose secret rides
in Flask's small signed cookie (no server-side session). When the access
token has expired, the next page view uses the refresh token to get a new
pair; when the refresh token has expired too, the visitor is logged out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flask import Flask, Response, current_app, g, request
from flask_login import logout_user

from ..clock import get_clock
from ..forms import rotate_csrf
from ..login import COOKIE_LIMIT, LoginInfo
from ..models import Identity
from . import load_subject
from .service import TokenPair, TokenService
from .verify import InvalidToken, unverified_parts

ACCESS_COOKIE = "authdemo_access"
REFRESH_COOKIE = "authdemo_refresh"


def cookie_names() -> tuple[str, str]:
    """The access and refresh cookie names; in production with the __Host- prefix (Secure, Path=/, no Domain)."""
    prefix = "__Host-" if current_app.config["SESSION_COOKIE_SECURE"] else ""
    return prefix + ACCESS_COOKIE, prefix + REFRESH_COOKIE


# Pages that must answer without checking tokens (they report on the stores, or time the check alone).
TOKEN_FREE_ENDPOINTS = {"main.healthz", "static", "bench.bench_stateless"}


def identity_from_claims(claims: dict) -> Identity:
    """The logged-in user as the access token describes them: no database read per request."""
    return Identity(
        id=claims["sub"],
        username=claims["username"],
        role_names=tuple(claims["roles"]),
        permission_names=frozenset(claims["permissions"]),
    )


class BrowserTokens:
    """The login backend of jwt mode: a login is a token family; its pair rides in HttpOnly cookies."""

    backend = "jwt"
    inspector_template = "account/tokens.html"

    def __init__(self, service: TokenService, token_store_name: str):
        self.service = service
        self.store = service.store
        self.label = f"tokens in {token_store_name}" + (" ({engine})" if token_store_name == "sqlalchemy" else "")

    def log_in(self, user) -> None:
        """Issue a new pair for this browser; the cookies are set on the response."""
        subject = load_subject(str(user.id))
        pair = self.service.issue(subject, device=request.user_agent.string or "", ip=request.remote_addr or "")
        _use_pair(pair)
        rotate_csrf()

    def current_sid(self) -> str | None:
        """The family (login) of this request's token."""
        claims = g.get("access_claims")
        return claims.get("fam") if claims else None

    @staticmethod
    def is_handle(sid: str, handle: str) -> bool:
        """A family id is not a credential: it is its own handle."""
        return sid == handle

    def list_for_user(self, user_id: str, current_sid: str | None = None) -> list[LoginInfo]:
        """The user's live logins (token families), newest refresh first."""
        families = [f for f in self.store.user_families(user_id) if not f.revoked]
        infos = [
            LoginInfo(
                handle=f.family_id,
                created=datetime.fromtimestamp(f.created, tz=UTC),
                last_seen=datetime.fromtimestamp(f.last_refresh, tz=UTC),
                ip=f.ip,
                user_agent=f.device,
                current=f.family_id == current_sid,
            )
            for f in families
        ]
        return sorted(infos, key=lambda info: info.last_seen, reverse=True)

    def end(self, user_id: str, handle: str) -> bool:
        """Revoke one of the user's logins."""
        family = self.store.get_family(handle)
        if family is None or family.user_id != user_id:
            return False
        return self.service.revoke_family(handle)

    def end_all(self, user_id: str) -> int:
        """Log out everywhere: bump the user's version, revoke every family."""
        return self.service.logout_everywhere(user_id)

    def update_identity(self, user_id: str, identity: Identity) -> int:
        """Nothing to rewrite: the access tokens become stale (``access.identity_changed``) and refresh."""
        return 0

    def end_current(self) -> None:
        """Revoke this browser's tokens and drop its cookies."""
        claims = g.get("access_claims")
        if claims:
            self.service.store.deny(claims["jti"], claims["exp"], claims["sub"])
            if isinstance(claims.get("fam"), str):
                self.service.revoke_family(claims["fam"])
        g.clear_token_cookies = True
        g.access_claims = None
        logout_user()
        rotate_csrf()

    def purge(self) -> int:
        """Drop expired deny-list entries and families."""
        return self.store.clear_expired()

    def describe(self) -> dict:
        """The access token decoded (header, payload, masked signature), its times, and the tamper demo's choices."""
        from ..inspector import human_time, mask
        from .tamper import SIGNATURES, TAMPERS

        token = current_access_token()
        header, payload = unverified_parts(token)
        parts = token.split(".")
        now = get_clock(current_app)()
        cookie_name = cookie_names()[0]
        return {
            "parts": parts,
            "signature_masked": mask(parts[2]),
            "header": header,
            "payload": payload,
            "times": [
                {"claim": claim, "value": payload[claim], "human": human_time(payload[claim], now)}
                for claim in ("iat", "nbf", "exp")
                if isinstance(payload.get(claim), int)
            ],
            "cookie_name": cookie_name,
            "token_size": len(cookie_name) + 1 + len(token),
            "cookie_limit": COOKIE_LIMIT,
            "seconds_left": max(0, payload["exp"] - int(now)),
            "algorithm": self.service.keys.algorithm,
            "tampers": {key: label for key, (label, _) in TAMPERS.items()},
            "signatures": SIGNATURES,
            "editor": json.dumps(payload, indent=2),
            "result": None,
        }


def current_access_token() -> str:
    """This request's access token: the one just issued, or the cookie's."""
    pair = g.get("new_pair")
    return pair.access_token if pair is not None else request.cookies.get(cookie_names()[0], "")


def _use_pair(pair: TokenPair) -> None:
    """This request is now authenticated by ``pair``; its cookies go out with the response."""
    g.access_claims = pair.access_claims
    g.new_pair = pair
    g.pop("_login_user", None)  # let Flask-Login ask the request loader again


def _authenticate() -> None:
    """Before each page: the access token, or else a silent refresh, or else anonymous."""
    g.access_claims = None
    if request.endpoint in TOKEN_FREE_ENDPOINTS or request.path.startswith("/api/"):
        return
    service: TokenService = current_app.extensions["authdemo_tokens"]
    access_name, refresh_name = cookie_names()
    access = request.cookies.get(access_name)
    if access:
        try:
            g.access_claims = service.verify(access, "access")
            return
        except InvalidToken:
            pass
    refresh = request.cookies.get(refresh_name)
    if refresh:
        try:
            _use_pair(service.refresh(refresh, load_subject))
            return
        except InvalidToken:
            g.clear_token_cookies = True
    elif access:
        g.clear_token_cookies = True


def _load_user_from_token(_request) -> Identity | None:
    claims = g.get("access_claims")
    return identity_from_claims(claims) if claims else None


def _set_cookies(response: Response) -> Response:
    """Write the new tokens, or drop dead ones, after the page is built."""
    secure = bool(current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure)
    access_name, refresh_name = cookie_names()
    pair: TokenPair | None = g.get("new_pair")
    if g.get("clear_token_cookies") and pair is None:
        response.delete_cookie(access_name, httponly=True, secure=secure, samesite="Lax")
        response.delete_cookie(refresh_name, httponly=True, secure=secure, samesite="Lax")
    elif pair is not None:
        now = pair.access_claims["iat"]
        for name, token, claims in (
            (access_name, pair.access_token, pair.access_claims),
            (refresh_name, pair.refresh_token, pair.refresh_claims),
        ):
            response.set_cookie(
                name, token, max_age=claims["exp"] - now, httponly=True, secure=secure, samesite="Lax", path="/"
            )
    return response


def init_app(app: Flask, service: TokenService) -> BrowserTokens:
    """Token cookies instead of a session store (the signed cookie keeps only the CSRF secret); the login backend."""
    from ..extensions import login_manager
    from ..sessions.verified_cookies import CachedSecureCookieSessionInterface

    app.config["SESSION_COOKIE_NAME"] = ("__Host-" if app.config["SESSION_COOKIE_SECURE"] else "") + "authdemo_csrf"
    app.session_interface = CachedSecureCookieSessionInterface()  # each cookie's signature checked once
    app.before_request(_authenticate)
    app.after_request(_set_cookies)
    login_manager.request_loader(_load_user_from_token)
    from .views import bp

    app.register_blueprint(bp)  # the token-only pages
    return BrowserTokens(service, app.extensions["authdemo_settings"].token_store)


__all__ = ["init_app", "BrowserTokens", "identity_from_claims", "cookie_names"]
