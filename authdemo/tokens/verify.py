"""Token verification: strict, and with no database, so the tasks service can use it alone.

Decoding a JWT needs nothing (base64); validating it needs the key. This
module validates: signature with the one allowed algorithm, the key chosen
by ``kid`` from a fixed set (never from ``jku``/``x5u``/``jwk``/``x5c``
headers), registered claims required, the token type checked both in the
header and in the payload, and a small leeway for clock skew.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

import jwt
from jwt.algorithms import get_default_algorithms

ISSUER = "authdemo"
AUDIENCE = "authdemo"
LEEWAY_SECONDS = 10
MAX_TOKEN_BYTES = 8192
TYPES = {"access": "at+jwt", "refresh": "rt+jwt"}
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "jti", "sub", "iss", "aud", "typ"]
_ALGORITHMS = get_default_algorithms()


class InvalidToken(Exception):
    """The token must be refused; ``reason`` says why (safe to show the client)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def unverified_parts(token: str) -> tuple[dict, dict]:
    """Header and payload as anyone can read them: decoded, not validated."""
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    return header, payload


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _json_object(part: str) -> dict:
    try:
        value = json.loads(_b64decode(part))
    except (ValueError, binascii.Error):
        raise InvalidToken("the token is not a well-formed JWT") from None
    if not isinstance(value, dict):
        raise InvalidToken("the token is not a well-formed JWT")
    return value


# Prepared verification keys, by the key object they came from (kept alive beside it, so ids are not reused).
_prepared: dict[int, tuple[object, object]] = {}


def _signature_valid(algorithm: str, key: object, signing_input: bytes, signature: bytes) -> bool:
    """HS256 is one HMAC, compared in constant time; EdDSA and RS256 through PyJWT's algorithm objects."""
    if algorithm == "HS256" and isinstance(key, bytes):
        return hmac.compare_digest(hmac.new(key, signing_input, hashlib.sha256).digest(), signature)
    entry = _prepared.get(id(key))
    if entry is None or entry[0] is not key:
        entry = (key, _ALGORITHMS[algorithm].prepare_key(key))
        _prepared[id(key)] = entry
    return _ALGORITHMS[algorithm].verify(signing_input, entry[1], signature)


def _number(claims: dict, name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"the token is invalid (the {name} claim is not a number)")
    return value


def verify(
    token: str,
    *,
    algorithm: str,
    keys: dict[str, object],
    expected_type: str,
    leeway: int = LEEWAY_SECONDS,
    now: float | None = None,
) -> dict:
    """The token's claims if it is valid for ``expected_type``; InvalidToken otherwise.

    The compact form is parsed once and checked by hand with PyJWT's
    algorithms: PyJWT's own decode parses the header twice and builds its
    options on every call, which cost ~2× a bare signature check here
    (docs/performance.md). The rules are PyJWT's with ``strict_aud`` and
    every claim required.
    """
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("the token is missing or too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("the token is not a well-formed JWT")
    header = _json_object(parts[0])
    if header.get("alg") != algorithm:
        raise InvalidToken(f"the token's algorithm is not the one accepted ({algorithm})")
    if "crit" in header:
        raise InvalidToken("the token asks for critical extensions that are not supported")
    if header.get("typ") != TYPES[expected_type]:
        raise InvalidToken(f"this is not an {expected_type} token")
    key = keys.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
    if key is None:
        raise InvalidToken("the token's key id is unknown")
    try:
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error):
        raise InvalidToken("the token is not a well-formed JWT") from None
    if not _signature_valid(algorithm, key, f"{parts[0]}.{parts[1]}".encode(), signature):
        raise InvalidToken("the token is invalid (InvalidSignatureError)")
    claims = _json_object(parts[1])
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise InvalidToken(f"the token is invalid (MissingRequiredClaimError: {missing[0]})")
    now, leeway = (time.time() if now is None else now), min(leeway, 30)  # ``now``: a test's clock
    if _number(claims, "exp") <= now - leeway:
        raise InvalidToken("the token has expired")
    if _number(claims, "nbf") > now + leeway or _number(claims, "iat") > now + leeway:
        raise InvalidToken("the token is not valid yet")
    if claims["iss"] != ISSUER:
        raise InvalidToken("the token is invalid (InvalidIssuerError)")
    if not isinstance(claims["aud"], str) or claims["aud"] != AUDIENCE:  # strict: one audience, a string
        raise InvalidToken("the token is invalid (InvalidAudienceError)")
    if claims.get("typ") != expected_type:
        raise InvalidToken(f"this is not an {expected_type} token")
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("jti"), str):
        raise InvalidToken("the token's subject or id is malformed")
    return claims


def refuse_revoked(claims: dict, store, check_authorization: bool = False):
    """InvalidToken if the token is on the deny list or older than its user's last log-out-everywhere.

    The one revocation rule, used by the app and the tasks service alike:
    one round trip to the token store (``store.lookup``), whose answer is
    returned. With ``check_authorization`` (the app's access tokens) a token
    minted before the user's roles last changed is refused too; the tasks
    service does not ask, and keeps the old claims until the token expires.
    """
    state = store.lookup(claims["jti"], claims["sub"])
    if state.denied:
        raise InvalidToken("the token has been revoked")
    if not isinstance(claims.get("ver"), int) or claims["ver"] < state.version:
        raise InvalidToken("the token was revoked by a log-out-everywhere")
    if check_authorization and (not isinstance(claims.get("azv"), int) or claims["azv"] < state.authz_version):
        raise InvalidToken("the user's roles or permissions have changed: refresh the token")
    return state
