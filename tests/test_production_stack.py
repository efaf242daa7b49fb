"""The production shape for real: nginx (TLS) → two gunicorn instances → one store, started by the tests.

Each store gets one stack (nginx and two gunicorn from the machine's
packages, loopback ports, production settings), shared by this module's tests
and stopped at the end. A small HTTPS client with a cookie jar stands in for
the browser; it trusts the stack's own self-signed certificate.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from authdemo import create_app
from authdemo.extensions import db
from authdemo.harness.stack import Stack
from authdemo.rbac import create_user, insert_roles
from tests.conftest import _store_environment
from tests.servers import require
from tests.support import PASSWORDS, ROLES, SECRET, shutdown

SHARED_STORES = ["redis", "memcached", "sqlalchemy", "cookie"]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
INSTANCE = re.compile(r'class="instance">([^<]+)<')


class TlsClient:
    """A browser stand-in over HTTPS: one keep-alive connection, a cookie jar, CSRF tokens, a Referer."""

    def __init__(self, stack: Stack, cafile: Path):
        self.port = stack.nginx.port
        self.origin = stack.url
        context = ssl.create_default_context(cafile=str(cafile))  # verifies the chain and 127.0.0.1
        self.connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=10)
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        """One request; returns (status, headers, body text) and keeps the cookies it sets."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            from urllib.parse import urlencode

            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"{self.origin}{path}"  # HTTPS CSRF checks demand a same-origin Referer
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            self.set_cookie_headers.append(header)
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, response.headers, text

    def get(self, path: str, **kwargs):
        """GET without following redirects."""
        return self.request("GET", path, **kwargs)

    def login(self, username: str = "alice", password: str | None = None):
        """GET the form, POST it back with its CSRF token; returns the POST's (status, headers, body)."""
        status, _, page = self.get("/login")
        assert status == 200, status
        token = CSRF.search(page).group(1)
        password = PASSWORDS.get(username, "") if password is None else password
        return self.request("POST", "/login", form={"username": username, "password": password, "csrf_token": token})

    def close(self) -> None:
        """Close the connection (no socket left open)."""
        self.connection.close()


def _prepare_instance(folder: Path, environment: dict[str, str]) -> None:
    """Tables and the demo users in the database both instances will share."""
    app = create_app({**environment, "AUTHDEMO_ENV": "development"})
    try:
        with app.app_context():
            db.create_all()
            insert_roles()
            for name, password in PASSWORDS.items():
                create_user(name, password, [ROLES[name]])
    finally:
        shutdown(app)


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory) -> Path:
    """Where the stacks' self-signed certificate is made (once for the module)."""
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="module")
def stack_for(request, tmp_path_factory, tls_dir):
    """``stack_for("redis")``: a running stack on that store, started on first use, stopped after the module."""
    require("nginx", "nginx")
    require("openssl", "openssl")
    stacks: dict[str, Stack] = {}

    def get(backend: str) -> Stack:
        if backend not in stacks:
            folder = tmp_path_factory.mktemp(f"stack-{backend}")
            environment = {
                "AUTHDEMO_INSTANCE_PATH": str(folder),
                "AUTHDEMO_SECRET_KEY": SECRET,
                "AUTHDEMO_SESSION_BACKEND": backend,
                "GUNICORN_WORKERS": "1",  # two instances are the point here; keep CPU modest
                "GUNICORN_THREADS": "4",
                **_store_environment(request, backend),
            }
            _prepare_instance(folder, environment)
            stacks[backend] = Stack(environment, tls_dir).start()
        return stacks[backend]

    yield get
    for stack in stacks.values():
        stack.cleanup()


@pytest.fixture
def client_for(tls_dir):
    """``client_for(stack)``: a fresh HTTPS client, closed after the test."""
    clients: list[TlsClient] = []

    def make(stack: Stack) -> TlsClient:
        clients.append(TlsClient(stack, tls_dir / "cert.pem"))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.mark.parametrize("backend", SHARED_STORES)
def test_a_session_crosses_both_instances(stack_for, client_for, backend):
    """Logged in through nginx, the user stays logged in whichever instance answers; logout ends it on both."""
    client = client_for(stack_for(backend))
    status, headers, _ = client.login("alice")
    assert status == 302 and headers["Location"] == "/", status
    served_by = []
    for _ in range(6):
        status, _, page = client.get("/")
        assert status == 200 and "Hello, alice" in page, f"{status} after {served_by}"
        served_by.append(INSTANCE.search(page).group(1))
    assert set(served_by) == {"app1", "app2"}, served_by
    assert [client.get("/account")[0] for _ in range(4)] == [200] * 4

    health = json.loads(client.get("/healthz")[2])
    assert health["instance"] in {"app1", "app2"} and health["sessions_shared_between_instances"] is True

    token = CSRF.search(client.get("/")[2]).group(1)
    assert client.request("POST", "/logout", form={"csrf_token": token})[0] == 302
    for _ in range(2):  # both instances
        status, headers, _ = client.get("/account")
        assert status == 302 and headers["Location"].startswith("/login"), status


def test_memory_store_breaks_across_two_instances(stack_for, client_for):
    """Each instance has its own dict: the other one finds no session and drops the cookie; the page says why."""
    stack = stack_for("memory")
    client, other_visitor = client_for(stack), client_for(stack)
    # The login form's CSRF token is a signed double-submit cookie, not a store entry:
    # the POST succeeds whichever instance it lands on (anonymous visitors have no session).
    assert client.login("alice")[0] == 302
    other_visitor.get("/healthz")

    # The next request lands on the other instance, which knows no such session and
    # deletes the cookie: from then on the user is logged out on both.
    pages = [client.get("/")[2] for _ in range(10)]
    refused = [page for page in pages if "Hello, alice" not in page]
    assert {INSTANCE.search(page).group(1) for page in pages} == {"app1", "app2"}
    assert len(refused) >= 5, f"only {len(refused)} of 10 requests lost the session"
    assert all("sessions live inside this one process" in page for page in refused)
    status, headers, _ = client.get("/account")
    assert status == 302 and headers["Location"].startswith("/login")
    assert json.loads(client.get("/healthz")[2])["sessions_shared_between_instances"] is False


def test_tls_cookies_are_secure_with_the_host_prefix(stack_for, client_for):
    """Over TLS in production the session cookie is __Host-: Secure, Path=/, no Domain, HttpOnly, SameSite."""
    client = client_for(stack_for("sqlalchemy"))
    client.login("alice")
    header = next(h for h in client.set_cookie_headers if h.startswith("__Host-authdemo_session="))
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite"} <= attributes, header
    assert "domain" not in attributes and "Path=/;" in header + ";" and "SameSite=Lax" in header


def test_static_files_come_from_nginx(stack_for, client_for):
    """/static/ is served by nginx with caching headers and never reaches gunicorn."""
    stack = stack_for("sqlalchemy")
    client = client_for(stack)
    for _ in range(3):
        status, headers, body = client.get("/static/css/site.css")
        assert status == 200 and headers["X-Served-By"] == "nginx" and "max-age=3600" in headers["Cache-Control"]
        assert headers["Content-Type"] == "text/css" and body
    client.get("/healthz")  # something that does reach an instance, so the logs are not empty
    logs = "\n".join(Path(app.log_path).read_text() for app in stack.apps)
    assert "/healthz" in logs and "/static/" not in logs


def test_plain_http_redirects_to_https(stack_for):
    """Port 80's job: send everything to HTTPS, same path and query."""
    stack = stack_for("sqlalchemy")
    connection = http.client.HTTPConnection("127.0.0.1", stack.nginx.http_port, timeout=5)
    try:
        connection.request("GET", "/account?tab=1")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 301
    assert response.headers["Location"] == f"{stack.url}/account?tab=1"


def test_a_forged_forwarded_for_is_not_believed(stack_for, client_for):
    """With one trusted hop the app reads the address nginx wrote, not the one the client claims."""
    client = client_for(stack_for("sqlalchemy"))
    forged = {"X-Forwarded-For": "203.0.113.66"}
    status, _, page = client.get("/login", headers=forged)
    token = CSRF.search(page).group(1)
    form = {"username": "bob", "password": PASSWORDS["bob"], "csrf_token": token}
    assert client.request("POST", "/login", form=form, headers=forged)[0] == 302
    sessions = client.get("/account/sessions")[2]
    assert "127.0.0.1" in sessions and "203.0.113.66" not in sessions


def test_failed_logins_are_counted_across_both_instances(stack_for, client_for):
    """Redis counts failures for both instances: the sixth try on one account is a 429 with Retry-After."""
    client = client_for(stack_for("redis"))
    statuses, served_by = [], set()
    for _ in range(6):
        served_by.add(json.loads(client.get("/healthz")[2])["instance"])
        statuses.append(client.login("nobody-in-particular", "wrong")[0])
    assert statuses == [200] * 5 + [429], statuses
    status, headers, _ = client.login("nobody-in-particular", "wrong")
    assert status == 429 and int(headers["Retry-After"]) > 0
