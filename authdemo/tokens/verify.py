"""Token verification: strict, and with no database, so the tasks service can use it alone.

Decoding a JWT needs nothing (base64); validating it needs the key. This
module validates: signature with the one allowed algorithm, the key chosen
by ``kid`` from a fixed set (never from ``jku``/``x5u``/``jwk``/``x5c``
headers), registered claims required, the token type checked both in the
header and in the payload, and a small leeway for clock skew.
"""

from __future__ import annotations

import jwt

ISSUER = "authdemo"
AUDIENCE = "authdemo"
LEEWAY_SECONDS = 10
MAX_TOKEN_BYTES = 8192
TYPES = {"access": "at+jwt", "refresh": "rt+jwt"}
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "jti", "sub", "iss", "aud", "typ"]


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


def verify(
    token: str, *, algorithm: str, keys: dict[str, object], expected_type: str, leeway: int = LEEWAY_SECONDS
) -> dict:
    """The token's claims if it is valid for ``expected_type``; InvalidToken otherwise."""
    if not token or len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("the token is missing or too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:  # not only DecodeError: PyJWT also refuses e.g. a non-string kid here
        raise InvalidToken("the token is not a well-formed JWT") from None
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
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=min(leeway, 30),
            options={"require": REQUIRED_CLAIMS, "strict_aud": True},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("the token is not valid yet") from None
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"the token is invalid ({type(error).__name__})") from None
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
