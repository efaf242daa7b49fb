"""The tamper demo: change a signed token the way an attacker would, and let the server judge it.

Every change is an edit of the payload plus what happens to the signature:
kept (the attacker cannot make a new one), dropped with ``"alg": "none"``, or
remade with a secret the attacker guessed. The visitor can also write the
payload by hand.
"""

from __future__ import annotations

import base64
import json
import time

import jwt

MAX_PAYLOAD_BYTES = 4096
GUESSED_SECRET = "secret-guessed-by-the-attacker-0123456789"
SIGNATURES = {
    "keep": "keep the original signature",
    "none": 'set "alg": "none" and drop the signature',
    "guess": "re-sign with a secret the attacker guessed",
}


class BadEdit(ValueError):
    """The edited payload cannot be used (not JSON, not an object, too large)."""


def _b64decode(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _b64encode(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    """The payload as anyone can read it (no key needed)."""
    return _b64decode(token.split(".")[1])


def forge(token: str, claims: dict, signature: str) -> str:
    """A token with ``claims`` as its payload, its signature treated as ``signature`` says (a key of SIGNATURES)."""
    header_part, _, original_signature = token.split(".")
    if signature == "none":
        header = {**_b64decode(header_part), "alg": "none"}
        return f"{_b64encode(header)}.{_b64encode(claims)}."
    if signature == "guess":
        header = jwt.get_unverified_header(token)
        return jwt.encode(claims, GUESSED_SECRET, algorithm="HS256", headers=header)
    return f"{header_part}.{_b64encode(claims)}.{original_signature}"


def parse_payload(text: str) -> dict:
    """The visitor's edited payload, or BadEdit saying what is wrong with it."""
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise BadEdit(f"The payload is larger than {MAX_PAYLOAD_BYTES} bytes.")
    try:
        claims = json.loads(text)
    except ValueError as error:
        raise BadEdit(f"The payload is not valid JSON ({error.msg}, line {error.lineno}).") from None
    if not isinstance(claims, dict):
        raise BadEdit("The payload must be a JSON object ({…}).")
    return claims


def _grant_admin(claims: dict) -> None:
    claims["permissions"] = sorted(set(claims.get("permissions", [])) | {"admin.access"})
    claims["roles"] = sorted(set(claims.get("roles", [])) | {"admin"})


def _extend(claims: dict) -> None:
    claims["exp"] = int(time.time()) + 30 * 24 * 3600


def _become_user_1(claims: dict) -> None:
    claims["sub"] = "1"
    claims["username"] = "alice"


def _unchanged(claims: dict) -> None:
    pass


#: Ready-made attacks: (label, payload edit, signature treatment).
PRESETS = {
    "grant-admin": ("Add admin.access to my permissions (signature kept)", _grant_admin, "keep"),
    "extend": ("Make the token last 30 days (signature kept)", _extend, "keep"),
    "impersonate": ("Change the subject to user 1 (signature kept)", _become_user_1, "keep"),
    "alg-none": ('Set "alg": "none" and drop the signature', _unchanged, "none"),
    "resign": ("Grant admin and re-sign with a guessed secret", _grant_admin, "guess"),
}
TAMPERS = {key: (label, signature) for key, (label, _, signature) in PRESETS.items()}


def preset(token: str, how: str) -> tuple[dict, str]:
    """The claims and signature treatment of the ready-made attack ``how``."""
    _, edit, signature = PRESETS[how]
    claims = claims_of(token)
    edit(claims)
    return claims, signature


def tamper(token: str, how: str) -> str:
    """The token changed as the preset ``how`` says."""
    return forge(token, *preset(token, how))


def diff(before: dict, after: dict) -> list[dict]:
    """What the edit changed, claim by claim: added, removed or changed."""
    rows = []
    for key in list(before) + [k for k in after if k not in before]:
        if key not in after:
            rows.append({"claim": key, "change": "removed", "before": json.dumps(before[key]), "after": ""})
        elif key not in before:
            rows.append({"claim": key, "change": "added", "before": "", "after": json.dumps(after[key])})
        elif before[key] != after[key]:
            rows.append(
                {"claim": key, "change": "changed", "before": json.dumps(before[key]), "after": json.dumps(after[key])}
            )
    return rows


def plain_reason(reason: str, algorithm: str) -> str:
    """Why the server refused the token, in words a person can follow (not the library's exception name)."""
    if "InvalidSignatureError" in reason:
        return (
            "the signature does not match the header and payload. The server recomputed it from what it received "
            "with its own key and got a different value: the token was changed after the server signed it, and "
            "without the server's key nobody can make a signature that matches."
        )
    if "algorithm is not the one accepted" in reason:
        return (
            f"the token names an algorithm the server does not accept. The server decides the algorithm "
            f'({algorithm}) and never lets the token choose, so an unsigned "alg": "none" token is refused.'
        )
    if "DecodeError" in reason or "well-formed" in reason:
        return "the token could not be read as a JWT: the edit broke its encoding."
    if "expired" in reason:
        return "the token's exp claim is in the past (and a changed exp would break the signature anyway)."
    if "revoked" in reason:
        return reason + ": the server keeps the ids of revoked tokens until they expire and refuses them."
    return reason + "."
