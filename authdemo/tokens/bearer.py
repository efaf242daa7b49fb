"""Bearer tokens over HTTP (RFC 6750): reading the header, and JSON errors with their challenges.

Shared by the app's API and the tasks service; imports nothing that opens a database.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, jsonify, request


class ApiError(Exception):
    """An answer with a status, an error code and, for token errors, a WWW-Authenticate challenge."""

    def __init__(self, status: int, error: str, message: str, challenge: str | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.challenge = status, error, message, challenge


def _api_error(error: ApiError) -> Response:
    response = jsonify(error=error.error, message=error.message)
    response.status_code = error.status
    if error.challenge:
        response.headers["WWW-Authenticate"] = error.challenge
    response.headers["Cache-Control"] = "no-store"
    return response


def invalid_token(message: str) -> ApiError:
    """401 with the RFC 6750 invalid_token challenge."""
    description = message.replace('"', "'")
    challenge = f'Bearer realm="authdemo", error="invalid_token", error_description="{description}"'
    return ApiError(401, "invalid_token", message, challenge)


def bearer_token() -> str:
    """The token from ``Authorization: Bearer …``; 401 without the challenge error when absent (RFC 6750 §3.1)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise ApiError(
            401, "invalid_request", "Send the token in an Authorization: Bearer header.", 'Bearer realm="authdemo"'
        )
    if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        raise invalid_token("The Authorization header is not of the form 'Bearer <token>'.")
    return token.strip()


def insufficient_scope(permission: str) -> ApiError:
    """403: a valid token without the permission."""
    challenge = f'Bearer realm="authdemo", error="insufficient_scope", scope="{permission}"'
    return ApiError(403, "insufficient_scope", f"This needs the permission {permission}.", challenge)


def register_api_errors(target: Blueprint | Flask) -> None:
    """Answer ApiError as JSON on this blueprint or app."""
    target.register_error_handler(ApiError, _api_error)
