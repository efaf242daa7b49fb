"""Findings of the outside review (issue 10), each with the exact request or start-up that failed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Browser

ROOT = Path(__file__).resolve().parent.parent


# Finding 2: four requests that gave a 500.


def test_a_lone_surrogate_in_the_token_request_is_a_400(make_app):
    """The body is sent raw: json.dumps would escape the surrogate the same way, as \\ud800."""
    client = make_app("jwt:memory").test_client()
    response = client.post(
        "/api/token", data='{"username": "\\ud800", "password": "x"}', content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "invalid_request",
        "message": "The body is not usable JSON: a string holds a lone UTF-16 surrogate, which is not text.",
    }


def test_a_body_nested_3000_deep_is_a_400(make_app):
    client = make_app("memory").test_client()
    response = client.post("/api/token", data="[" * 3000 + "]" * 3000, content_type="application/json")
    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.get_json()["message"]


@pytest.mark.parametrize("path", ["/", "/no-such-page", "/api/me"])
def test_a_host_with_a_64_character_label_is_a_400(make_app, path):
    """The error page cannot use url_for for such a host: it answers in plain text (JSON under /api/)."""
    client = make_app("memory").test_client()
    response = client.get(path, headers={"Host": "a" * 64 + ".example"})
    assert response.status_code == 400
    assert "The Host header is not a valid host name" in response.get_data(as_text=True)


def test_an_admin_post_for_an_impossible_user_id_is_a_404(make_app):
    browser = Browser(make_app("sqlalchemy"))
    browser.login("alice")
    response = browser.post("/admin/users/99999999999999999999999/roles", form_page="/admin")
    assert response.status_code == 404
    assert "There is no user 99999999999999999999999." in response.get_data(as_text=True)


# Finding 4: production with EdDSA or RS256 and no key file.


def _flask(env: dict[str, str], tmp_path, args=("routes",)) -> subprocess.CompletedProcess:
    environ = {"PATH": os.environ["PATH"], "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "instance"), **env}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_production_refuses_to_start_without_a_private_key_file(tmp_path, algorithm):
    env = {"AUTHDEMO_ENV": "production", "AUTHDEMO_SECRET_KEY": "s" * 48, "AUTHDEMO_JWT_ALGORITHM": algorithm}
    result = _flask(env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "AUTHDEMO_JWT_PRIVATE_KEY_FILE must be set" in result.stderr
    assert not list((tmp_path / "instance").glob("jwt_*"))  # no key was made behind the operator's back


def test_production_refuses_a_key_file_that_does_not_exist(tmp_path):
    missing = tmp_path / "mounted" / "jwt.pem"
    env = {
        "AUTHDEMO_ENV": "production",
        "AUTHDEMO_SECRET_KEY": "s" * 48,
        "AUTHDEMO_JWT_ALGORITHM": "EdDSA",
        "AUTHDEMO_JWT_PRIVATE_KEY_FILE": str(missing),
    }
    result = _flask(env, tmp_path)
    assert result.returncode == 2 and "AUTHDEMO_JWT_PRIVATE_KEY_FILE" in result.stderr
    assert not missing.exists()


# Finding 8: a Redis Cluster with no node answering.


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"AUTHDEMO_SESSION_BACKEND": "redis"}, "AUTHDEMO_REDIS_URL"),
        ({"AUTHDEMO_AUTH_MODE": "jwt", "AUTHDEMO_TOKEN_STORE": "redis"}, "AUTHDEMO_REDIS_URL"),
        ({"AUTHDEMO_LOGIN_LIMIT_STORAGE": "{url}"}, "AUTHDEMO_LOGIN_LIMIT_STORAGE"),
    ],
)
def test_a_cluster_with_no_node_answering_stops_start_up_with_one_line(tmp_path, env, variable):
    url = f"redis+cluster://user:hunter2@127.0.0.1:{_free_port()}"
    env = {name: value.format(url=url) for name, value in env.items()}
    result = _flask({"AUTHDEMO_REDIS_URL": url, **env}, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"{variable}: no Redis Cluster node answers at 127.0.0.1:" in result.stderr
    assert "hunter2" not in result.stderr


# Finding 7: /healthz tells the public only its status.


def test_healthz_tells_a_remote_visitor_only_the_status(make_app):
    app = make_app("memory", AUTHDEMO_INSTANCE_NAME="web-1")
    remote = app.test_client()
    remote.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    response = remote.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_healthz_details_for_loopback_and_for_an_admin(make_app):
    app = make_app("memory", AUTHDEMO_INSTANCE_NAME="web-1")
    assert app.test_client().get("/healthz").get_json()["instance"] == "web-1"  # the test client is 127.0.0.1
    for user, detailed in (("alice", True), ("carol", False)):
        browser = Browser(app)
        browser.client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
        browser.login(user)
        body = browser.client.get("/healthz").get_json()
        assert ("instance" in body and "store" in body) is detailed, user


# Issue 8: every 503 says when to come back.


def test_every_503_carries_retry_after(make_app, redis_server):
    """A store outage on the login form (a rate-limited endpoint), a page, the API and /healthz."""
    app = make_app("redis", AUTHDEMO_LOGIN_LIMIT_ACCOUNT="5 per minute")
    browser, anonymous = Browser(app), Browser(app)
    browser.login("alice")
    token = browser.csrf("/")
    # An anonymous visitor's form needs no store (its session is in the cookie), but its failed-login
    # budget does: a login it cannot count is refused.
    anonymous_token = anonymous.csrf("/login")
    redis_server.stop()
    try:
        answers = {
            "login": browser.client.post("/login", data={"username": "a", "password": "b", "csrf_token": token}),
            "anonymous login": anonymous.client.post(
                "/login", data={"username": "a", "password": "b", "csrf_token": anonymous_token}
            ),
            "page": browser.client.get("/account"),
            "healthz": browser.client.get("/healthz"),
        }
    finally:
        redis_server.start()
    for name, response in answers.items():
        assert response.status_code == 503, name
        assert response.headers.get("Retry-After") == "5", name
