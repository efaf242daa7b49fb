"""The JSON API: tokens for API clients, with RFC 6750 errors.

Tokens come only from the Authorization header (scheme name in any case),
never from the query string, where logs and Referer headers would leak them.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, Response, after_this_request, current_app, g, jsonify, request

from .. import reasons
from ..events import record, user_id_for
from ..extensions import csrf
from ..models import User
from ..tasks import TITLE_MAX, clean_title
from . import get_service, load_subject, refresh_cookie
from .bearer import ApiError, bearer_token, insufficient_scope, invalid_token, register_api_errors
from .service import TokenPair
from .verify import InvalidToken

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # bearer tokens are not sent by browsers on their own: no CSRF to defend against
register_api_errors(bp)


def token_required(token_type: str = "access", permission: str | None = None):
    """Verify the bearer token (and a permission); the claims land in ``g.claims``."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            try:
                g.claims = get_service().verify(bearer_token(), token_type)
            except InvalidToken as error:
                raise invalid_token(error.reason) from None
            if permission and permission not in g.claims.get("permissions", []):
                raise insufficient_scope(permission)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def json_body():
    """The parsed JSON body, None when there is none; 400 naming the problem when it is not usable JSON."""
    if not request.is_json:
        return None
    try:
        return current_app.json.loads(request.get_data())
    except ValueError as error:  # Flask's own 400 hides the reason outside debug mode
        raise ApiError(400, "invalid_request", f"The body is not usable JSON: {error}.") from None


def _tokens_response(pair: TokenPair) -> Response:
    if refresh_cookie.wants_cookie():
        # The /app page: the refresh token goes into an HttpOnly cookie, never into JavaScript.
        refresh_expires_in = pair.refresh_claims["exp"] - pair.refresh_claims["iat"]
        response = jsonify(
            access_token=pair.access_token,
            token_type="Bearer",
            expires_in=pair.expires_in,
            refresh_token_delivery="cookie",
            refresh_expires_in=refresh_expires_in,
        )
        refresh_cookie.set_cookie(response, pair)
    else:
        response = jsonify(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            token_type="Bearer",
            expires_in=pair.expires_in,
        )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.route("/api/token", methods=["POST"])
@bp.route("/api/token/", methods=["POST"])
def token():
    """Username and password for an access and a refresh token."""
    refresh_cookie.wants_cookie()  # an unknown delivery is a 400 before any password is checked
    body = json_body()
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("username"), str)
        or not isinstance(body.get("password"), str)
    ):
        raise ApiError(400, "invalid_request", 'Send JSON {"username": "...", "password": "..."}.')
    user = User.authenticate(body["username"][:64], body["password"][:1024])
    if user is None:
        attempted = body["username"][:64]
        record("login_failed", user_id=user_id_for(attempted), username=attempted, detail="POST /api/token")
        raise ApiError(401, "invalid_grant", "Invalid username or password.")
    record("login_succeeded", user_id=user.id, username=user.username, detail="POST /api/token")
    subject = load_subject(str(user.id))
    pair = get_service().issue(subject, device=request.user_agent.string or "API client", ip=request.remote_addr or "")
    return _tokens_response(pair)


@bp.route("/api/token/refresh", methods=["POST"])
@bp.route("/api/token/refresh/", methods=["POST"])
def refresh():
    """A refresh token for a new pair; the refresh token rotates."""
    from_cookie = refresh_cookie.wants_cookie()
    token = refresh_cookie.refresh_token_from_cookie() if from_cookie else bearer_token()
    try:
        pair = get_service().refresh(token, load_subject)
    except InvalidToken as error:
        if from_cookie:
            after_this_request(refresh_cookie.clear_cookie)  # a dead cookie is of no use to keep
        raise invalid_token(error.reason) from None
    return _tokens_response(pair)


@bp.route("/api/token/refresh", methods=["DELETE"])
@bp.route("/api/token/refresh/", methods=["DELETE"])
def end_page_login():
    """The /app page's log-out: revoke the refresh cookie's whole login and clear the cookie.

    Like token revocation (RFC 7009 §2.2), an unknown or dead token is not an
    error: the login is over either way.
    """
    refresh_cookie.require_cookie_delivery()
    token = request.cookies.get(refresh_cookie.cookie_name(), "").strip()
    service = get_service()
    revoked = None
    if token:
        try:
            claims = service.verify(token, "refresh")
        except InvalidToken:
            pass
        else:
            service.revoke(claims)
            revoked = claims["fam"]
            record("logout", user_id=claims["sub"], session_key=revoked, detail="DELETE /api/token/refresh (/app)")
    response = jsonify(logged_out=True, login_ended=revoked is not None)
    response.headers["Cache-Control"] = "no-store"
    return refresh_cookie.clear_cookie(response)


@bp.route("/api/token/revoke", methods=["POST"])
@bp.route("/api/token/revoke/", methods=["POST"])
def revoke():
    """Revoke the presented access or refresh token (a refresh token ends its whole login)."""
    token = bearer_token()
    service = get_service()
    for token_type in ("access", "refresh"):
        try:
            claims = service.verify(token, token_type)
        except InvalidToken as error:
            last_error = error
            continue
        service.revoke(claims)
        record("token_revoked", user_id=claims["sub"], session_key=claims.get("fam"), detail=f"{token_type} token")
        return jsonify(revoked=claims["jti"], token_type=token_type)
    raise invalid_token(last_error.reason)


@bp.route("/api/logout-all", methods=["POST"])
@token_required()
def logout_all():
    """Every token of the user stops working."""
    if current_app.extensions["authdemo_settings"].auth_mode == "jwt":
        reasons.bury(reasons.live_handles(g.claims["sub"]), reasons.LOGOUT_EVERYWHERE)  # the browsers' logins too
    ended = get_service().logout_everywhere(g.claims["sub"])
    record(
        "logout_everywhere",
        user_id=g.claims["sub"],
        username=g.claims.get("username", ""),
        session_key=g.claims.get("fam"),
        detail=f"{ended} ended (API)",
    )
    return jsonify(logins_ended=ended)


@bp.route("/api/me")
@token_required()
def me():
    """Who the token says you are: read from the token, no database."""
    claims = g.claims
    return jsonify(
        sub=claims["sub"], username=claims["username"], roles=claims["roles"], permissions=claims["permissions"]
    )


@bp.route("/api/tasks")
@token_required(permission="tasks.read")
def tasks():
    """An example resource that needs tasks.read."""
    return jsonify(tasks=current_app.extensions["authdemo_tasks"].all())


@bp.route("/api/tasks", methods=["POST"])
@token_required(permission="tasks.write")
def add_task():
    """Add a task: JSON {"title"}; needs tasks.write."""
    body = json_body()
    title = clean_title(body.get("title")) if isinstance(body, dict) else None
    if title is None:
        raise ApiError(400, "invalid_request", f'Send JSON {{"title": "..."}} with 1 to {TITLE_MAX} characters.')
    task = current_app.extensions["authdemo_tasks"].add(title, g.claims["username"])
    return jsonify(task=task), 201


@bp.route("/api/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API."""
    from ..openapi import api_document

    return jsonify(api_document())


@bp.route("/.well-known/jwks.json")
def jwks():
    """The public keys (EdDSA or RS256); empty with HS256, whose key is a shared secret."""
    response = jsonify(get_service().keys.public_jwks)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
