"""What a session is on the wire and in a store: its id, its bytes, and the two keys authdemo reads in it."""

from __future__ import annotations

import re
import secrets

import msgspec

# token_urlsafe(32) gives 43 characters; anything else in the cookie is not ours,
# and must never reach a store (memcached rejects keys with spaces, for one).
SID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
#: Created, last seen, address and browser: what the sessions page lists.
META_KEY = "_meta"
#: The session key where Flask-Login keeps the logged-in user's id.
LOGIN_USER_KEY = "_user_id"
#: Who is logged in (models.Identity.as_record), written at login: no query per request.
IDENTITY_KEY = "_identity"
#: The cookie store's login record: the authorization version of the identity its cookie carries.
AUTHZ_KEY = "_authz"
#: Cookie store: the record's version, kept until the identity is read again from the database.
PENDING_AUTHZ_KEY = "_authz_pending"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(dict)


def encode(data: dict) -> bytes:
    """Session dict to msgpack bytes (compact, and no pickle to load back)."""
    return _encoder.encode(data)


def decode(raw: bytes) -> dict | None:
    """msgpack bytes to a session dict, or None for bytes that are not one."""
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError:
        return None


def new_sid() -> str:
    """A 256-bit random session id."""
    return secrets.token_urlsafe(32)


def new_authz_version() -> str:
    """A fresh authorization version: any change of it makes the cookie store read the identity again."""
    return secrets.token_urlsafe(8)
