"""Token store in the app's database: revocations survive every restart; purge removes expired rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ..drivers import StoreUnavailable
from ..drivers import sql as driver
from ..models import token_denylist, token_families, token_versions
from .store import Family, TokenState, TokenStore

# The per-request statement, built once (building one costs more than SQLite takes to run it):
# one SELECT of three scalar subqueries, each a primary-key lookup.
_USER_ROW = token_versions.c.user_id == bindparam("user_id")
LOOKUP = select(
    exists().where(token_denylist.c.jti == bindparam("jti"), token_denylist.c.expires_at > bindparam("now")),
    select(token_versions.c.version).where(_USER_ROW).scalar_subquery(),
    select(token_versions.c.authz_version).where(_USER_ROW).scalar_subquery(),
)


class SqlAlchemyTokenStore(TokenStore):
    """Three tables; rotation is one conditional UPDATE, so two racing refreshes cannot both win."""

    name = "sqlalchemy"
    native_expiry = False

    def __init__(self, engine: Engine):
        self.engine = engine
        self._lookup = driver.HotRead(engine, LOOKUP, self.name, "token")

    @contextmanager
    def _connection(self, write: bool = False) -> Iterator[Connection]:
        with driver.answering(self.name, "token"), self.engine.begin() if write else self.engine.connect() as conn:
            yield conn

    def deny(self, jti: str, expires_at: int, user_id: str) -> None:
        """INSERT, ignoring a repeat."""
        try:
            with self._connection(write=True) as conn:
                conn.execute(insert(token_denylist).values(jti=jti, expires_at=expires_at))
        except IntegrityError:
            pass  # already denied

    def lookup(self, jti: str, user_id: str) -> TokenState:
        """One statement: three primary-key lookups (on the DBAPI cursor: it runs on every request)."""
        denied, version, authz = self._lookup.first({"jti": jti, "now": int(self.clock()), "user_id": user_id})
        return TokenState(bool(denied), version or 0, authz or 0)

    def bump_version(self, user_id: str) -> int:
        """UPDATE … version + 1, or INSERT the first one."""
        return self._bump(user_id, "version")

    def bump_authz_version(self, user_id: str) -> int:
        """UPDATE … authz_version + 1, or INSERT the first one."""
        return self._bump(user_id, "authz_version")

    def _bump(self, user_id: str, column: str) -> int:
        counter = token_versions.c[column]
        for _ in range(2):
            with self._connection(write=True) as conn:
                bumped = conn.execute(
                    update(token_versions)
                    .where(token_versions.c.user_id == user_id)
                    .values({column: counter + 1})
                    .returning(counter)
                ).scalar_one_or_none()
                if bumped is not None:
                    return bumped
            try:
                with self._connection(write=True) as conn:
                    conn.execute(
                        insert(token_versions).values({"user_id": user_id, "version": 0, "authz_version": 0, column: 1})
                    )
                return 1
            except IntegrityError:
                continue  # a concurrent first bump won: bump again on top of it
        raise StoreUnavailable(self.name, "version update kept racing", kind="token")

    def create_family(self, family: Family) -> None:
        """Insert the family's row."""
        with self._connection(write=True) as conn:
            conn.execute(insert(token_families).values(**family.as_dict()))

    def get_family(self, family_id: str) -> Family | None:
        """The family, if it has not expired."""
        with self._connection() as conn:
            row = conn.execute(
                select(token_families).where(
                    token_families.c.family_id == family_id, token_families.c.expires_at > int(self.clock())
                )
            ).first()
        return Family(**row._mapping) if row else None

    def rotate(self, family_id: str, old_refresh_jti: str, new: Family) -> bool:
        """UPDATE … WHERE refresh_jti = old AND NOT revoked: exactly one racer gets rowcount 1."""
        values = new.as_dict()
        values.pop("family_id")
        with self._connection(write=True) as conn:
            result = conn.execute(
                update(token_families)
                .where(
                    token_families.c.family_id == family_id,
                    token_families.c.refresh_jti == old_refresh_jti,
                    token_families.c.revoked.is_(False),
                )
                .values(**values)
            )
        return result.rowcount == 1

    def revoke_family(self, family_id: str) -> Family | None:
        """UPDATE … revoked, then read back the tokens to deny."""
        with self._connection(write=True) as conn:
            conn.execute(update(token_families).where(token_families.c.family_id == family_id).values(revoked=True))
            row = conn.execute(select(token_families).where(token_families.c.family_id == family_id)).first()
        return Family(**row._mapping) if row else None

    def user_families(self, user_id: str) -> list[Family]:
        """The user's families that have not expired, in one indexed query."""
        with self._connection() as conn:
            rows = conn.execute(
                select(token_families).where(
                    token_families.c.user_id == user_id, token_families.c.expires_at > int(self.clock())
                )
            ).all()
        return [Family(**row._mapping) for row in rows]

    def clear_expired(self) -> int:
        """DELETE expired deny-list rows and families."""
        now = int(self.clock())
        with self._connection(write=True) as conn:
            denied = conn.execute(delete(token_denylist).where(token_denylist.c.expires_at <= now)).rowcount
            families = conn.execute(delete(token_families).where(token_families.c.expires_at <= now)).rowcount
        return denied + families

    def ping(self) -> None:
        """Count the version rows: answers only when the database is up and the token tables exist."""
        with self._connection() as conn:
            conn.execute(select(func.count()).select_from(token_versions)).scalar_one()
