"""AUTHDEMO_* configuration: read once, validated, handed to the app factory.

Nothing else in authdemo reads ``os.environ``. A bad value raises
:class:`ConfigError` whose message names the variable and what is allowed,
so start-up fails with one clear line instead of a traceback.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SESSION_BACKENDS = ("memory", "redis", "memcached", "sqlalchemy", "cookie")
AUTH_MODES = ("session", "jwt")
ENVIRONMENTS = ("development", "production")
JWT_ALGORITHMS = ("HS256", "EdDSA", "RS256")
TOKEN_STORES = ("memory", "redis", "memcached", "sqlalchemy")
#: The repository's instance/ folder, wherever the process was started from: the app and the tasks service
#: must find the same generated secret key there, or they derive different HS256 keys.
DEFAULT_INSTANCE_PATH = str(Path(__file__).resolve().parent.parent / "instance")


class ConfigError(Exception):
    """A configuration variable has a value authdemo cannot use."""


@dataclass(frozen=True)
class Settings:
    """Validated configuration; see the README's table for each field."""

    env: str = "development"
    session_backend: str = "memory"
    auth_mode: str = "session"
    database_url: str = field(default="", repr=False)  # may hold the database password
    redis_url: str = "redis://127.0.0.1:6379/0"
    memcached_servers: tuple[tuple[str, int], ...] = (("127.0.0.1", 11211),)
    secret_key: str = field(default="", repr=False)
    session_idle_timeout: int = 1800
    memory_max_sessions: int = 10_000
    session_touch_interval: int = 60
    store_timeout: float = 1.0
    proxy_hops: int = 0
    instance_name: str = ""
    login_limit_account: str = "5 per minute"
    login_limit_address: str = "20 per minute"
    login_limit_storage: str = "memory://"
    instance_path: str = ""
    jwt_algorithm: str = "HS256"
    jwt_secret: str = field(default="", repr=False)
    jwt_private_key_file: str = ""
    jwks_url: str = ""
    jwt_access_ttl: int = 300
    jwt_refresh_ttl: int = 86400
    jwt_leeway: int = 10
    token_store: str = "sqlalchemy"
    site_origin: str = ""  # the tasks service's CORS allows exactly this origin (the /app page's)
    tasks_url: str = ""  # where the /app page finds the tasks service ("" = it does not call it)
    wire: bool = True  # AUTHDEMO_WIRE: journal this browser's requests for /account/wire
    lab_routes: bool = False  # AUTHDEMO_LAB_ROUTES=1: mount the /bench/* routes the lab loads

    @property
    def production(self) -> bool:
        """Whether the stricter production defaults apply."""
        return self.env == "production"


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid; allowed values: {', '.join(allowed)}")
    return value


def _number(env: Mapping[str, str], name: str, default, *, minimum, kind=int):
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not valid; expected a number ≥ {minimum}") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} is not valid; expected a number ≥ {minimum}")
    return value


def parse_memcached_servers(raw: str, name: str = "AUTHDEMO_MEMCACHED_SERVERS") -> tuple[tuple[str, int], ...]:
    """Parse ``host:port[,host:port…]`` (IPv6 hosts in brackets), or ConfigError naming ``name``."""
    servers = []
    for item in raw.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name}={raw!r} is not valid; expected host:port[,host:port…]")
        servers.append((host.strip("[]"), int(port)))
    return tuple(servers)


@dataclass(frozen=True)
class RedisClusterAddress:
    """Where a Redis Cluster is: the startup nodes (any reachable one reveals the rest) and the credentials."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def redis_cluster_address(url: str, name: str = "AUTHDEMO_REDIS_URL") -> RedisClusterAddress:
    """Parse ``redis+cluster://[user:password@]host:port[,host:port…]`` (Flask-Limiter's form), or ConfigError."""
    from urllib.parse import unquote, urlsplit

    parsed = urlsplit(url)
    userinfo, _, hosts = parsed.netloc.rpartition("@")
    shown = url.replace(userinfo + "@", "***@") if userinfo else url  # never echo a password
    problem = f"{name}={shown!r} is not valid; expected redis+cluster://[user:password@]host:port[,host:port…]"
    if parsed.scheme != "redis+cluster" or parsed.path not in ("", "/", "/0") or parsed.query or parsed.fragment:
        raise ConfigError(problem + " (no database other than 0, no options)")
    nodes = []
    for item in hosts.split(","):
        try:
            location = urlsplit(f"//{item.strip()}")
            host, port = location.hostname, location.port
        except ValueError:
            host = port = None
        if not host or not port:
            raise ConfigError(problem)
        nodes.append((host, port))
    username, _, password = userinfo.partition(":")
    return RedisClusterAddress(tuple(nodes), unquote(username) or None, unquote(password) or None)


def _redis_url(env: Mapping[str, str]) -> str:
    name = "AUTHDEMO_REDIS_URL"
    value = env.get(name, "").strip() or "redis://127.0.0.1:6379/0"
    if value.startswith("redis+cluster://"):
        redis_cluster_address(value, name)
    elif not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"{name}={value!r} is not valid; expected a redis://, rediss://, unix:// or redis+cluster:// URL"
        )
    return value


def _read_secret_file(name: str, path: str, holds: str = "the secret key") -> str:
    """A secret from a mounted file (the *_FILE variables), or a one-line error naming the variable."""
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{name}={path!r} cannot be read: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{name}={path!r} is empty; it must hold {holds}")
    return value


def _secret_key(env: Mapping[str, str], environment: str, instance_path: Path) -> str:
    """The cookie-signing secret: variable, mounted file, or (development only) generated once."""
    if env.get("AUTHDEMO_SECRET_KEY"):
        return env["AUTHDEMO_SECRET_KEY"]
    if env.get("AUTHDEMO_SECRET_KEY_FILE"):
        return _read_secret_file("AUTHDEMO_SECRET_KEY_FILE", env["AUTHDEMO_SECRET_KEY_FILE"])
    if environment == "production":
        raise ConfigError("AUTHDEMO_SECRET_KEY or AUTHDEMO_SECRET_KEY_FILE must be set when AUTHDEMO_ENV=production")
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not overwrite each other's key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _jwt_algorithm(env: Mapping[str, str]) -> str:
    name = "AUTHDEMO_JWT_ALGORITHM"
    value = env.get(name, "").strip() or "HS256"
    by_lower = {alg.lower(): alg for alg in JWT_ALGORITHMS}
    if value.lower() not in by_lower:
        raise ConfigError(f"{name}={value!r} is not valid; allowed values: {', '.join(JWT_ALGORITHMS)}")
    return by_lower[value.lower()]


def _jwt_private_key_file(env: Mapping[str, str], environment: str, algorithm: str, instance_path: Path) -> str:
    """The PEM key's path; in development a default in instance/, in production only what is set.

    Empty in production when unset, so the issuer refuses to start instead of minting a key
    nobody backs up (the tasks service, which only verifies, never reads it).
    """
    value = env.get("AUTHDEMO_JWT_PRIVATE_KEY_FILE", "").strip()
    if value or environment == "production":
        return value
    return str(instance_path / f"jwt_{algorithm.lower()}_private.pem")


def _leeway(env: Mapping[str, str]) -> int:
    """Seconds of clock skew tolerated on exp/nbf/iat: at most 30, or expiry stops meaning much."""
    value = _number(env, "AUTHDEMO_JWT_LEEWAY", 10, minimum=0)
    if value > 30:
        raise ConfigError(f"AUTHDEMO_JWT_LEEWAY={value!r} is not valid; expected 0 to 30 seconds")
    return value


def _jwt_secret(env: Mapping[str, str], secret_key: str) -> str:
    """The HS256 key shared with the tasks service, never the cookie-signing secret itself.

    Derived one-way from the secret key by default, so handing it to another
    service lets that service check tokens but not forge session cookies.
    """
    if env.get("AUTHDEMO_JWT_SECRET"):
        value = env["AUTHDEMO_JWT_SECRET"]
    elif env.get("AUTHDEMO_JWT_SECRET_FILE"):
        value = _read_secret_file("AUTHDEMO_JWT_SECRET_FILE", env["AUTHDEMO_JWT_SECRET_FILE"], holds="the HS256 key")
    else:
        return hmac.new(secret_key.encode(), b"authdemo jwt HS256 key", hashlib.sha256).hexdigest()
    if len(value.encode()) < 32:
        raise ConfigError("AUTHDEMO_JWT_SECRET is too short; HS256 needs at least 32 bytes (RFC 7518 §3.2)")
    return value


def _database_password(env: Mapping[str, str], url: str) -> str:
    """The database URL with the password from a mounted file put in, so no variable holds it."""
    name = "AUTHDEMO_DATABASE_PASSWORD_FILE"
    path = env.get(name, "").strip()
    if not path:
        return url
    password = _read_secret_file(name, path, holds="the database password")
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("AUTHDEMO_DATABASE_URL is not a valid SQLAlchemy URL") from None
    if parsed.get_backend_name() == "sqlite":
        raise ConfigError(f"{name} is set but AUTHDEMO_DATABASE_URL is SQLite, which has no password")
    return parsed.set(password=password).render_as_string(hide_password=False)


def _instance_name(env: Mapping[str, str]) -> str:
    """What /healthz and the home page call this process; hostname:pid unless named."""
    name = "AUTHDEMO_INSTANCE_NAME"
    value = env.get(name, "").strip() or f"{socket.gethostname()}:{os.getpid()}"
    if len(value) > 64 or not value.isprintable():
        raise ConfigError(f"{name}={value!r} is not valid; expected up to 64 printable characters")
    return value


def _login_limit(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate such as "5 per minute" (Flask-Limiter's notation), or "" when set to off."""
    value = env.get(name, "").strip() or default
    if value.lower() == "off":
        return ""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not valid; expected a rate such as '5 per minute', or off") from None
    return value


def _login_limit_storage(env: Mapping[str, str], backend: str, redis_url: str, memcached_servers) -> str:
    """Where failed logins are counted: the session store when it is shared, else this process."""
    name = "AUTHDEMO_LOGIN_LIMIT_STORAGE"
    value = env.get(name, "").strip()
    if not value:
        if backend == "redis":
            return redis_url
        if backend == "memcached":
            return "memcached://" + ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in memcached_servers)
        return "memory://"
    if value.startswith("redis+cluster://"):
        redis_cluster_address(value, name)
    elif value.startswith("memcached://"):
        parse_memcached_servers(value.removeprefix("memcached://"), name)
    elif not value.startswith(("memory://", "redis://", "rediss://", "unix://", "memcached://")):
        raise ConfigError(
            f"{name}={value!r} is not valid; expected a memory://, redis://, redis+cluster:// or memcached:// URI"
        )
    return value


def _origin(env: Mapping[str, str], name: str, default: str, *, path_allowed: bool = False) -> str:
    """An http(s) origin (scheme://host[:port]), or a base URL when ``path_allowed``; "" when set to off."""
    from urllib.parse import urlsplit

    raw = env.get(name, "").strip()
    if raw.lower() == "off":
        return ""
    value = (raw or default).rstrip("/")
    if not value:
        return ""
    expected = (
        "an http(s) URL such as http://127.0.0.1:5001" if path_allowed else "an origin such as https://app.example"
    )
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not valid; expected {expected}, or off") from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or parts.username
        or parts.query
        or parts.fragment
        or (parts.path and not path_allowed)
    ):
        raise ConfigError(f"{name}={raw!r} is not valid; expected {expected}, or off")
    if path_allowed:
        return value
    # Browsers send the Origin header in lower case, without a default port.
    default_port = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default_port else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host.lower()}{port}"


def load_settings(env: Mapping[str, str], default_instance_path: str = DEFAULT_INSTANCE_PATH) -> Settings:
    """Parse and validate every AUTHDEMO_* variable that authdemo understands."""
    instance_path = Path(env.get("AUTHDEMO_INSTANCE_PATH") or default_instance_path).resolve()
    environment = _choice(env, "AUTHDEMO_ENV", ENVIRONMENTS, "development")
    database_url = env.get("AUTHDEMO_DATABASE_URL", "").strip() or f"sqlite:///{instance_path / 'authdemo.db'}"
    database_url = _database_password(env, database_url)
    backend = _choice(env, "AUTHDEMO_SESSION_BACKEND", SESSION_BACKENDS, "memory")
    redis_url = _redis_url(env)
    memcached_servers = parse_memcached_servers(env.get("AUTHDEMO_MEMCACHED_SERVERS", "").strip() or "127.0.0.1:11211")
    secret_key = _secret_key(env, environment, instance_path)
    algorithm = _jwt_algorithm(env)
    return Settings(
        env=environment,
        session_backend=backend,
        auth_mode=_choice(env, "AUTHDEMO_AUTH_MODE", AUTH_MODES, "session"),
        database_url=database_url,
        redis_url=redis_url,
        memcached_servers=memcached_servers,
        secret_key=secret_key,
        session_idle_timeout=_number(env, "AUTHDEMO_SESSION_IDLE_TIMEOUT", 1800, minimum=1),
        memory_max_sessions=_number(env, "AUTHDEMO_MEMORY_MAX_SESSIONS", 10_000, minimum=1),
        session_touch_interval=_number(env, "AUTHDEMO_SESSION_TOUCH_INTERVAL", 60, minimum=0),
        store_timeout=_number(env, "AUTHDEMO_STORE_TIMEOUT", 1.0, minimum=0.05, kind=float),
        proxy_hops=_number(env, "AUTHDEMO_PROXY_HOPS", 0, minimum=0),
        instance_name=_instance_name(env),
        login_limit_account=_login_limit(env, "AUTHDEMO_LOGIN_LIMIT_ACCOUNT", "5 per minute"),
        login_limit_address=_login_limit(env, "AUTHDEMO_LOGIN_LIMIT_ADDRESS", "20 per minute"),
        login_limit_storage=_login_limit_storage(env, backend, redis_url, memcached_servers),
        instance_path=str(instance_path),
        jwt_algorithm=algorithm,
        jwt_secret=_jwt_secret(env, secret_key),
        jwt_private_key_file=_jwt_private_key_file(env, environment, algorithm, instance_path),
        jwks_url=env.get("AUTHDEMO_JWKS_URL", "").strip(),
        jwt_access_ttl=_number(env, "AUTHDEMO_JWT_ACCESS_TTL", 300, minimum=1),
        jwt_refresh_ttl=_number(env, "AUTHDEMO_JWT_REFRESH_TTL", 86400, minimum=1),
        jwt_leeway=_leeway(env),
        token_store=_choice(env, "AUTHDEMO_TOKEN_STORE", TOKEN_STORES, "sqlalchemy"),
        # `make run` and the tasks service's documented port; production names its own or has none.
        site_origin=_origin(
            env, "AUTHDEMO_SITE_ORIGIN", "" if environment == "production" else "http://127.0.0.1:5000"
        ),
        tasks_url=_origin(
            env,
            "AUTHDEMO_TASKS_URL",
            "" if environment == "production" else "http://127.0.0.1:5001",
            path_allowed=True,
        ),
        lab_routes=_choice(env, "AUTHDEMO_LAB_ROUTES", ("0", "1"), "0") == "1",
        wire=_choice(env, "AUTHDEMO_WIRE", ("on", "off"), "off" if environment == "production" else "on") == "on",
    )
