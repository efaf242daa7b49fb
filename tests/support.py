"""What the test files share (the fixtures stay in conftest.py): accounts, the browser-like client, a movable clock."""

from __future__ import annotations

import re
import time

from authdemo.drivers import get_connections
from authdemo.extensions import db

SECRET = "test-secret-key-that-is-long-enough-for-hmac"
PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}
ROLES = {"alice": "admin", "bob": "editor", "carol": "viewer"}

# Every store the contract suite runs against; sqlalchemy twice, on SQLite and on PostgreSQL.
BACKENDS = ["memory", "redis", "memcached", "sqlalchemy", "sqlalchemy-postgres", "cookie"]


def shutdown(app) -> None:
    """Release every connection an app holds (tests must leave nothing open)."""
    app.extensions["authdemo_login"].store.close()
    app.extensions["authdemo_tokens"].store.close()
    get_connections(app).close()
    with app.app_context():
        db.engine.dispose()


CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """A test client that behaves like a person in a browser: fetches forms, posts them with their CSRF token."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]

    def csrf(self, path: str = "/login") -> str:
        """The CSRF token from a page's form."""
        page = self.client.get(path)
        match = CSRF_PATTERN.search(page.get_data(as_text=True))
        assert match, f"no csrf_token in {path} (status {page.status_code})"
        return match.group(1)

    def login(self, username: str = "alice", password: str | None = None, next: str | None = None):
        """Log in through the form; returns the POST's response."""
        path = "/login" + (f"?next={next}" if next else "")
        token = self.csrf(path)
        form = {"username": username, "password": password or PASSWORDS.get(username, ""), "csrf_token": token}
        if next is not None:
            form["next"] = next
        return self.client.post("/login", data=form)

    def post(self, path: str, data: dict | None = None, form_page: str = "/"):
        """POST a form the way the page would, with its CSRF token."""
        return self.client.post(path, data={"csrf_token": self.csrf(form_page), **(data or {})})

    def logout(self):
        """Press the header's log-out button."""
        return self.post("/logout", form_page="/")

    @property
    def cookie(self) -> str | None:
        """The session cookie's value, as the browser holds it."""
        cookie = self.client.get_cookie(self.cookie_name)
        return cookie.value if cookie else None

    def use_cookie(self, value: str) -> None:
        """Replace the session cookie (replaying a stolen or old copy)."""
        self.client.set_cookie(self.cookie_name, value)

    def is_logged_in(self) -> bool:
        """Whether /account is served (True) or redirects to /login (False)."""
        response = self.client.get("/account")
        assert response.status_code in (200, 302), response.status_code
        return response.status_code == 200


#: Stores whose expiry runs on a real server's own clock: only there does a test wait for real.
SERVER_TTL_STORES = ("redis", "memcached")


class MovableClock:
    """The real time plus an offset a test moves forward: expiry, idle timeouts and touches without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the app, at once."""
        self.offset += seconds


def wait_for_server_ttl(seconds: float) -> None:
    """Wait for real, where a real server's own TTL is the thing under test (in steps of at most half a second)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.5))


def let_time_pass(clock: MovableClock, store: str, seconds: float) -> None:
    """Move the app's clock; for Redis and Memcached, whose TTLs run on the server, wait as well."""
    if store.rpartition(":")[2].split("-")[0] in SERVER_TTL_STORES:
        wait_for_server_ttl(seconds)
    else:
        clock.advance(seconds)


# These flags matter on a closed-network machine: no GPU, no QUIC, no background
# fetches (component updates, sync, first-run), which would otherwise hang or warn.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 5_000  # everything is local; waiting 30 s (the default) only hides hangs
