"""One client per server for an app (or the tasks service), opened on first use and closed together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from ..settings import Settings

EXTENSION = "authdemo_connections"


class Connections:
    """The clients of one app: the session store, the token store and the login limiter share them."""

    def __init__(self, settings: Settings, app: Flask | None = None):
        self.settings = settings
        self.app = app
        self._clients: dict[tuple, object] = {}

    def redis(self, url: str | None = None):
        """The Redis (or Redis Cluster) client for ``url`` (default AUTHDEMO_REDIS_URL)."""
        from . import redis

        url = url or self.settings.redis_url
        return self._open(("redis", url), lambda: redis.connect(url, self.settings.store_timeout))

    def memcached(self, servers: tuple[tuple[str, int], ...] | None = None):
        """The Memcached client for ``servers`` (default AUTHDEMO_MEMCACHED_SERVERS)."""
        from . import memcached

        servers = servers or self.settings.memcached_servers
        return self._open(("memcached", servers), lambda: memcached.connect(servers, self.settings.store_timeout))

    def sql(self):
        """The app's database engine (Flask-SQLAlchemy's, so the app's own queries share its pool)."""
        if self.app is None:
            raise RuntimeError("the SQL driver needs the app: the tasks service never opens the database")
        from ..extensions import db

        with self.app.app_context():
            return db.engine

    def _open(self, key: tuple, connect):
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = connect()
        return client

    def close(self) -> None:
        """Close every client opened here (the database engine belongs to Flask-SQLAlchemy)."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def get_connections(app: Flask) -> Connections:
    """The app's Connections, created on first use."""
    connections = app.extensions.get(EXTENSION)
    if connections is None:
        connections = app.extensions[EXTENSION] = Connections(app.extensions["authdemo_settings"], app)
    return connections
