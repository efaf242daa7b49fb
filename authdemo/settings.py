"""AUTHDEMO_* configuration: read once, validated, handed to the app factory.

Nothing else in authdemo reads ``os.environ``. A bad value raises
:class:`ConfigError` whose message names the variable and what is allowed,
so start-up fails with one clear line instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SESSION_BACKENDS = ("memory", "redis", "memcached", "sqlalchemy", "cookie")
AUTH_MODES = ("session", "jwt")
ENVIRONMENTS = ("development", "production")


class ConfigError(Exception):
    """A configuration variable has a value authdemo cannot use."""


@dataclass(frozen=True)
class Settings:
    """Validated configuration; see the README's table for each field."""

    env: str = "development"
    session_backend: str = "memory"
    auth_mode: str = "session"
    database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    memcached_servers: tuple[tuple[str, int], ...] = (("127.0.0.1", 11211),)
    secret_key: str = field(default="", repr=False)
    session_idle_timeout: int = 1800
    memory_max_sessions: int = 10_000
    session_touch_interval: int = 60
    store_timeout: float = 1.0
    instance_path: str = ""

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


def _memcached_servers(env: Mapping[str, str]) -> tuple[tuple[str, int], ...]:
    name = "AUTHDEMO_MEMCACHED_SERVERS"
    raw = env.get(name, "").strip() or "127.0.0.1:11211"
    servers = []
    for item in raw.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{name}={raw!r} is not valid; expected host:port[,host:port…]")
        servers.append((host.strip("[]"), int(port)))
    return tuple(servers)


def _redis_url(env: Mapping[str, str]) -> str:
    name = "AUTHDEMO_REDIS_URL"
    value = env.get(name, "").strip() or "redis://127.0.0.1:6379/0"
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{name}={value!r} is not valid; expected a redis://, rediss:// or unix:// URL")
    return value


def _read_secret_file(name: str, path: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"{name}={path!r} cannot be read: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{name}={path!r} is empty; it must hold the secret key")
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


def load_settings(env: Mapping[str, str], default_instance_path: str) -> Settings:
    """Parse and validate every AUTHDEMO_* variable that authdemo understands."""
    instance_path = Path(env.get("AUTHDEMO_INSTANCE_PATH") or default_instance_path).resolve()
    environment = _choice(env, "AUTHDEMO_ENV", ENVIRONMENTS, "development")
    database_url = env.get("AUTHDEMO_DATABASE_URL", "").strip() or f"sqlite:///{instance_path / 'authdemo.db'}"
    auth_mode = _choice(env, "AUTHDEMO_AUTH_MODE", AUTH_MODES, "session")
    if auth_mode == "jwt":
        raise ConfigError("AUTHDEMO_AUTH_MODE=jwt is not available yet; allowed values today: session")
    return Settings(
        env=environment,
        session_backend=_choice(env, "AUTHDEMO_SESSION_BACKEND", SESSION_BACKENDS, "memory"),
        auth_mode=auth_mode,
        database_url=database_url,
        redis_url=_redis_url(env),
        memcached_servers=_memcached_servers(env),
        secret_key=_secret_key(env, environment, instance_path),
        session_idle_timeout=_number(env, "AUTHDEMO_SESSION_IDLE_TIMEOUT", 1800, minimum=1),
        memory_max_sessions=_number(env, "AUTHDEMO_MEMORY_MAX_SESSIONS", 10_000, minimum=1),
        session_touch_interval=_number(env, "AUTHDEMO_SESSION_TOUCH_INTERVAL", 60, minimum=0),
        store_timeout=_number(env, "AUTHDEMO_STORE_TIMEOUT", 1.0, minimum=0.05, kind=float),
        instance_path=str(instance_path),
    )
