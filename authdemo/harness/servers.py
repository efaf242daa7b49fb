"""Start and stop real Redis, memcached and PostgreSQL servers (for the lab and the tests).

Each server is our own child process on a private loopback port with its own
temp dir, so tests never touch the system services (Redis 6379, Postgres 5432).
Standard library only.
"""

import atexit
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HOST = "127.0.0.1"

_live = set()  # servers not yet cleaned up; stopped at exit if a test forgot them


class MissingBinary(Exception):
    """A server binary is not installed; .package names the Debian package that provides it."""

    def __init__(self, binary, package):
        super().__init__(f"{binary} not found (apt-get install {package})")
        self.binary = binary
        self.package = package


def _search_path():
    """PATH plus Debian's versioned PostgreSQL bin dirs (newest first), which are not on PATH."""

    def version(bindir):
        name = os.path.basename(os.path.dirname(bindir))
        return int(name) if name.isdigit() else 0

    pg_dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    return os.pathsep.join(pg_dirs + [os.environ.get("PATH", os.defpath)])


def which_or_raise(binary, package) -> str:
    """Locate a binary, or raise MissingBinary saying which package to install."""
    path = shutil.which(binary, path=_search_path())
    if path is None:
        raise MissingBinary(binary, package)
    return path


def free_port() -> int:
    """Ask the kernel for an unused loopback port (racy, but good enough for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _can_connect(port) -> bool:
    """Whether something accepts TCP connections on the loopback port."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _probe(port, request, expected) -> bool:
    """Send one request over TCP and report whether the reply starts with `expected`."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5) as sock:
            sock.sendall(request)
            return sock.recv(64).startswith(expected)
    except OSError:
        return False


class ManagedServer:
    """A server run as our child process (own session) so we can stop, crash and restart it."""

    name = "server"
    stop_signal = signal.SIGTERM
    ready_timeout = 10.0
    stop_timeout = 10.0

    def __init__(self):
        self.port = free_port()
        self.tmpdir = tempfile.mkdtemp(prefix=f"authdemo-{self.name}-")
        self.log_path = os.path.join(self.tmpdir, f"{self.name}.log")
        self._proc = None
        _live.add(self)

    # -- hooks for subclasses -------------------------------------------------

    def command(self) -> list:
        """The foreground (non-daemonizing) command line for this server."""
        raise NotImplementedError

    def ping(self) -> bool:
        """Whether the server answers a trivial request right now."""
        raise NotImplementedError

    def _popen_kwargs(self) -> dict:
        """Extra Popen arguments, e.g. to drop root privileges."""
        return {}

    # -- lifecycle ------------------------------------------------------------

    @property
    def pid(self):
        """PID (and process group id) of the running server, for tests that inspect processes."""
        return self._proc.pid if self.is_running() else None

    def is_running(self) -> bool:
        """Whether our server process is alive (it may not be ready yet)."""
        return self._proc is not None and self._proc.poll() is None

    def start(self):
        """Launch the server and block until it answers; never leaves a half-started process."""
        if self.is_running():
            return self
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                start_new_session=True,  # own process group, so kill() reaches every child
                **self._popen_kwargs(),
            )
        try:
            self.wait_ready(self.ready_timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_ready(self, timeout=10.0):
        """Poll until the server answers, raising RuntimeError with the log tail if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                code = self._proc.returncode if self._proc else None
                raise RuntimeError(
                    f"{self.name} on port {self.port} exited (code {code}) before becoming ready\n{self.log_tail()}"
                )
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} on port {self.port} not ready within {timeout}s\n{self.log_tail()}")

    def stop(self, timeout=None):
        """Shut down gracefully (so data is flushed), escalating to SIGKILL; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self.stop_signal)
        try:
            proc.wait(self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)

    def kill(self):
        """SIGKILL the server and its children without warning, to simulate a crash."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        _kill_tree(proc)

    def restart(self):
        """Graceful stop, then start again on the same port with the same data dir."""
        self.stop()
        return self.start()

    def cleanup(self):
        """Stop the server and delete its temp dir."""
        self.stop()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        _live.discard(self)

    def log_tail(self, lines=30) -> str:
        """Last lines of the server log, for error messages."""
        try:
            with open(self.log_path, "rb") as log:
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.cleanup()

    def __repr__(self):
        state = "running" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {HOST}:{self.port} {state}>"


def _kill_tree(proc):
    """SIGKILL a server, its process group and its direct children, and wait until all are gone.

    killpg alone is not enough: postgres backends call setsid(), and a restart fails
    ("shared memory block is still in use") while orphaned backends linger.
    """
    # Freeze it so it cannot fork while we look; its children's pids cannot be reused
    # while it is alive, and the unreaped leader keeps the group id reserved.
    _signal(proc.pid, signal.SIGSTOP)
    children = _children(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in children:
        _signal(pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while any(map(_alive, children)) and time.monotonic() < deadline:
        time.sleep(0.01)


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _stat(pid):
    """Fields of /proc/PID/stat after the "(comm)" field: state, ppid, pgrp, ..."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _children(ppid) -> list:
    """PIDs whose parent is ppid (Linux /proc; empty elsewhere)."""
    if not os.path.isdir("/proc"):
        return []
    children = []
    for name in os.listdir("/proc"):
        fields = _stat(name) if name.isdigit() else None
        if fields and int(fields[1]) == ppid:
            children.append(int(name))
    return children


def _alive(pid) -> bool:
    """Running and not a zombie (exited processes have already released their resources)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


@atexit.register
def _stop_leftovers():
    """Last resort: never leave servers or temp dirs behind when the test run exits."""
    for server in list(_live):
        server.stop(timeout=3)  # SIGKILLs whatever does not exit in time
        shutil.rmtree(server.tmpdir, ignore_errors=True)
        _live.discard(server)


class RedisServer(ManagedServer):
    """redis-server; appendonly=True fsyncs every write so data survives restart() and kill().

    cluster=True starts a Redis Cluster node (not yet part of a cluster: see
    RedisClusterServers). Its cluster bus gets a free port of its own (the
    default, port + 10000, may be taken or above 65535), its nodes.conf lives
    in the temp dir so restart() rejoins, a node is declared failed after 1 s,
    and the other nodes keep serving their slots meanwhile
    (cluster-require-full-coverage no).
    """

    name = "redis"

    def __init__(self, appendonly: bool = False, cluster: bool = False):
        self.binary = which_or_raise("redis-server", "redis-server")
        self.appendonly = appendonly
        self.cluster = cluster
        self.bus_port = free_port() if cluster else None
        super().__init__()

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def command(self):
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.appendonly else ["--appendonly", "no"]
        return [
            self.binary,
            "--bind",
            HOST,
            "--port",
            str(self.port),
            "--dir",
            self.tmpdir,
            "--daemonize",
            "no",
            # No RDB snapshots: only the AOF (if enabled) persists data.
            "--save",
            "",
            *persistence,
            *self._cluster_options(),
        ]

    def _cluster_options(self) -> list:
        if not self.cluster:
            return []
        return [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",
            str(self.bus_port),
            "--cluster-node-timeout",
            "1000",
            "--cluster-require-full-coverage",
            "no",
        ]

    def ping(self):
        return _probe(self.port, b"PING\r\n", b"+PONG")


class MemcachedServer(ManagedServer):
    """memcached (memory only, so every restart starts empty)."""

    name = "memcached"

    def __init__(self):
        self.binary = which_or_raise("memcached", "memcached")
        super().__init__()

    @property
    def servers(self) -> str:
        return f"{HOST}:{self.port}"

    def command(self):
        cmd = [self.binary, "-l", HOST, "-p", str(self.port), "-U", "0", "-m", "64"]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]  # memcached refuses to run as root without this
        return cmd

    def ping(self):
        return _probe(self.port, b"version\r\n", b"VERSION")


class PostgresServer(ManagedServer):
    """A throwaway PostgreSQL cluster (trust auth, fsync off), run as `postgres` when we are root."""

    name = "postgres"
    # "Fast" shutdown; SIGTERM ("smart") would wait for every client to disconnect.
    stop_signal = signal.SIGINT

    def __init__(self):
        self.postgres = which_or_raise("postgres", "postgresql")
        self.initdb = which_or_raise("initdb", "postgresql")
        self.psql_binary = which_or_raise("psql", "postgresql-client")
        self.pg_isready = shutil.which("pg_isready", path=_search_path())
        self._account = _postgres_account() if os.geteuid() == 0 else None
        super().__init__()
        self.datadir = os.path.join(self.tmpdir, "data")
        if self._account:
            os.chown(self.tmpdir, self._account.pw_uid, self._account.pw_gid)

    def url(self, dbname="postgres") -> str:
        """SQLAlchemy URL for the psycopg 3 driver."""
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/{dbname}"

    def start(self):
        """initdb on first start only, so restarts reuse the same cluster."""
        if not os.path.exists(os.path.join(self.datadir, "PG_VERSION")):
            self._run_initdb()
        return super().start()

    def _run_initdb(self):
        """Create the cluster as the postgres user (initdb refuses root)."""
        cmd = [
            self.initdb,
            "-D",
            self.datadir,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]
        with open(self.log_path, "ab") as log:
            result = subprocess.run(
                cmd,
                check=False,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                **self._popen_kwargs(),
            )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed (code {result.returncode})\n{self.log_tail()}")

    def _popen_kwargs(self):
        # initdb and postgres refuse to run as root. Popen(user=...) switches user in the
        # child before exec, so the PID we hold is the postmaster itself (no runuser wrapper).
        if self._account is None:
            return {}
        return {
            "user": self._account.pw_uid,
            "group": self._account.pw_gid,
            "extra_groups": [],
        }

    def command(self):
        # -h is listen_addresses, -k is unix_socket_directories.
        return [
            self.postgres,
            "-D",
            self.datadir,
            "-p",
            str(self.port),
            "-h",
            HOST,
            "-k",
            self.tmpdir,
            "-c",
            "fsync=off",
        ]

    def ping(self):
        if not _can_connect(self.port):
            return False
        if self.pg_isready is None:
            return True
        result = subprocess.run(
            [
                self.pg_isready,
                "-q",
                "-h",
                HOST,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-t",
                "1",
            ],
            check=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return result.returncode == 0

    def stop_immediately(self):
        """``pg_ctl stop -m immediate``: every backend dropped at once, no shutdown checkpoint, as in a crash.

        Unlike SIGKILL of the process tree, PostgreSQL itself ends each client
        connection; the next start replays the WAL (crash recovery).
        """
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        pg_ctl = shutil.which("pg_ctl", path=_search_path())
        if pg_ctl is None:
            proc.send_signal(signal.SIGQUIT)  # what pg_ctl -m immediate sends to the postmaster
        else:
            with open(self.log_path, "ab") as log:
                subprocess.run(
                    [pg_ctl, "stop", "-D", self.datadir, "-m", "immediate", "-w", "-t", "10"],
                    check=False,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=30,
                    **self._popen_kwargs(),
                )
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)

    def psql(self, sql, dbname="postgres") -> str:
        """Run SQL through psql over TCP and return its unaligned output."""
        cmd = [
            self.psql_binary,
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            HOST,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            dbname,
            "-c",
            sql,
        ]
        result = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name):
        """CREATE DATABASE, quoting the name as an identifier."""
        quoted = '"' + name.replace('"', '""') + '"'
        self.psql(f"CREATE DATABASE {quoted}")


def _postgres_account():
    """The `postgres` system user we drop to when running as root."""
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise MissingBinary("postgres system user", "postgresql") from None


def _redis_reply(port, *args) -> str:
    """Send one command to a local redis-server over RESP; its (bulk) string reply, or "" if it does not answer."""
    request = f"*{len(args)}\r\n" + "".join(f"${len(arg)}\r\n{arg}\r\n" for arg in args)
    data = b""
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(request.encode())
            while chunk := sock.recv(65536):
                data += chunk
                header, sep, rest = data.partition(b"\r\n")
                if not sep:
                    continue
                if not header.startswith(b"$"):
                    return header.decode()  # +simple string or -error
                length = int(header[1:])
                if length < 0 or len(rest) >= length + 2:
                    return rest[: max(length, 0)].decode()
    except OSError:
        pass
    return ""


class RedisClusterServers:
    """A Redis Cluster of RedisServer(cluster=True) nodes on loopback ports, every node a primary (no replicas).

    start() starts the nodes, joins them with ``redis-cli --cluster create``
    (slots split evenly) and waits until every node says cluster_state:ok.
    Stop, kill or restart one node through ``nodes``; wait_ok() after a restart.
    """

    def __init__(self, size: int = 3, appendonly: bool = True):
        self.cli = which_or_raise("redis-cli", "redis-tools")
        self.nodes = [RedisServer(appendonly=appendonly, cluster=True) for _ in range(size)]

    @property
    def url(self) -> str:
        """AUTHDEMO_REDIS_URL for this cluster."""
        return "redis+cluster://" + ",".join(f"{HOST}:{node.port}" for node in self.nodes)

    def start(self):
        """Start every node and form the cluster; never leaves half a cluster running."""
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"{HOST}:{node.port}" for node in self.nodes]
            result = subprocess.run(
                [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
                check=False,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=30,
            )
            if result.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{result.stdout}\n{result.stderr}")
            self.wait_ok()
        except BaseException:
            self.cleanup()
            raise
        return self

    def node_failed_seen(self, node) -> bool:
        """Whether every other running node has flagged ``node`` as failed (FAIL, not just suspected)."""
        others = [other for other in self.nodes if other is not node and other.is_running()]
        return bool(others) and all(_flag_of(other.port, node.port, "fail") for other in others)

    def healthy(self) -> bool:
        """Every node running, cluster_state:ok everywhere, and no node flagged failing by any other."""
        for node in self.nodes:
            if not node.is_running() or "cluster_state:ok" not in _redis_reply(node.port, "CLUSTER", "INFO"):
                return False
            table = _redis_reply(node.port, "CLUSTER", "NODES")
            if not table or "fail" in table:  # "fail" or "fail?" in someone's flags
                return False
        return True

    def wait_ok(self, timeout: float = 20.0):
        """Poll until healthy(), or raise RuntimeError with each node's view."""
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                views = "\n".join(_redis_reply(node.port, "CLUSTER", "NODES") for node in self.nodes)
                raise RuntimeError(f"Redis Cluster not healthy within {timeout}s:\n{views}")
            time.sleep(0.1)

    def wait_failed(self, node, timeout: float = 20.0):
        """Poll until the other nodes have flagged ``node`` as failed (after the node timeout, 1 s)."""
        deadline = time.monotonic() + timeout
        while not self.node_failed_seen(node):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node!r} not flagged as failed within {timeout}s")
            time.sleep(0.1)

    def cleanup(self):
        """Stop every node and delete their temp dirs."""
        for node in self.nodes:
            node.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.cleanup()


def _flag_of(asking_port, port, flag) -> bool:
    """Whether the node on ``asking_port`` lists the node on ``port`` with ``flag`` among its flags."""
    for line in _redis_reply(asking_port, "CLUSTER", "NODES").splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[1].split("@")[0].endswith(f":{port}"):
            return flag in fields[2].split(",")
    return False
