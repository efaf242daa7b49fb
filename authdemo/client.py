"""A command-line API client, as the notes on token storage for apps ask: tokens in a private file.

    python -m authdemo.client login [--username NAME] [--password-stdin]
    python -m authdemo.client me
    python -m authdemo.client tasks [--tasks-url http://127.0.0.1:5001/tasks]
    python -m authdemo.client logout

The tokens are kept in a file only its owner can read (mode 0600), with the
address of the server that issued them: later commands go back to that
server unless --url names another. A 401 is answered by one refresh (the
refresh token rotates, and the new pair is saved); when the refresh token is
no longer accepted, the client says so and asks for a new login.

The tasks service lists its own tasks, not the app's: it shares only the
token key with the app and opens no database, so ``tasks --tasks-url`` shows
a shorter list than ``tasks``, which asks the app's /api/tasks.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:5000"
DEFAULT_TOKEN_FILE = Path.home() / ".authdemo" / "tokens.json"


class LoginNeeded(Exception):
    """There is no usable token: the user must log in again."""


class Unreachable(Exception):
    """A server did not answer; the message names the address that was tried."""

    def __init__(self, url: str, reason: object):
        super().__init__(f"Cannot reach {url}: {reason}")
        self.url = url


def _request(method: str, url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the user's own server
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.load(error)
        except ValueError:
            return error.code, {"error": "http_error", "message": error.reason}
    except urllib.error.URLError as error:
        raise Unreachable(url, error.reason) from None
    except OSError as error:
        raise Unreachable(url, error) from None


class TokenFile:
    """The saved pair, readable only by its owner."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> dict:
        """The saved tokens, or LoginNeeded."""
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            raise LoginNeeded("You are not logged in.") from None

    def save(self, tokens: dict) -> None:
        """Write atomically with mode 0600 in a 0700 directory."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(tokens, handle)
        os.replace(temporary, self.path)

    def delete(self) -> None:
        """Forget the tokens."""
        self.path.unlink(missing_ok=True)


class Client:
    """Calls the API with the saved access token, refreshing once on a 401."""

    def __init__(self, base_url: str, tokens: TokenFile):
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens

    def login(self, username: str, password: str) -> dict:
        """POST /api/token and save the pair, with the server that issued it."""
        status, body = _request("POST", f"{self.base_url}/api/token", body={"username": username, "password": password})
        if status != 200:
            raise LoginNeeded(body.get("message", "Login refused."))
        self.tokens.save({**body, "server": self.base_url})
        return body

    def call(self, method: str, url: str) -> tuple[int, dict]:
        """The call with the access token; on 401, refresh once and retry."""
        saved = self.tokens.load()
        status, body = _request(method, url, saved["access_token"])
        if status != 401:
            return status, body
        self._refresh(saved)
        return _request(method, url, self.tokens.load()["access_token"])

    def _refresh(self, saved: dict) -> None:
        status, body = _request("POST", f"{self.base_url}/api/token/refresh", saved["refresh_token"])
        if status != 200:
            self.tokens.delete()
            raise LoginNeeded(f"Your login has ended ({body.get('message', status)}).")
        self.tokens.save({**body, "server": self.base_url})

    def logout(self) -> None:
        """Revoke the refresh token (ending this login and its access tokens), then forget both."""
        saved = self.tokens.load()
        _request("POST", f"{self.base_url}/api/token/revoke", saved["refresh_token"])
        self.tokens.delete()


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit status 1 when a login is needed."""
    parser = argparse.ArgumentParser(prog="python -m authdemo.client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help=f"the authdemo app (default: the server you logged in to, else {DEFAULT_URL})")
    parser.add_argument("--token-file", type=Path, default=DEFAULT_TOKEN_FILE, help="where the tokens are kept")
    commands = parser.add_subparsers(dest="command", required=True)
    login = commands.add_parser("login", help="log in and save the tokens")
    login.add_argument("--username")
    login.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    commands.add_parser("me", help="who the access token says you are")
    tasks = commands.add_parser("tasks", help="the tasks (from the app, or from the tasks service)")
    tasks.add_argument(
        "--tasks-url",
        help="e.g. http://127.0.0.1:5001/tasks: the separate tasks service, which lists its own tasks (fewer)",
    )
    commands.add_parser("logout", help="revoke the tokens and forget them")
    args = parser.parse_args(argv)

    tokens = TokenFile(args.token_file)
    client = Client(args.url or _saved_server(tokens) or DEFAULT_URL, tokens)
    try:
        if args.command == "login":
            username = args.username or input("Username: ")
            password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
            client.login(username, password)
            print(f"Logged in as {username}; tokens saved in {args.token_file} (mode 0600).")
        elif args.command == "logout":
            client.logout()
            print("Logged out: the refresh token is revoked and the token file deleted.")
        else:
            url = (
                args.tasks_url
                if args.command == "tasks" and args.tasks_url
                else (f"{client.base_url}/api/{'me' if args.command == 'me' else 'tasks'}")
            )
            status, body = client.call("GET", url)
            print(json.dumps(body, indent=2))
            if args.command == "tasks" and args.tasks_url and status == 200:
                print(
                    f"(from the tasks service at {args.tasks_url}: its own list, not the app's; it shares only "
                    "the token key with the app and opens no database)",
                    file=sys.stderr,
                )
            return 0 if status == 200 else 1
    except LoginNeeded as reason:
        print(f"{reason} Log in again: python -m authdemo.client login", file=sys.stderr)
        return 1
    except Unreachable as error:
        print(error, file=sys.stderr)
        return 2
    return 0


def _saved_server(tokens: TokenFile) -> str | None:
    """The server the saved tokens came from, if any."""
    try:
        server = tokens.load().get("server")
    except LoginNeeded:
        return None
    return server if isinstance(server, str) and server.startswith(("http://", "https://")) else None


if __name__ == "__main__":
    raise SystemExit(main())
