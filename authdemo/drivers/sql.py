"""SQL through SQLAlchemy: what counts as an outage, and ping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .base import StoreUnavailable


@contextmanager
def answering(store: str = "sqlalchemy", kind: str = "session") -> Iterator[None]:
    """Turn an outage inside the block into StoreUnavailable; constraint errors and bugs pass through.

    A connection the server dropped mid-statement (a PostgreSQL restart) is
    an outage too: SQLAlchemy flags it ``connection_invalidated`` whatever
    DBAPI error class the driver chose.
    """
    try:
        yield
    except (OperationalError, PoolTimeout) as exc:
        raise StoreUnavailable(store, type(getattr(exc, "orig", exc)).__name__, kind) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(store, "connection lost", kind) from exc
        raise


def ping(engine: Engine) -> None:
    """SELECT 1 on a pooled connection."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


class HotRead:
    """One read-only statement run straight on a pooled DBAPI connection: the per-request lookups.

    Through a SQLAlchemy Connection a one-row primary-key SELECT cost ~3× the
    same statement on the DBAPI cursor (compiled-cache lookup, execution
    context, result wrapping, the connection's own events; docs/performance.md).
    The statement is compiled once for the engine's dialect; the pool still
    checks connections out and in (pre-ping included), and a connection that
    fails mid-statement is invalidated, so the pool replaces it.
    """

    def __init__(self, engine: Engine, statement, store: str, kind: str = "session"):
        compiled = statement.compile(dialect=engine.dialect)
        self.engine = engine
        self.sql = compiled.string
        self._compiled = compiled
        self.store, self.kind = store, kind
        self._errors = (engine.dialect.dbapi.OperationalError, engine.dialect.dbapi.InterfaceError)

    def first(self, params: dict) -> tuple | None:
        """The first row, or None; StoreUnavailable when the database does not answer."""
        values = self._compiled.construct_params(params)
        args = tuple(values[name] for name in self._compiled.positiontup) if self._compiled.positional else values
        try:
            with answering(self.store, self.kind):  # a pool timeout, an error SQLAlchemy wrapped
                connection = self.engine.raw_connection()
        except self._errors as exc:  # the DBAPI's own, from a (re)connect at check-out
            raise StoreUnavailable(self.store, type(exc).__name__, self.kind) from exc
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(self.sql, args)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except self._errors as exc:
            connection.invalidate(exc)
            raise StoreUnavailable(self.store, type(exc).__name__, self.kind) from exc
        finally:
            connection.close()
        return tuple(bytes(value) if isinstance(value, memoryview) else value for value in row) if row else None
