"""Issuing, refreshing and revoking tokens: the rules, over any TokenStore.

An access token (~5 min) carries the user's roles and permissions, so a
request needs no database: only the deny-list/version lookup, one round trip
to the token store. A refresh token (~24 h) buys a new pair; refresh
re-reads the user's roles from the database. An admin's change of roles
raises the user's authorization version, so the access tokens minted before
are refused on their next use: a browser refreshes at once, a bearer client
gets 401 and refreshes. Every refresh rotates the refresh token; presenting an old one
revokes the whole login (it was copied).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from ..wire import note, record
from .keys import KeySet
from .store import Family, TokenState, TokenStore
from .verify import AUDIENCE, ISSUER, TYPES, InvalidToken, refuse_revoked, verify


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh hands out."""

    access_token: str
    refresh_token: str
    access_claims: dict
    refresh_claims: dict
    expires_in: int


@dataclass(frozen=True)
class Subject:
    """Who a token is for, read from the database at login and at each refresh."""

    user_id: str
    username: str
    roles: list[str]
    permissions: list[str]


class TokenService:
    """Mints and checks tokens with one KeySet, and keeps revocation state in one TokenStore."""

    def __init__(
        self,
        keys: KeySet,
        store: TokenStore,
        access_ttl: int,
        refresh_ttl: int,
        leeway: int = 10,
        clock: Callable[[], float] = time.time,
    ):
        self.clock = clock
        self.keys = keys
        self.store = store
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.leeway = leeway
        #: Called as ``on_event(type, user_id=…, username=…, session_key=…, detail=…)`` (the app's event log).
        self.on_event = None

    def _emit(self, event_type: str, **fields) -> None:
        if self.on_event is not None:
            self.on_event(event_type, **fields)

    # -- minting -----------------------------------------------------------------

    def _encode(self, claims: dict, token_type: str) -> str:
        headers = {"typ": TYPES[token_type], "kid": self.keys.kid}
        with record("flask", f"JWT sign {token_type} token ({self.keys.algorithm})"):
            return jwt.encode(claims, self.keys.signing_key, algorithm=self.keys.algorithm, headers=headers)

    def _mint(
        self, subject: Subject, family_id: str, version: int, authz_version: int, refresh_expires_at: int | None
    ) -> TokenPair:
        now = int(self.clock())
        base = {"iss": ISSUER, "aud": AUDIENCE, "sub": subject.user_id, "iat": now, "nbf": now, "ver": version}
        access = {
            **base,
            "exp": now + self.access_ttl,
            "jti": secrets.token_urlsafe(16),
            "typ": "access",
            "fam": family_id,
            "username": subject.username,
            "roles": subject.roles,
            "permissions": subject.permissions,
            "azv": authz_version,  # the authorization version these permissions were read at
        }
        refresh_exp = refresh_expires_at or now + self.refresh_ttl
        refresh = {**base, "exp": refresh_exp, "jti": secrets.token_urlsafe(16), "typ": "refresh", "fam": family_id}
        return TokenPair(
            self._encode(access, "access"), self._encode(refresh, "refresh"), access, refresh, self.access_ttl
        )

    def issue(self, subject: Subject, device: str = "", ip: str = "") -> TokenPair:
        """A new login: a new family and its first pair."""
        state = self.store.lookup("", subject.user_id)
        family_id = secrets.token_urlsafe(16)
        pair = self._mint(subject, family_id, state.version, state.authz_version, None)
        now = pair.access_claims["iat"]
        self.store.create_family(
            Family(
                family_id=family_id,
                user_id=subject.user_id,
                refresh_jti=pair.refresh_claims["jti"],
                access_jti=pair.access_claims["jti"],
                access_expires_at=pair.access_claims["exp"],
                expires_at=pair.refresh_claims["exp"],
                created=now,
                last_refresh=now,
                device=device[:200],
                ip=ip[:64],
            )
        )
        self._emit("token_issued", user_id=subject.user_id, username=subject.username, session_key=family_id)
        return pair

    # -- checking ----------------------------------------------------------------

    def verify(self, token: str, expected_type: str) -> dict:
        """Signature and claims, then the deny list and the user's versions (one store round trip)."""
        return self._verify(token, expected_type)[0]

    def _verify(self, token: str, expected_type: str) -> tuple[dict, TokenState]:
        with record("flask", f"JWT signature check ({self.keys.algorithm}, {expected_type})") as item:
            try:
                claims = verify(
                    token,
                    algorithm=self.keys.algorithm,
                    keys=self.keys.verification_keys,
                    expected_type=expected_type,
                    leeway=self.leeway,
                    now=self.clock(),
                )
            except InvalidToken as error:
                item["result"] = f"refused: {error.reason}"
                raise
            item["result"] = "valid"
        # Only access tokens name permissions: a refresh token outlives a role change and buys new claims.
        state = refuse_revoked(claims, self.store, check_authorization=expected_type == "access")
        return claims, state

    def refresh(self, refresh_token: str, load_subject) -> TokenPair:
        """Rotate: a new pair from the same family; reuse of an old refresh token revokes the family.

        ``load_subject(user_id)`` re-reads roles and permissions (None if the
        user no longer exists).
        """
        claims, state = self._verify(refresh_token, "refresh")
        family_id = claims.get("fam")
        family = self.store.get_family(family_id) if isinstance(family_id, str) else None
        if family is None or family.revoked:
            raise InvalidToken("this login has ended")
        if family.refresh_jti != claims["jti"]:
            note("flask", "refresh token reuse detected", "this login is ended on every device")
            self.revoke_family(family_id)
            self._reuse_detected(family)
            raise InvalidToken("refresh token reuse detected: this login has been ended on every device")
        subject = load_subject(claims["sub"])
        if subject is None:
            self.revoke_family(family_id)
            raise InvalidToken("the account no longer exists")
        # The authorization version was read before the roles: a change committed in between
        # makes this pair stale (refreshed again), never wrong.
        pair = self._mint(subject, family_id, claims["ver"], state.authz_version, family.expires_at)
        rotated = Family(
            **{
                **family.as_dict(),
                "refresh_jti": pair.refresh_claims["jti"],
                "access_jti": pair.access_claims["jti"],
                "access_expires_at": pair.access_claims["exp"],
                "last_refresh": pair.access_claims["iat"],
            }
        )
        if not self.store.rotate(family_id, claims["jti"], rotated):
            # Another request rotated this same token first: one of the two is a copy.
            note("flask", "refresh token reuse detected", "two refreshes with one token")
            self.revoke_family(family_id)
            self._reuse_detected(family)
            raise InvalidToken("refresh token reuse detected: this login has been ended on every device")
        self._emit("token_refreshed", user_id=subject.user_id, username=subject.username, session_key=family_id)
        return pair

    def _reuse_detected(self, family: Family) -> None:
        self._emit(
            "refresh_reuse_detected",
            user_id=family.user_id,
            session_key=family.family_id,
            detail="a rotated refresh token came back: the whole login was revoked",
        )

    # -- revoking ----------------------------------------------------------------

    def revoke(self, claims: dict) -> None:
        """Deny one token; revoking a refresh token ends its whole login."""
        self.store.deny(claims["jti"], claims["exp"], claims["sub"])
        if claims.get("typ") == "refresh" and isinstance(claims.get("fam"), str):
            self.revoke_family(claims["fam"])

    def revoke_family(self, family_id: str) -> bool:
        """End one login: its family is flagged and its live access and refresh tokens denied."""
        family = self.store.revoke_family(family_id)
        if family is None:
            return False
        self.store.deny(family.access_jti, family.access_expires_at, family.user_id)
        self.store.deny(family.refresh_jti, family.expires_at, family.user_id)
        return True

    def authorization_changed(self, user_id: str) -> None:
        """The user's roles or grants changed (already committed): their access tokens are stale from now on."""
        self.store.bump_authz_version(user_id)

    def logout_everywhere(self, user_id: str) -> int:
        """Every token of the user stops working, including ones minted this very second."""
        self.store.bump_version(user_id)
        families = [f for f in self.store.user_families(user_id) if not f.revoked]
        for family in families:
            self.revoke_family(family.family_id)
        return len(families)
