"""The production switches, in-process: proxy trust, __Host- cookies, instance names, mounted database password."""

from __future__ import annotations

import os

import pytest

from authdemo.settings import ConfigError, load_settings
from tests.support import CSRF_PATTERN, Browser


@pytest.mark.parametrize(
    "name, value",
    [
        ("AUTHDEMO_PROXY_HOPS", "-1"),
        ("AUTHDEMO_PROXY_HOPS", "one"),
        ("AUTHDEMO_INSTANCE_NAME", "x" * 65),
        ("AUTHDEMO_INSTANCE_NAME", "app\n1"),
        ("AUTHDEMO_LOGIN_LIMIT_ACCOUNT", "five a minute"),
        ("AUTHDEMO_LOGIN_LIMIT_ADDRESS", "5 per fortnight"),
        ("AUTHDEMO_LOGIN_LIMIT_STORAGE", "mongodb://localhost"),
    ],
)
def test_bad_values_name_their_variable(tmp_path, name, value):
    """A typo stops start-up with the variable's name, like every other AUTHDEMO_* setting."""
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value}, str(tmp_path))


def test_defaults_trust_no_proxy_and_name_the_process(tmp_path):
    """Out of the box no forwarded header is believed; limits are on; /healthz can tell processes apart."""
    settings = load_settings({}, str(tmp_path))
    assert settings.proxy_hops == 0
    assert settings.instance_name.endswith(f":{os.getpid()}")
    assert (settings.login_limit_account, settings.login_limit_address) == ("5 per minute", "20 per minute")


@pytest.mark.parametrize(
    "backend, expected",
    [("redis", "redis://cache:6379/2"), ("memcached", "memcached://mc1:11211,mc2:11211"), ("sqlalchemy", "memory://")],
)
def test_login_limits_are_counted_in_the_shared_store(tmp_path, backend, expected):
    """Failed logins are counted where the sessions are, when that is a server every instance reaches."""
    env = {
        "AUTHDEMO_SESSION_BACKEND": backend,
        "AUTHDEMO_REDIS_URL": "redis://cache:6379/2",
        "AUTHDEMO_MEMCACHED_SERVERS": "mc1:11211,mc2:11211",
    }
    assert load_settings(env, str(tmp_path)).login_limit_storage == expected


def test_limits_can_be_turned_off(tmp_path):
    """Setting a limit to off (any case) disables it, as the test suite's fixtures do."""
    env = {"AUTHDEMO_LOGIN_LIMIT_ACCOUNT": "off", "AUTHDEMO_LOGIN_LIMIT_ADDRESS": "OFF"}
    settings = load_settings(env, str(tmp_path))
    assert settings.login_limit_account == settings.login_limit_address == ""


def test_database_password_comes_from_a_mounted_file(tmp_path):
    """The password joins the URL from a file (a Docker secret); it is in no variable and not in the repr."""
    secret = tmp_path / "postgres_password"
    secret.write_text("s3cret/with:odd@chars\n")
    env = {
        "AUTHDEMO_DATABASE_URL": "postgresql+psycopg://authdemo@db:5432/authdemo",
        "AUTHDEMO_DATABASE_PASSWORD_FILE": str(secret),
    }
    settings = load_settings(env, str(tmp_path))
    from sqlalchemy.engine import make_url

    assert make_url(settings.database_url).password == "s3cret/with:odd@chars"
    assert "s3cret" not in repr(settings)
    with pytest.raises(ConfigError, match="AUTHDEMO_DATABASE_PASSWORD_FILE.*SQLite"):
        load_settings({"AUTHDEMO_DATABASE_PASSWORD_FILE": str(secret)}, str(tmp_path))
    with pytest.raises(ConfigError, match="AUTHDEMO_DATABASE_PASSWORD_FILE"):
        load_settings({**env, "AUTHDEMO_DATABASE_PASSWORD_FILE": str(tmp_path / "missing")}, str(tmp_path))


def test_production_cookie_has_the_host_prefix(make_app):
    """__Host-: Secure, Path=/ and no Domain, or browsers refuse it."""
    app = make_app("sqlalchemy", AUTHDEMO_ENV="production")
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-authdemo_session"
    response = Browser(app).login("alice")
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-authdemo_session="))
    assert "Secure" in header and "Path=/;" in header + ";" and "Domain" not in header
    assert make_app("sqlalchemy").config["SESSION_COOKIE_NAME"] == "authdemo_session"


def _whoami(app, headers: dict[str, str]):
    """Log in with these request headers; the address and whether the cookie came back Secure."""
    browser = Browser(app)
    client = browser.client
    page = client.get("/login", headers=headers)
    token = CSRF_PATTERN.search(page.get_data(as_text=True)).group(1)
    form = {"username": "alice", "password": "alice-password", "csrf_token": token}
    scheme = headers.get("X-Forwarded-Proto", "http")
    response = client.post("/login", data=form, headers={**headers, "Referer": f"{scheme}://localhost/login"})
    assert response.status_code == 302, response.status_code
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("authdemo_session="))
    sessions = client.get("/account/sessions", headers=headers).get_data(as_text=True)
    return sessions, "Secure" in cookie


def test_one_hop_believes_only_the_address_nginx_wrote(make_app):
    """With AUTHDEMO_PROXY_HOPS=1 the last X-Forwarded-For entry is the client; earlier ones are the client's claims."""
    app = make_app("memory", AUTHDEMO_PROXY_HOPS="1")
    headers = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7", "X-Forwarded-Proto": "https"}
    sessions, secure = _whoami(app, headers)
    assert "198.51.100.7" in sessions and "6.6.6.6" not in sessions
    assert secure  # https as nginx reported it: the cookie is Secure even in development


def test_without_a_proxy_the_headers_are_ignored(make_app):
    """The default trusts nobody: a client cannot claim an address or HTTPS."""
    app = make_app("memory")
    sessions, secure = _whoami(app, {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"})
    assert "198.51.100.7" not in sessions and "127.0.0.1" in sessions
    assert not secure


def test_healthz_and_home_name_the_instance(make_app):
    """Behind a load balancer you can see which instance answered, and the memory store's page says why it breaks."""
    app = make_app("memory", AUTHDEMO_INSTANCE_NAME="app7")
    client = app.test_client()
    health = client.get("/healthz").get_json()
    assert health["instance"] == "app7" and health["sessions_shared_between_instances"] is False
    page = client.get("/").get_data(as_text=True)
    assert "app7" in page and "sessions live inside this one process" in page
    other = make_app("memory", AUTHDEMO_INSTANCE_NAME="app8", AUTHDEMO_SESSION_BACKEND="sqlalchemy")
    assert "sessions live inside this one process" not in other.test_client().get("/").get_data(as_text=True)
