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
