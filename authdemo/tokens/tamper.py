"""The tamper demo: change a signed token the way an attacker would, and let the server judge it."""

from __future__ import annotations

import base64
import json
import time

import jwt


def _b64decode(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _b64encode(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _edit_payload(token: str, change) -> str:
    header, payload, signature = token.split(".")
    claims = _b64decode(payload)
    change(claims)
    return f"{header}.{_b64encode(claims)}.{signature}"


def _grant_admin(claims: dict) -> None:
    claims["permissions"] = sorted(set(claims.get("permissions", [])) | {"admin.access"})
    claims["roles"] = sorted(set(claims.get("roles", [])) | {"admin"})


def _extend(claims: dict) -> None:
    claims["exp"] = int(time.time()) + 30 * 24 * 3600


def _become_user_1(claims: dict) -> None:
    claims["sub"] = "1"
    claims["username"] = "alice"


def _alg_none(token: str) -> str:
    header, payload, _ = token.split(".")
    fields = _b64decode(header)
    fields["alg"] = "none"
    return f"{_b64encode(fields)}.{payload}."


def _resign_with_guess(token: str) -> str:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    _grant_admin(claims)
    return jwt.encode(claims, "secret-guessed-by-the-attacker-0123456789", algorithm="HS256", headers=header)


TAMPERS = {
    "grant-admin": ("Add admin.access to my permissions (signature kept)", lambda t: _edit_payload(t, _grant_admin)),
    "extend": ("Make the token last 30 days (signature kept)", lambda t: _edit_payload(t, _extend)),
    "impersonate": ("Change the subject to user 1 (signature kept)", lambda t: _edit_payload(t, _become_user_1)),
    "alg-none": ('Set "alg": "none" and drop the signature', _alg_none),
    "resign": ("Grant admin and re-sign with a guessed secret", _resign_with_guess),
}


def tamper(token: str, how: str) -> str:
    """The token changed as ``how`` says (a key of TAMPERS)."""
    return TAMPERS[how][1](token)
