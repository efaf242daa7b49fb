"""The servers authdemo keeps things in: Redis (one server or a cluster), Memcached, SQL.

Each driver module opens its client from the settings, turns the client
library's outage errors into the one :class:`StoreUnavailable`, and answers
ping and stats. Session stores, token stores, the login limiter and the tasks
service take their clients from :class:`Connections` and keep only their own
data layout.
"""

from __future__ import annotations

from .base import StoreUnavailable
from .connections import Connections, get_connections

__all__ = ["StoreUnavailable", "Connections", "get_connections"]
