"""Database store: the app's own database (SQLite by default, PostgreSQL in production).

Persistent across every restart, and the slowest of the server-side stores:
a session write is a committed transaction. A database has no TTL, so
expired rows stay until ``flask sessions purge`` removes them (loads ignore
them meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..drivers import sql as driver
from ..models import SessionRecord
from .base import SessionStore

table = SessionRecord.__table__
# The hot statements, built once: constructing a statement costs more than SQLite takes to run it.
LOAD = select(table.c.data).where(table.c.sid == bindparam("sid"), table.c.expires_at > bindparam("now"))
UPDATE = (
    update(table)
    .where(table.c.sid == bindparam("key"))
    .values(data=bindparam("data"), expires_at=bindparam("expires_at"), user_id=bindparam("user_id"))
)
INSERT = table.insert().values(
    sid=bindparam("key"), data=bindparam("data"), expires_at=bindparam("expires_at"), user_id=bindparam("user_id")
)


class SqlAlchemySessionStore(SessionStore):
    """One row per session in the ``sessions`` table, with an indexed ``user_id``."""

    name = "sqlalchemy"
    native_expiry = False

    def __init__(self, engine: Engine, name: str = "sqlalchemy"):
        self.name = name
        # Core statements on the engine, not the ORM session: a session load
        # must not share a transaction with the request's own queries.
        self.engine = engine
        self._load = driver.HotRead(engine, LOAD, name)

    def load(self, sid: str) -> bytes | None:
        """The row's data if it has not expired."""
        row = self._load.first({"sid": sid, "now": int(self.clock())})  # on every logged-in request
        return row[0] if row else None

    def load_many(self, sids: Iterable[str]) -> dict[str, bytes]:
        """Live rows among ``sids``."""
        sids = list(sids)
        if not sids:
            return {}
        query = select(table.c.sid, table.c.data).where(table.c.sid.in_(sids), table.c.expires_at > int(self.clock()))
        with driver.answering(self.name), self.engine.connect() as conn:
            return {sid: data for sid, data in conn.execute(query)}

    def save(self, sid: str, data: bytes, ttl: int, user_id: str | None, *, must_exist: bool = False) -> bool:
        """UPDATE the row, or INSERT it when there is none (retrying once on a racing insert)."""
        values = {"key": sid, "data": data, "expires_at": int(self.clock()) + ttl, "user_id": user_id}
        with driver.answering(self.name):
            for _ in range(2):
                with self.engine.begin() as conn:
                    if conn.execute(UPDATE, values).rowcount:
                        return True
                if must_exist:
                    return False
                try:
                    with self.engine.begin() as conn:
                        conn.execute(INSERT, values)
                    return True
                except IntegrityError:
                    continue  # another request inserted it between our UPDATE and INSERT
            return False

    def delete(self, sid: str, user_id: str | None) -> None:
        """Remove the session's row (the index is the row's own user_id column)."""
        with driver.answering(self.name), self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.sid == sid))

    def user_sids(self, user_id: str) -> set[str]:
        """One indexed query on ``user_id``."""
        query = select(table.c.sid).where(table.c.user_id == user_id, table.c.expires_at > int(self.clock()))
        with driver.answering(self.name), self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    def ping(self) -> None:
        """SELECT 1."""
        with driver.answering(self.name):
            driver.ping(self.engine)

    def clear_expired(self) -> int:
        """DELETE every expired row."""
        with driver.answering(self.name), self.engine.begin() as conn:
            return conn.execute(delete(table).where(table.c.expires_at <= int(self.clock()))).rowcount

    def stats(self) -> dict:
        """Rows stored, live and expired-but-not-purged."""
        now = int(self.clock())
        with driver.answering(self.name), self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(table)).scalar_one()
            live = conn.execute(select(func.count()).where(table.c.expires_at > now)).scalar_one()
        return {"sessions": live, "expired_not_purged": total - live}
