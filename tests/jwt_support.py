"""An API client for the tests: POST /api/token and friends, as a script would call them."""

from __future__ import annotations

from tests.support import PASSWORDS


class Api:
    """Bearer-token calls through a Flask test client."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()

    def token(self, username: str = "alice", password: str | None = None) -> dict:
        """A fresh pair; asserts the login worked."""
        response = self.client.post(
            "/api/token", json={"username": username, "password": password or PASSWORDS[username]}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def call(self, method: str, path: str, token: str | None, scheme: str = "Bearer"):
        """Any API call with the token in the Authorization header."""
        headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
        return self.client.open(path, method=method, headers=headers)

    def me(self, access: str):
        """GET /api/me."""
        return self.call("GET", "/api/me", access)

    def refresh(self, refresh: str):
        """POST /api/token/refresh."""
        return self.call("POST", "/api/token/refresh", refresh)

    def revoke(self, token: str):
        """POST /api/token/revoke."""
        return self.call("POST", "/api/token/revoke", token)

    def logout_all(self, access: str):
        """POST /api/logout-all."""
        return self.call("POST", "/api/logout-all", access)
