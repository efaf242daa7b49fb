"""Token store in this process: fast, and forgotten on restart — a revoked token comes back to life."""

from __future__ import annotations

import threading
from dataclasses import replace

from .store import Family, TokenState, TokenStore


class MemoryTokenStore(TokenStore):
    """Dicts behind a lock; expired entries are dropped as they are met and by purge."""

    name = "memory"
    native_expiry = False

    def __init__(self):
        self._lock = threading.Lock()
        self._denied: dict[str, int] = {}
        self._versions: dict[str, int] = {}
        self._authz: dict[str, int] = {}
        self._families: dict[str, Family] = {}

    def deny(self, jti: str, expires_at: int, user_id: str) -> None:
        """Remember the id until the token's own expiry."""
        with self._lock:
            self._denied[jti] = expires_at

    def lookup(self, jti: str, user_id: str) -> TokenState:
        """Whether the token is denied (and not yet expired), and the user's two versions."""
        with self._lock:
            denied_until = self._denied.get(jti)
            return TokenState(
                denied_until is not None and denied_until > self.clock(),
                self._versions.get(user_id, 0),
                self._authz.get(user_id, 0),
            )

    def bump_version(self, user_id: str) -> int:
        """Increment the user's version."""
        with self._lock:
            self._versions[user_id] = self._versions.get(user_id, 0) + 1
            return self._versions[user_id]

    def bump_authz_version(self, user_id: str) -> int:
        """Increment the user's authorization version."""
        with self._lock:
            self._authz[user_id] = self._authz.get(user_id, 0) + 1
            return self._authz[user_id]

    def create_family(self, family: Family) -> None:
        """Keep a copy, so the caller's object cannot change the stored family."""
        with self._lock:
            self._families[family.family_id] = replace(family)

    def get_family(self, family_id: str) -> Family | None:
        """A copy, if not expired."""
        with self._lock:
            family = self._families.get(family_id)
            return replace(family) if family and family.expires_at > self.clock() else None

    def rotate(self, family_id: str, old_refresh_jti: str, new: Family) -> bool:
        """Compare-and-swap under the lock."""
        with self._lock:
            family = self._families.get(family_id)
            if family is None or family.revoked or family.refresh_jti != old_refresh_jti:
                return False
            self._families[family_id] = replace(new)
            return True

    def revoke_family(self, family_id: str) -> Family | None:
        """Flag it revoked."""
        with self._lock:
            family = self._families.get(family_id)
            if family is None:
                return None
            family.revoked = True
            return replace(family)

    def user_families(self, user_id: str) -> list[Family]:
        """A scan: fine for a demo-sized process."""
        now = self.clock()
        with self._lock:
            return [replace(f) for f in self._families.values() if f.user_id == user_id and f.expires_at > now]

    def clear_expired(self) -> int:
        """Drop expired deny-list entries and families."""
        now = self.clock()
        with self._lock:
            denied = [jti for jti, until in self._denied.items() if until <= now]
            families = [fid for fid, f in self._families.items() if f.expires_at <= now]
            for jti in denied:
                del self._denied[jti]
            for fid in families:
                del self._families[fid]
            return len(denied) + len(families)
