"""Helpers the test files share (fixtures stay in conftest.py): a clock tests move instead of sleeping."""

from __future__ import annotations

import time

#: Stores whose expiry runs on a real server's own clock: only there does a test wait for real.
SERVER_TTL_STORES = ("redis", "memcached")


class MovableClock:
    """The real time plus an offset a test moves forward: expiry, idle timeouts and touches without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the app, at once."""
        self.offset += seconds


def wait_for_server_ttl(seconds: float) -> None:
    """Wait for real, where a real server's own TTL is the thing under test (in steps of at most half a second)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


def let_time_pass(clock: MovableClock, store: str, seconds: float) -> None:
    """Move the app's clock; for Redis and Memcached, whose TTLs run on the server, wait as well."""
    if store.rpartition(":")[2].split("-")[0] in SERVER_TTL_STORES:
        wait_for_server_ttl(seconds)
    else:
        clock.advance(seconds)
