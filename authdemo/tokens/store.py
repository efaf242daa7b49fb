"""Where revocation state lives: the deny list, refresh-token families, and per-user token versions.

A JWT needs no lookup until you want to take it back. These are the
lookups that taking it back costs:

- the deny list: ids (``jti``) of tokens revoked before they expire, each
  kept until that token's own expiry, then forgotten;
- refresh-token families: one per login, holding the id of the only refresh
  token of that login that may still be used. Using an older one means it
  was copied: the whole family is revoked (RFC 9700 §4.14.2);
- a version per user: "log out everywhere" raises it, and every token
  carrying an older version is refused, whatever second it was issued in;
- an authorization version per user: an admin's change of the user's roles
  or grants raises it, and every access token minted before (whose claims
  name the old permissions) is refused; the browser refreshes at once and
  gets the new claims, a bearer client gets 401 and refreshes. Refresh
  tokens do not carry it: the login goes on.

The three are read together, in one round trip (``lookup``), on every request.

Each backend implements the primitives atomically; the rules live in
``service.py``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class TokenState:
    """What one ``lookup`` answers: is the token denied, and the user's two versions."""

    denied: bool
    version: int
    authz_version: int


@dataclass
class Family:
    """One login's chain of refresh tokens, and the access token last issued from it."""

    family_id: str
    user_id: str
    refresh_jti: str
    access_jti: str
    access_expires_at: int
    expires_at: int
    created: int
    last_refresh: int
    device: str = ""
    ip: str = ""
    revoked: bool = False

    def as_dict(self) -> dict:
        """Plain data, for backends that store JSON."""
        return dict(self.__dict__)


class TokenStore(ABC):
    """Revocation state with expiry. Every method may raise StoreUnavailable."""

    name: str = ""
    native_expiry: bool = True
    #: What the store reads the time from, where it keeps expiries itself (the app's clock: see authdemo.clock).
    clock = staticmethod(time.time)

    @abstractmethod
    def deny(self, jti: str, expires_at: int, user_id: str) -> None:
        """Refuse the token ``jti`` of ``user_id`` until ``expires_at`` (its own exp).

        The user is part of where the entry lives (Redis keeps it in the user's
        cluster slot, next to their version), so ``check`` must be asked with the same one.
        """

    @abstractmethod
    def lookup(self, jti: str, user_id: str) -> TokenState:
        """Is ``jti`` denied, and the user's token and authorization versions, in one round trip: the hot path."""

    def check(self, jti: str, user_id: str) -> tuple[bool, int]:
        """(denied, token version): what a verifier that ignores role changes (the tasks service) needs."""
        state = self.lookup(jti, user_id)
        return state.denied, state.version

    @abstractmethod
    def bump_version(self, user_id: str) -> int:
        """Raise the user's token version (log out everywhere) and return it; versions never expire."""

    @abstractmethod
    def bump_authz_version(self, user_id: str) -> int:
        """Raise the user's authorization version (their roles or grants changed) and return it."""

    @abstractmethod
    def create_family(self, family: Family) -> None:
        """Record a new login's family."""

    @abstractmethod
    def get_family(self, family_id: str) -> Family | None:
        """The family, or None if unknown or expired."""

    @abstractmethod
    def rotate(self, family_id: str, old_refresh_jti: str, new: Family) -> bool:
        """Atomically replace the family's current refresh token if it is still ``old_refresh_jti``.

        False means another refresh already used it (or the family is
        revoked): the caller treats that as reuse.
        """

    @abstractmethod
    def revoke_family(self, family_id: str) -> Family | None:
        """Mark the family revoked and return it (so its live tokens can be denied)."""

    @abstractmethod
    def user_families(self, user_id: str) -> list[Family]:
        """The user's families that have not expired (revoked ones included)."""

    def version(self, user_id: str) -> int:
        """The user's current token version (new tokens carry it)."""
        return self.lookup("", user_id).version

    def clear_expired(self) -> int:
        """Drop expired deny-list entries and families; a no-op where the store expires them itself."""
        return 0

    def ping(self) -> None:  # noqa: B027 - the memory store always answers
        """Raise StoreUnavailable unless the store answers."""

    def stats(self) -> dict:
        """Store-specific figures for /healthz."""
        return {}

    def close(self) -> None:  # noqa: B027 - most stores hold nothing to release
        """Release connections."""
