"""A browser stand-in over real HTTP: it keeps its cookies and logs in through the form, CSRF token included."""

from __future__ import annotations

import re
from dataclasses import dataclass
from http.client import HTTPConnection
from urllib.parse import urlencode

from ..harness.processes import LabError

CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
DEMO_USER = ("alice", "alice-password")


@dataclass(frozen=True)
class Answer:
    """One HTTP response, read in full."""

    status: int
    location: str
    body: str


def csrf_token(html: str) -> str:
    """The hidden csrf_token of a page's form."""
    match = CSRF_PATTERN.search(html)
    if match is None:
        raise LabError("no csrf_token in the login form")
    return match.group(1)


def cookie_changes(set_cookie_headers: list[str]) -> dict[str, str | None]:
    """Name → new value (None: deleted) from Set-Cookie headers; attributes other than expiry do not matter here."""
    changes: dict[str, str | None] = {}
    for header in set_cookie_headers:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.strip().partition("=")
        attrs = attributes.lower().replace(" ", "")
        deleted = "max-age=0" in attrs or "expires=thu,01jan1970" in attrs
        changes[name] = None if deleted else value
    return changes


class Visitor:
    """Cookies in a dict; a new connection per request, so an app restart in between is no problem.

    With ``keep_alive=True`` it holds one connection instead, as a browser
    does, so that every request reaches the same gunicorn worker process
    (close it afterwards: ``with Visitor(keep_alive=True) as visitor``).
    """

    def __init__(self, timeout: float = 10.0, keep_alive: bool = False):
        self.cookies: dict[str, str] = {}
        self.timeout = timeout
        self.keep_alive = keep_alive
        self._connection: HTTPConnection | None = None
        self._connected_to = ""

    def close(self) -> None:
        """Close the kept connection, if any."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> Visitor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _connect(self, base_url: str) -> HTTPConnection:
        if self._connection is not None and self._connected_to != base_url:
            self.close()
        if self._connection is None:
            self._connection = HTTPConnection(base_url.removeprefix("http://"), timeout=self.timeout)
            self._connected_to = base_url
        return self._connection

    @property
    def cookie_header(self) -> str:
        """What the browser would send in its Cookie header."""
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def credentials(self) -> dict[str, str]:
        """The headers that carry this visitor's login (what a load generator replays)."""
        return {"Cookie": self.cookie_header} if self.cookies else {}

    def request(self, base_url: str, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        """One request with this visitor's cookies; redirects are not followed."""
        headers = {"Cookie": self.cookie_header} if self.cookies else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = self._connect(base_url)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            set_cookies = response.headers.get_all("Set-Cookie") or []
            answer = Answer(response.status, response.headers.get("Location", ""), text)
        except OSError as error:
            self.close()
            raise LabError(f"{method} {base_url}{path} failed: {error}") from error
        finally:
            if not self.keep_alive:
                self.close()
        for name, value in cookie_changes(set_cookies).items():
            if value is None:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return answer

    def login(self, base_url: str, username: str = DEMO_USER[0], password: str = DEMO_USER[1]) -> None:
        """Fill in and post the login form as a person would; raise LabError unless it logs in."""
        self.cookies.clear()
        form = self.request(base_url, "GET", "/login")
        if form.status != 200:
            raise LabError(f"GET /login answered {form.status}")
        answer = self.request(
            base_url,
            "POST",
            "/login",
            {"username": username, "password": password, "csrf_token": csrf_token(form.body)},
        )
        if answer.status != 302 or "/login" in answer.location:
            raise LabError(f"POST /login answered {answer.status} {answer.location!r}, not a redirect home")

    def logout(self, base_url: str) -> None:
        """Press the header's log-out button (a POST with the page's CSRF token)."""
        page = self.request(base_url, "GET", "/")
        answer = self.request(base_url, "POST", "/logout", {"csrf_token": csrf_token(page.body)})
        if answer.status != 302:
            raise LabError(f"POST /logout answered {answer.status}")

    def logged_in(self, base_url: str) -> tuple[bool, str]:
        """Whether GET /account is served (True) or redirects to the login form (False), and what it answered."""
        answer = self.request(base_url, "GET", "/account")
        if answer.status == 200:
            return True, "GET /account answered 200"
        if answer.status == 302 and "/login" in answer.location:
            return False, "GET /account answered 302 → /login"
        raise LabError(f"GET /account answered {answer.status} {answer.location!r}")
