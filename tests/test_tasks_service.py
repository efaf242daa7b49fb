"""The tasks service trusts the token alone: no database, and with EdDSA not even a key that can sign."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from authdemo import tasks_api
from authdemo.harness.servers import free_port
from tests.jwt_support import Api
from tests.support import SECRET

ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"


def _tasks_client(tmp_path, **env):
    config = {
        "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "tasks-instance"),
        "AUTHDEMO_DATABASE_URL": UNREACHABLE_DATABASE,
        **env,
    }
    return tasks_api.create_app(config).test_client()


def _get_tasks(client, token):
    return client.get("/tasks", headers={"Authorization": f"Bearer {token}"})


def test_hs256_with_the_shared_secret_and_no_database(make_app, tmp_path):
    app = make_app("jwt:sqlalchemy")
    api = Api(app)
    shared = app.extensions["authdemo_settings"].jwt_secret
    client = _tasks_client(tmp_path, AUTHDEMO_JWT_SECRET=shared)
    carol = api.token("carol")
    answer = _get_tasks(client, carol["access_token"])
    assert answer.status_code == 200
    assert answer.get_json()["user"] == "carol"
    assert answer.get_json()["revocation_checked"] is False
    assert _get_tasks(client, carol["refresh_token"]).status_code == 401
    assert client.get("/tasks").status_code == 401
    # The revocation trade-off: the deny list lives in the app's database, which this service never opens.
    api.revoke(carol["access_token"])
    assert api.me(carol["access_token"]).status_code == 401
    assert _get_tasks(client, carol["access_token"]).status_code == 200


def test_the_shared_secret_is_not_the_cookie_secret(make_app, tmp_path):
    """Holding the JWT key lets a service check tokens; it cannot forge session cookies with it."""
    app = make_app("jwt:memory")
    settings = app.extensions["authdemo_settings"]
    assert settings.jwt_secret != settings.secret_key and SECRET not in settings.jwt_secret
    other = _tasks_client(tmp_path, AUTHDEMO_JWT_SECRET="another-secret-that-is-32-bytes-long!")
    assert _get_tasks(other, Api(app).token("carol")["access_token"]).status_code == 401


def test_permission_is_checked(make_app, tmp_path):
    app = make_app("jwt:memory")
    app.test_cli_runner().invoke(args=["users", "create", "olga", "--password-stdin"], input="pw\n")
    client = _tasks_client(tmp_path, AUTHDEMO_JWT_SECRET=app.extensions["authdemo_settings"].jwt_secret)
    refused = _get_tasks(client, Api(app).token("olga", "pw")["access_token"])
    assert refused.status_code == 403 and refused.get_json()["error"] == "insufficient_scope"


def test_eddsa_with_keys_from_the_jwks_only(make_app, serve, tmp_path):
    app = make_app("jwt:memory", AUTHDEMO_JWT_ALGORITHM="EdDSA")
    base = serve(app)
    private_key = tmp_path / "tasks-has-no-private-key.pem"
    client = _tasks_client(
        tmp_path,
        AUTHDEMO_JWT_ALGORITHM="EdDSA",
        AUTHDEMO_JWKS_URL=f"{base}/.well-known/jwks.json",
        AUTHDEMO_JWT_PRIVATE_KEY_FILE=str(private_key),
    )
    token = Api(app).token("bob")["access_token"]
    answer = _get_tasks(client, token)
    assert answer.status_code == 200, answer.get_json()
    assert not private_key.exists()  # it never read or made a signing key
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert _get_tasks(client, forged).status_code == 401


def test_eddsa_without_a_jwks_url_is_a_configuration_error(tmp_path):
    from authdemo.settings import ConfigError

    with pytest.raises(ConfigError, match="AUTHDEMO_JWKS_URL"):
        _tasks_client(tmp_path, AUTHDEMO_JWT_ALGORITHM="EdDSA")


def test_with_a_shared_redis_token_store_revocation_reaches_the_service(make_app, redis_server, tmp_path):
    app = make_app("jwt:redis")
    api = Api(app)
    client = _tasks_client(
        tmp_path,
        AUTHDEMO_JWT_SECRET=app.extensions["authdemo_settings"].jwt_secret,
        AUTHDEMO_TOKEN_STORE="redis",
        AUTHDEMO_REDIS_URL=redis_server.url,
    )
    pair = api.token("carol")
    assert _get_tasks(client, pair["access_token"]).get_json()["revocation_checked"] is True
    api.revoke(pair["access_token"])
    assert _get_tasks(client, pair["access_token"]).status_code == 401
    other = api.token("carol")
    api.logout_all(other["access_token"])
    assert _get_tasks(client, other["access_token"]).status_code == 401


def test_the_service_runs_under_the_flask_command(tmp_path):
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "AUTHDEMO_INSTANCE_PATH": str(tmp_path),
        "AUTHDEMO_JWT_SECRET": "a-shared-secret-of-at-least-32-bytes!!",
        "AUTHDEMO_DATABASE_URL": UNREACHABLE_DATABASE,
    }
    command = [sys.executable, "-m", "flask", "--app", "authdemo.tasks_api", "run", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                    body = json.load(answer)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert body["status"] == "ok" and body["keys"] == "shared secret"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_service_finds_the_apps_instance_folder_from_any_directory(tmp_path, monkeypatch):
    # Started elsewhere, a cwd-relative instance/ would hold another generated secret, hence another HS256 key.
    monkeypatch.delenv("AUTHDEMO_INSTANCE_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    service = tasks_api.create_app({"AUTHDEMO_SECRET_KEY": SECRET, "AUTHDEMO_DATABASE_URL": UNREACHABLE_DATABASE})
    assert service.extensions["authdemo_settings"].instance_path == str(ROOT / "instance")
    assert not (tmp_path / "instance").exists()
