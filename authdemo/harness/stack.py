"""The production shape on one machine: nginx (TLS, static files) → two gunicorn instances → one store.

Every process is our own child in the foreground (nginx with ``daemon off``),
on loopback ports, with its config, pid file and logs in a temp dir, so
stopping the stack (Ctrl-C, a test's finalizer) leaves nothing behind. The
store itself (Redis, Memcached, the database) is whatever the AUTHDEMO_*
variables point at; both instances share it.

    python -m authdemo.harness.stack serve     # what `make serve` runs
"""

from __future__ import annotations

import argparse
import http.client
import os
import pwd
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from .servers import HOST, ManagedServer, MissingBinary, free_port, which_or_raise

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config"
PLACEHOLDER = re.compile(r"\$\{(NGINX_[A-Z0-9_]+)\}")
INSTANCE_NAMES = ("app1", "app2")


def ensure_certificate(tls_dir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, made once and kept while valid for a day more."""
    openssl = which_or_raise("openssl", "openssl")
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    if cert.exists() and key.exists():
        check = [openssl, "x509", "-checkend", "86400", "-noout", "-in", str(cert)]
        if subprocess.run(check, capture_output=True, check=False).returncode == 0:
            return cert, key
    tls_dir.mkdir(parents=True, exist_ok=True)
    tls_dir.chmod(0o700)
    command = [
        openssl, "req", "-x509", "-nodes", "-days", "30",
        "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl could not make a certificate: {result.stderr.strip()}")
    key.chmod(0o600)
    return cert, key


def render_nginx_conf(template: str, values: Mapping[str, str], *, as_root: bool) -> str:
    """Fill the ${NGINX_*} placeholders; every one must have a value."""
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise ValueError(f"no value for {', '.join(missing)} in the nginx template")
    text = PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
    if not as_root:
        # Only a root master can switch its workers to another user.
        text = re.sub(r"^user [^\n]*\n", "", text, flags=re.MULTILINE)
    return text


def _world_readable(path: Path) -> bool:
    """Whether any user can reach and read ``path`` (o+x on every directory above it, o+r on it)."""
    path = path.resolve()
    for parent in path.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IROTH)


def _worker_user(static_root: Path) -> str:
    """The user nginx's workers run as when we are root: Debian's www-data, if it can read the files."""
    if os.geteuid() != 0:
        return ""
    if not _world_readable(static_root):
        return "root"  # the static files are private to root: only root workers can serve them
    for name in ("www-data", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return "root"


class GunicornInstance(ManagedServer):
    """One app instance: gunicorn with config/gunicorn.conf.py, on its own loopback port."""

    stop_timeout = 12.0  # above gunicorn's graceful_timeout (8 s)
    ready_timeout = 30.0

    def __init__(self, instance_name: str, environment: Mapping[str, str], port: int | None = None):
        self.name = f"gunicorn-{instance_name}"
        self.instance_name = instance_name
        self.environment = dict(environment)
        super().__init__()
        self.port = port or self.port

    def command(self) -> list:
        """gunicorn in the foreground, on this instance's port, loading app:app from the project root."""
        return [
            sys.executable, "-m", "gunicorn",
            "--config", str(CONFIG / "gunicorn.conf.py"),
            "--chdir", str(ROOT),
            "--bind", f"{HOST}:{self.port}",
            "app:app",
        ]  # fmt: skip

    def _popen_kwargs(self) -> dict:
        """The caller's environment plus the stack's AUTHDEMO_* and this instance's name."""
        return {"env": {**os.environ, **self.environment, "AUTHDEMO_INSTANCE_NAME": self.instance_name}}

    def ping(self) -> bool:
        """Any HTTP answer from /healthz (even a 503: the store may be down, the app is up)."""
        return _http_status(self.port, "/healthz") is not None


class NginxServer(ManagedServer):
    """nginx in the foreground (`-g 'daemon off;'`) with a config rendered from config/nginx.conf."""

    name = "nginx"
    stop_signal = signal.SIGQUIT  # graceful: finish the requests in flight, then exit

    def __init__(
        self,
        upstreams: tuple[str, str],
        certificate: tuple[Path, Path],
        *,
        https_port: int | None = None,
        http_port: int | None = None,
        static_root: Path = ROOT / "static",
    ):
        self.binary = which_or_raise("nginx", "nginx")
        super().__init__()
        self.port = https_port or self.port
        self.http_port = http_port or free_port()
        self.conf_path = Path(self.tmpdir) / "nginx.conf"
        self.worker_user = _worker_user(static_root)
        self.values = {
            "NGINX_WORKER_USER": self.worker_user,
            "NGINX_RUN_DIR": self.tmpdir,
            "NGINX_ERROR_LOG": "stderr",
            "NGINX_ACCESS_LOG": "/dev/stdout",
            "NGINX_HTTP_PORT": f"{HOST}:{self.http_port}",
            "NGINX_HTTPS_PORT": f"{HOST}:{self.port}",
            "NGINX_PUBLIC_HTTPS_PORT": str(self.port),
            "NGINX_UPSTREAM_1": upstreams[0],
            "NGINX_UPSTREAM_2": upstreams[1],
            "NGINX_TLS_CERT": str(certificate[0]),
            "NGINX_TLS_KEY": str(certificate[1]),
            "NGINX_STATIC_ROOT": str(static_root),
        }

    def start(self):
        """Write the config (workers must be able to use the temp dir), then start and wait for both ports."""
        template = (CONFIG / "nginx.conf").read_text()
        as_root = os.geteuid() == 0
        self.conf_path.write_text(render_nginx_conf(template, self.values, as_root=as_root))
        if as_root and self.worker_user != "root":
            account = pwd.getpwnam(self.worker_user)
            os.chown(self.tmpdir, account.pw_uid, account.pw_gid)
        return super().start()

    def command(self) -> list:
        """-e stderr: errors before the config is read must not go to /var/log/nginx (unwritable)."""
        return [self.binary, "-e", "stderr", "-p", self.tmpdir, "-c", str(self.conf_path), "-g", "daemon off;"]

    def ping(self) -> bool:
        """Both listeners accept connections (TLS is not checked here)."""
        return all(_accepts(port) for port in (self.port, self.http_port))

    @property
    def url(self) -> str:
        """The HTTPS address to open in a browser."""
        return f"https://{HOST}:{self.port}"


def _accepts(port: int) -> bool:
    """Whether a loopback port takes TCP connections (nginx's TLS port cannot answer plain HTTP)."""
    import socket

    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_status(port: int, path: str) -> int | None:
    """The status of a plain-HTTP GET on loopback, or None when nothing answers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


class Stack:
    """nginx on one HTTPS port (and an HTTP port that redirects) in front of two gunicorn instances."""

    def __init__(
        self,
        environment: Mapping[str, str],
        tls_dir: Path,
        *,
        https_port: int | None = None,
        http_port: int | None = None,
        app_ports: tuple[int | None, int | None] = (None, None),
    ):
        # Exactly one proxy (nginx) in front: the app believes its X-Forwarded-* and nobody else's.
        environment = {"AUTHDEMO_ENV": "production", **environment, "AUTHDEMO_PROXY_HOPS": "1"}
        self.environment = environment
        self.tls_dir = Path(tls_dir)
        self.apps = [
            GunicornInstance(name, environment, port) for name, port in zip(INSTANCE_NAMES, app_ports, strict=True)
        ]
        self.nginx: NginxServer | None = None
        self._ports = (https_port, http_port)

    @property
    def servers(self) -> list[ManagedServer]:
        """Every process of the stack, nginx first."""
        return ([self.nginx] if self.nginx else []) + self.apps

    def start(self) -> Stack:
        """Start both instances (in parallel) and then nginx; on any failure stop what started, and raise."""
        try:
            certificate = ensure_certificate(self.tls_dir)
            errors: list[BaseException] = []

            def start(app):
                try:
                    app.start()
                except BaseException as error:  # reported below, from the main thread
                    errors.append(error)

            threads = [threading.Thread(target=start, args=(app,)) for app in self.apps]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
            upstreams = tuple(f"{HOST}:{app.port}" for app in self.apps)
            self.nginx = NginxServer(upstreams, certificate, https_port=self._ports[0], http_port=self._ports[1])
            self.nginx.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def stop(self) -> None:
        """nginx first (no new requests), then both instances at once, gracefully; logs kept."""
        if self.nginx is not None:
            self.nginx.stop()
        threads = [threading.Thread(target=app.stop) for app in self.apps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def cleanup(self) -> None:
        """Stop everything and remove the temp dirs (configs, pid files, logs)."""
        self.stop()
        for server in self.servers:
            server.cleanup()

    @property
    def url(self) -> str:
        """The HTTPS address of the stack."""
        assert self.nginx is not None
        return self.nginx.url

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.cleanup()


class _Tail:
    """Print what a server has added to its log since the last call, each line prefixed by its name."""

    def __init__(self, server: ManagedServer, label: str):
        self.server, self.label, self.offset = server, label, 0

    def pump(self) -> None:
        """Print complete new lines only, so a line being written is never cut in two."""
        try:
            with open(self.server.log_path, "rb") as log:
                log.seek(self.offset)
                chunk = log.read()
        except OSError:
            return
        complete = chunk.rpartition(b"\n")[0]
        if not complete:
            return
        self.offset += len(complete) + 1
        for line in complete.decode("utf-8", "replace").splitlines():
            print(f"{self.label:>6} | {line}", flush=True)


MEMORY_REFUSAL = """\
authdemo: refusing to serve two instances on the memory session store.
The memory store is a dict inside one process, and nginx sends requests to
the two instances in turn: the first request that reaches the instance that
did not see the login finds no session, redirects to /login and drops the
cookie, and a login fails whenever the form and its POST land on different
instances. Pick a shared store, e.g.

    AUTHDEMO_SESSION_BACKEND=sqlalchemy make serve
    set -a; . config/redis.env; set +a; make serve

or pass --allow-memory to watch it break."""


def _serve_environment(environ: Mapping[str, str], allow_memory: bool) -> dict[str, str]:
    """The instances' AUTHDEMO_* variables: the caller's, with serve's defaults (sqlalchemy, production)."""
    from ..settings import ConfigError, load_settings

    environment = {name: value for name, value in environ.items() if name.startswith("AUTHDEMO_")}
    environment.setdefault("AUTHDEMO_SESSION_BACKEND", "sqlalchemy")
    environment.setdefault("AUTHDEMO_ENV", "production")
    if environment["AUTHDEMO_SESSION_BACKEND"].strip().lower() == "memory" and not allow_memory:
        print(MEMORY_REFUSAL, file=sys.stderr)
        raise SystemExit(2)
    if not (environment.get("AUTHDEMO_SECRET_KEY") or environment.get("AUTHDEMO_SECRET_KEY_FILE")):
        # Production refuses to start without a secret: hand both instances the development
        # key file (made once in the instance folder), which they must share anyway.
        try:
            settings = load_settings({**environment, "AUTHDEMO_ENV": "development"}, str(ROOT / "instance"))
        except ConfigError as error:
            print(f"authdemo: configuration error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        environment["AUTHDEMO_SECRET_KEY_FILE"] = str(Path(settings.instance_path) / "secret_key")
    return environment


def _interrupt(_signum, _frame) -> None:
    """Turn the signal into KeyboardInterrupt, which unwinds into the stack's cleanup."""
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    """Run the stack in the foreground until Ctrl-C (or SIGTERM), printing every process's log."""
    environment = _serve_environment(os.environ, args.allow_memory)
    busy = [port for port in (args.https_port, args.http_port, *args.app_ports) if _accepts(port)]
    if busy:
        print(f"authdemo: port {busy[0]} on {HOST} is in use (another make serve?); see --help", file=sys.stderr)
        return 1
    instance_path = Path(environment.get("AUTHDEMO_INSTANCE_PATH") or ROOT / "instance")
    stack = Stack(
        environment,
        instance_path / "tls",
        https_port=args.https_port,
        http_port=args.http_port,
        app_ports=tuple(args.app_ports),
    )
    # Ctrl-C and SIGTERM (kill, systemd) both stop the stack; SIGINT explicitly, because
    # a shell that starts us in the background hands us SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print("authdemo: starting two gunicorn instances and nginx…", flush=True)
        stack.start()
    except (MissingBinary, RuntimeError) as error:
        print(f"authdemo: the stack did not start: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    tails = [_Tail(stack.nginx, "nginx")] + [_Tail(app, app.instance_name) for app in stack.apps]
    print(
        f"\n  {stack.url}/  (self-signed certificate in {stack.tls_dir}; the browser will warn once)\n"
        f"  http://{HOST}:{stack.nginx.http_port}/ redirects there\n"
        f"  instances: " + ", ".join(f"{a.instance_name} on {HOST}:{a.port}" for a in stack.apps) + "\n"
        f"  session store: {environment['AUTHDEMO_SESSION_BACKEND']}, AUTHDEMO_ENV={environment['AUTHDEMO_ENV']}\n"
        "  Ctrl-C stops everything.\n",
        flush=True,
    )
    try:
        while True:
            for tail in tails:
                tail.pump()
            dead = [server for server in stack.servers if not server.is_running()]
            if dead:
                print(f"authdemo: {dead[0].name} exited; stopping the stack", file=sys.stderr)
                return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nauthdemo: stopping nginx, then both instances…", flush=True)
        return 0
    finally:
        stack.stop()
        for tail in tails:
            tail.pump()
        stack.cleanup()


def _ports(text: str) -> list[int]:
    """--app-ports: exactly two, one per instance."""
    parts = text.split(",")
    if len(parts) != 2 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError("expected two ports, e.g. 8001,8002")
    return [int(part) for part in parts]


def main(argv: list[str] | None = None) -> int:
    """Command line: `serve` (the only command)."""
    parser = argparse.ArgumentParser(prog="python -m authdemo.harness.stack", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="nginx + two gunicorn instances, until Ctrl-C")
    serve_parser.add_argument("--https-port", type=int, default=8443)
    serve_parser.add_argument("--http-port", type=int, default=8080)
    serve_parser.add_argument("--app-ports", type=_ports, default=[8001, 8002], help="two ports (default 8001,8002)")
    serve_parser.add_argument(
        "--allow-memory", action="store_true", help="serve the memory store anyway, to see it break"
    )
    args = parser.parse_args(argv)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
