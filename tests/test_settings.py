"""Configuration: one line naming the variable, exit status 2; secrets from a variable, a file or instance/."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from authdemo.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "variable, value",
    [
        ("AUTHDEMO_SESSION_BACKEND", "mongodb"),
        ("AUTHDEMO_AUTH_MODE", "kerberos"),
        ("AUTHDEMO_ENV", "staging"),
        ("AUTHDEMO_SESSION_IDLE_TIMEOUT", "soon"),
        ("AUTHDEMO_SESSION_IDLE_TIMEOUT", "0"),
        ("AUTHDEMO_MEMORY_MAX_SESSIONS", "-5"),
        ("AUTHDEMO_MEMCACHED_SERVERS", "localhost"),
        ("AUTHDEMO_REDIS_URL", "http://127.0.0.1:6379"),
    ],
)
def test_bad_value_names_the_variable(tmp_path, variable, value):
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value}, str(tmp_path))
    assert variable in str(caught.value)


def _flask(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    environ = {
        "PATH": os.environ["PATH"],
        "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "instance"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_stops_with_one_line_and_status_2(tmp_path):
    result = _flask(["init-db"], {"AUTHDEMO_SESSION_BACKEND": "mongodb"}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "AUTHDEMO_SESSION_BACKEND" in lines[0] and "memory, redis, memcached, sqlalchemy, cookie" in lines[0]
    assert "Traceback" not in result.stderr


def test_production_refuses_to_start_without_a_secret(tmp_path):
    result = _flask(["init-db"], {"AUTHDEMO_ENV": "production"}, tmp_path)
    assert result.returncode == 2
    assert "AUTHDEMO_SECRET_KEY" in result.stderr
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_development_secret_is_generated_once_with_mode_0600(tmp_path):
    first = load_settings({}, str(tmp_path))
    second = load_settings({}, str(tmp_path))
    key_file = tmp_path / "secret_key"
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_secret_from_a_mounted_file(tmp_path):
    secret_file = tmp_path / "mounted-secret"
    secret_file.write_text("from-the-mounted-file\n")
    env = {"AUTHDEMO_ENV": "production", "AUTHDEMO_SECRET_KEY_FILE": str(secret_file)}
    settings = load_settings(env, str(tmp_path))
    assert settings.secret_key == "from-the-mounted-file"
    with pytest.raises(ConfigError, match="AUTHDEMO_SECRET_KEY_FILE"):
        load_settings({"AUTHDEMO_SECRET_KEY_FILE": str(tmp_path / "missing")}, str(tmp_path))


def test_secret_key_is_not_in_the_settings_repr(tmp_path):
    settings = load_settings({"AUTHDEMO_SECRET_KEY": "do-not-print-me"}, str(tmp_path))
    assert "do-not-print-me" not in repr(settings)


def test_production_cookies_are_secure(make_app):
    app = make_app("memory", AUTHDEMO_ENV="production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    from tests.support import Browser

    response = Browser(app).login("alice")
    name = app.config["SESSION_COOKIE_NAME"]  # __Host-authdemo_session in production
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "="))
    assert "Secure" in header
