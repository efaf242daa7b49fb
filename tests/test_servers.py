"""Prove the test-server helpers really start, persist, crash and stop servers."""

import os
import socket

import pytest

from tests.servers import (
    HOST,
    MemcachedServer,
    PostgresServer,
    RedisServer,
    require,
)


def _connect_refused(port) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=0.5).close()
    except ConnectionRefusedError:
        return True
    return False


def _server_processes(pid) -> list:
    """The server PID and its children that are still alive (zombies count as gone)."""
    alive = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                state, ppid = f.read().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if state != "Z" and pid in (int(name), int(ppid)):
            alive.append(int(name))
    return alive


def _redis(port, *args) -> bytes:
    """Send one RESP command and return the raw reply."""
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection((HOST, port), timeout=2) as sock:
        sock.sendall(request)
        reply = b""
        while not reply.endswith(b"\r\n") or _bulk_incomplete(reply):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply


def _bulk_incomplete(reply) -> bool:
    if not reply.startswith(b"$"):
        return False
    header, _, body = reply.partition(b"\r\n")
    return int(header[1:]) >= 0 and len(body) < int(header[1:]) + 2


def _memcached(port, request, terminators=(b"END\r\n", b"STORED\r\n")) -> bytes:
    with socket.create_connection((HOST, port), timeout=2) as sock:
        sock.sendall(request)
        reply = b""
        while not reply.endswith(terminators):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply


@pytest.fixture
def redis_binary():
    require("redis-server", "redis-server")


@pytest.mark.usefixtures("redis_binary")
def test_redis_without_appendonly_loses_data_on_restart():
    with RedisServer() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert _redis(server.port, "SET", "k", "v") == b"+OK\r\n"
        server.restart()
        assert _redis(server.port, "GET", "k") == b"$-1\r\n"


@pytest.mark.usefixtures("redis_binary")
def test_redis_with_appendonly_keeps_data_on_restart():
    with RedisServer(appendonly=True) as server:
        assert _redis(server.port, "SET", "k", "kept") == b"+OK\r\n"
        server.restart()
        assert _redis(server.port, "GET", "k") == b"$4\r\nkept\r\n"


@pytest.mark.usefixtures("redis_binary")
def test_kill_refuses_connections_and_restart_recovers():
    with RedisServer(appendonly=True) as server:
        port = server.port
        _redis(port, "SET", "k", "survives-crash")
        server.kill()
        assert not server.is_running()
        assert _connect_refused(port)
        server.restart()
        assert server.port == port
        assert _redis(port, "GET", "k") == b"$14\r\nsurvives-crash\r\n"


def test_memcached_loses_data_on_restart():
    require("memcached", "memcached")
    with MemcachedServer() as server:
        assert server.servers == f"127.0.0.1:{server.port}"
        assert _memcached(server.port, b"set k 0 0 3\r\nabc\r\n") == b"STORED\r\n"
        assert _memcached(server.port, b"get k\r\n") == b"VALUE k 0 3\r\nabc\r\nEND\r\n"
        server.restart()
        assert _memcached(server.port, b"get k\r\n") == b"END\r\n"


def test_postgres_persists_across_restart_and_crash_and_stops_cleanly():
    require("postgres", "postgresql")
    require("psql", "postgresql-client")
    server = PostgresServer()
    try:
        server.start()
        assert server.url("app") == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/app"
        server.create_database("app")
        server.psql("CREATE TABLE t (x text); INSERT INTO t VALUES ('kept')", dbname="app")

        server.restart()
        assert server.psql("SELECT x FROM t", dbname="app") == "kept"

        pid = server.pid
        # The postmaster plus checkpointer, walwriter, ...
        assert len(_server_processes(pid)) > 1
        server.kill()
        assert _server_processes(pid) == []
        assert _connect_refused(server.port)

        server.restart()  # crash recovery
        server.psql("INSERT INTO t VALUES ('after crash')", dbname="app")
        assert server.psql("SELECT count(*) FROM t", dbname="app") == "2"

        pid = server.pid
        server.stop()
        server.stop()  # idempotent
        assert _server_processes(pid) == []
        assert _connect_refused(server.port)
    finally:
        server.cleanup()
    assert not os.path.exists(server.tmpdir)


def test_require_skips_or_fails_when_binary_is_missing(monkeypatch):
    monkeypatch.delenv("AUTHDEMO_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install some-package"):
        require("no-such-binary-xyz", "some-package")
    monkeypatch.setenv("AUTHDEMO_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install some-package"):
        require("no-such-binary-xyz", "some-package")
