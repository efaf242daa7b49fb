"""The /app page's refresh token: an HttpOnly, SameSite=Strict cookie that only the refresh endpoint sees.

Command-line clients keep getting both tokens in the JSON body and send the
refresh token back in the Authorization header. The page says it wants the
cookie instead by sending ``X-Refresh-Token-Delivery: cookie`` to
``/api/token`` and ``/api/token/refresh``; only then is the cookie set, and
only then is it read. A custom header cannot be added to a cross-site
request without a CORS preflight, which this API never grants, so another
site cannot make the browser spend the cookie (SameSite=Strict says the same
a second time).
"""

from __future__ import annotations

from flask import Response, current_app, request

from .bearer import ApiError
from .service import TokenPair

DELIVERY_HEADER = "X-Refresh-Token-Delivery"
COOKIE_NAME = "authdemo_app_refresh"
# The refresh endpoint alone: the cookie never rides along to /api/tasks or any page.
COOKIE_PATH = "/api/token/refresh"


def cookie_name() -> str:
    """The cookie's name; ``__Secure-`` in production, where browsers then accept it only over HTTPS."""
    return ("__Secure-" if current_app.config["SESSION_COOKIE_SECURE"] else "") + COOKIE_NAME


def wants_cookie() -> bool:
    """Whether this request comes from the page (``X-Refresh-Token-Delivery: cookie``); 400 on an unknown value."""
    value = request.headers.get(DELIVERY_HEADER)
    if value is None:
        return False
    if value not in ("body", "cookie"):  # exactly what the OpenAPI document's enum allows
        raise ApiError(400, "invalid_request", f"{DELIVERY_HEADER} must be 'cookie' or 'body'.")
    return value == "cookie"


def require_cookie_delivery() -> None:
    """400 unless the request asks for cookie delivery (the endpoints that only the page uses)."""
    if not wants_cookie():
        raise ApiError(400, "invalid_request", f"This endpoint is for the /app page: send {DELIVERY_HEADER}: cookie.")


def refresh_token_from_cookie() -> str:
    """The refresh token the page's cookie holds; 401 without a challenge error when there is none."""
    token = request.cookies.get(cookie_name(), "").strip()
    if not token:
        raise ApiError(401, "invalid_request", "No refresh cookie: log in first.", 'Bearer realm="authdemo"')
    return token


def _secure() -> bool:
    return bool(current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def set_cookie(response: Response, pair: TokenPair) -> None:
    """The rotated refresh token, for as long as its login lasts."""
    claims = pair.refresh_claims
    response.set_cookie(
        cookie_name(),
        pair.refresh_token,
        max_age=max(0, claims["exp"] - claims["iat"]),
        path=COOKIE_PATH,
        httponly=True,
        secure=_secure(),
        samesite="Strict",
    )


def clear_cookie(response: Response) -> Response:
    """Drop the page's refresh cookie (log-out, or a refresh token that no longer works)."""
    response.delete_cookie(cookie_name(), path=COOKIE_PATH, httponly=True, secure=_secure(), samesite="Strict")
    return response
