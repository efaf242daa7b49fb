"""The tasks service: a separate app that trusts the token alone.

    flask --app authdemo.tasks_api run --port 5001

It verifies signature, expiry, token type and the ``tasks.read`` permission
with the shared HS256 key, or with public keys fetched from
AUTHDEMO_JWKS_URL (EdDSA/RS256: then it holds nothing that can mint
tokens). It never opens the database. Browsers may read it from exactly one other
origin, the site's (AUTHDEMO_SITE_ORIGIN), where the /app page runs.

Revocation is the trade-off: with a shared Redis or Memcached token store
(AUTHDEMO_TOKEN_STORE=redis|memcached) it checks the deny list and the
user's token version too, one round trip per request. With the default
token store (the app's database) it does not, and a revoked access token
keeps working here until it expires (AUTHDEMO_JWT_ACCESS_TTL, 5 minutes).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .drivers import Connections, StoreUnavailable
from .openapi import serve as serve_openapi
from .openapi import tasks_document
from .settings import ConfigError, load_settings
from .tokens import SHARED_TOKEN_STORES, open_token_store
from .tokens.bearer import bearer_token, insufficient_scope, invalid_token, register_api_errors
from .tokens.keys import hs256_keys, keys_from_jwks
from .tokens.verify import InvalidToken, refuse_revoked, verify

JWKS_CACHE_SECONDS = 300
JWKS_MIN_REFETCH_SECONDS = 30


class JwksKeys:
    """Public keys from a JWKS URL, cached; an unknown kid triggers a refetch at most every 30 s."""

    def __init__(self, url: str, algorithm: str, timeout: float = 2.0):
        self.url, self.algorithm, self.timeout = url, algorithm, timeout
        self._keys: dict[str, object] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def get(self, kid: str | None) -> dict[str, object]:
        """The current key set, refreshed when stale or when ``kid`` is not in it."""
        now = time.monotonic()
        stale = now - self._fetched_at > JWKS_CACHE_SECONDS
        unknown = kid not in self._keys and now - self._fetched_at > JWKS_MIN_REFETCH_SECONDS
        if stale or unknown:
            with self._lock:
                try:
                    with urllib.request.urlopen(self.url, timeout=self.timeout) as answer:  # noqa: S310 - configured URL
                        self._keys = keys_from_jwks(self.algorithm, json.load(answer))
                    self._fetched_at = now
                except (OSError, ValueError):
                    if not self._keys:
                        raise InvalidToken("the signing keys cannot be fetched right now") from None
        return self._keys


def create_app(test_config: dict[str, str] | None = None) -> Flask:
    """The tasks service, configured from the same AUTHDEMO_* variables as the app."""
    settings = load_settings({**os.environ, **(test_config or {})})
    app = Flask(__name__)
    app.extensions["authdemo_settings"] = settings
    if settings.jwt_algorithm == "HS256":
        static_keys = hs256_keys(settings.jwt_secret).verification_keys

        def keys_for(kid):
            return static_keys

    else:
        if not settings.jwks_url:
            raise ConfigError(f"AUTHDEMO_JWKS_URL must be set for the tasks service with {settings.jwt_algorithm}")
        jwks = JwksKeys(settings.jwks_url, settings.jwt_algorithm)
        keys_for = jwks.get
    token_store = _shared_token_store(settings)
    register_api_errors(app)

    serve_openapi(app, "/openapi.json", tasks_document)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        """404, 405 and the like as JSON errors too, with their own headers (Allow)."""
        response = jsonify(error=(error.name or "error").lower().replace(" ", "_"), message=error.description or "")
        response.status_code = error.code or 500
        for name, value in error.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(StoreUnavailable)
    def _store_down(error: StoreUnavailable):
        return jsonify(error="store_unavailable", message=str(error)), 503, {"Retry-After": "5"}

    @app.get("/tasks")
    def tasks():
        """The tasks, for a valid access token holding tasks.read."""
        claims = _verified_claims(bearer_token(), settings, keys_for, token_store)
        if "tasks.read" not in claims.get("permissions", []):
            raise insufficient_scope("tasks.read")
        g.claims = claims
        return jsonify(
            tasks=[{"id": 1, "title": "Rotate the JWT signing key", "done": False}],
            served_by="tasks service",
            user=claims["username"],
            revocation_checked=token_store is not None,
        )

    if settings.site_origin:
        _allow_the_site(app, settings.site_origin)

    @app.get("/healthz")
    def healthz():
        """What this service trusts."""
        return jsonify(
            status="ok",
            algorithm=settings.jwt_algorithm,
            keys="jwks" if settings.jwt_algorithm != "HS256" else "shared secret",
            revocation_checked=token_store is not None,
        )

    return app


def _allow_the_site(app: Flask, origin: str) -> None:
    """CORS for exactly one origin, the site's (AUTHDEMO_SITE_ORIGIN): its /app page may read /tasks.

    No credentials mode: the page sends its access token in the Authorization
    header, and no cookie of this service is ever involved.
    """

    @app.after_request
    def _cors(response):
        response.vary.add("Origin")
        if request.headers.get("Origin") != origin:
            return response  # any other origin gets no CORS header, so its scripts cannot read the answer
        response.headers["Access-Control-Allow-Origin"] = origin
        # The page tells an expired token (refresh) from a missing permission by the challenge.
        response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            response.headers["Access-Control-Allow-Methods"] = "GET"
            response.headers["Access-Control-Allow-Headers"] = "Authorization"
            response.headers["Access-Control-Max-Age"] = "600"
        return response


def _shared_token_store(settings):
    """The deny list, when it lives somewhere this service may reach (never the app's database)."""
    if settings.token_store not in SHARED_TOKEN_STORES:
        return None
    return open_token_store(settings, Connections(settings))


def _verified_claims(token: str, settings, keys_for, token_store) -> dict:
    import jwt

    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        raise invalid_token("the token is not a well-formed JWT") from None
    try:
        claims = verify(
            token,
            algorithm=settings.jwt_algorithm,
            keys=keys_for(kid if isinstance(kid, str) else None),
            expected_type="access",
            leeway=settings.jwt_leeway,
        )
        if token_store is not None:
            refuse_revoked(claims, token_store)
    except InvalidToken as error:
        raise invalid_token(error.reason) from None
    return claims
