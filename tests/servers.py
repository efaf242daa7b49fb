"""The lab's real servers, plus the test-side rule for a missing binary."""

import os

from authdemo.harness.servers import (  # noqa: F401 - re-exported for the tests
    HOST,
    ManagedServer,
    MemcachedServer,
    MissingBinary,
    PostgresServer,
    RedisClusterServers,
    RedisServer,
    free_port,
    which_or_raise,
)

REQUIRE_ENV = "AUTHDEMO_REQUIRE_SERVICES"


def require(binary: str, package: str) -> str:
    """In a test: skip if the binary is missing, or fail when AUTHDEMO_REQUIRE_SERVICES=1."""
    import pytest

    try:
        return which_or_raise(binary, package)
    except MissingBinary as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{exc} and {REQUIRE_ENV}=1")
        pytest.skip(str(exc))
