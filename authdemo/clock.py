"""The time as authdemo reads it: one clock per app, so a test moves it instead of sleeping.

Stores, the session activity stamps and the token service read ``clock()``
instead of ``time.time()``. A real server's own TTL (Redis, Memcached) runs on
the server's clock: only tests of those wait for real.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask

EXTENSION = "authdemo_clock"
Clock = Callable[[], float]


def get_clock(app: Flask) -> Clock:
    """The app's clock: ``time.time`` unless the app factory was handed another."""
    return app.extensions.get(EXTENSION, time.time)
