"""OpenAPI 3.1 documents of the JSON API (GET /api/openapi.json) and of the tasks service (GET /openapi.json).

Built as plain dicts, next to nothing else: tests/test_openapi.py runs
schemathesis against both services with them, so an answer the document does
not describe (a status, a header, a body shape) fails the suite. Imports
nothing that opens a database: the tasks service serves its own document.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify

from .tasks import TITLE_MAX

DELIVERY_HEADER = "X-Refresh-Token-Delivery"
# A task title as clean_title() takes it: no control character (Cc), at least one character that is not a space.
_NOT_CONTROL = r"[^\x00-\x1f\x7f-\x9f]"
TITLE_PATTERN = rf"^{_NOT_CONTROL}*[^\s\x00-\x1f\x7f-\x9f]{_NOT_CONTROL}*$"
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "string"}}}
CHALLENGE = {
    "WWW-Authenticate": {
        "description": 'RFC 6750 challenge, for example `Bearer realm="authdemo", error="invalid_token"`.',
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer "},
    }
}


def _error(description: str, headers: dict | None = None) -> dict:
    answer = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


# The answers every operation may give: the RFC 6750 ones where a token is read, and the outages.
ERRORS = {
    "400": _error("The request is malformed: not JSON, JSON that is not text or nested too deep, a missing field."),
    "401": _error(
        "No token, or a token that is malformed, expired, revoked or of the wrong type (RFC 6750 invalid_token).",
        CHALLENGE,
    ),
    "403": _error("A valid token without the permission (RFC 6750 insufficient_scope).", CHALLENGE),
    "405": _error("The method is not allowed on this path.", {"Allow": {"schema": {"type": "string"}}}),
    "413": _error("The body is over 64 KiB."),
    "401-grant": _error(
        "Wrong username or password (invalid_grant); the same words whether or not the account exists."
    ),
    "429": _error("Too many failed logins for this account or address.", RETRY_AFTER),
    "503": _error("The token store or the database is not answering.", RETRY_AFTER),
}
COMMON = ("400", "405", "413", "503")
BEARER = [{"bearer": []}]

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "Credentials": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {
            "username": {"type": "string", "maxLength": 64},
            "password": {"type": "string", "maxLength": 1024},
        },
    },
    "TokenPair": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"},
            "refresh_token": {"type": "string", "description": "Absent when the refresh token went into the cookie."},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "minimum": 0},
            "refresh_token_delivery": {"const": "cookie"},
            "refresh_expires_in": {"type": "integer", "minimum": 0},
        },
    },
    "Task": {
        "type": "object",
        "required": ["id", "title", "done"],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "done": {"type": "boolean"},
            "owner": {"type": "string"},
            "created": {"type": "integer"},
        },
    },
    "Jwks": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty", "kid"]}}},
    },
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _answers(ok: dict, *codes: str) -> dict:
    return {**ok, **{code.split("-")[0]: ERRORS[code] for code in sorted(set(codes) | set(COMMON))}}


def _delivery(required: bool) -> dict:
    return {
        "name": DELIVERY_HEADER,
        "in": "header",
        "required": required,
        "description": "`cookie`: the /app page's flow, the refresh token in an HttpOnly cookie; `body` (default).",
        "schema": {"type": "string", "enum": ["cookie"] if required else ["body", "cookie"]},
    }


def _links() -> dict:
    """From a token answer to the operations that take its tokens (schemathesis follows them)."""
    access = "$response.body#/access_token"
    refresh = "$response.body#/refresh_token"
    return {
        "GetMe": {"operationId": "getMe", "parameters": {"header.Authorization": f"Bearer {{{access}}}"}},
        "ListTasks": {"operationId": "listTasks", "parameters": {"header.Authorization": f"Bearer {{{access}}}"}},
        "Refresh": {"operationId": "refreshToken", "parameters": {"header.Authorization": f"Bearer {{{refresh}}}"}},
        "Revoke": {"operationId": "revokeToken", "parameters": {"header.Authorization": f"Bearer {{{refresh}}}"}},
    }


def api_document() -> dict:
    """The app's JSON API: tokens, who am I, tasks, the JWKS, and this document."""
    token_answer = {**_json({"$ref": "#/components/schemas/TokenPair"}, "An access token and a refresh token.")}
    token_answer["headers"] = {"Cache-Control": {"schema": {"const": "no-store"}, "required": True}}
    token_answer["links"] = _links()
    paths = {
        "/api/token": {
            "post": {
                "operationId": "issueToken",
                "summary": "Username and password for an access and a refresh token (also at /api/token/).",
                "security": [],
                "parameters": [_delivery(False)],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Credentials"}}},
                },
                "responses": _answers({"200": token_answer}, "401-grant", "429"),
            }
        },
        "/api/token/refresh": {
            "post": {
                "operationId": "refreshToken",
                "summary": "A refresh token (Bearer, or the /app page's cookie) for a new pair; it rotates.",
                "security": BEARER,
                "parameters": [_delivery(False)],
                "responses": _answers({"200": token_answer}, "401"),
            },
            "delete": {
                "operationId": "endPageLogin",
                "summary": "The /app page's log-out: revoke the refresh cookie's login and clear the cookie.",
                "security": [],
                "parameters": [_delivery(True)],
                "responses": _answers(
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["logged_out", "login_ended"],
                                "properties": {"logged_out": {"const": True}, "login_ended": {"type": "boolean"}},
                            },
                            "Logged out (whether or not the cookie still named a live login).",
                        )
                    }
                ),
            },
        },
        "/api/token/revoke": {
            "post": {
                "operationId": "revokeToken",
                "summary": "Revoke the presented access or refresh token (a refresh token ends its whole login).",
                "security": BEARER,
                "responses": _answers(
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["revoked", "token_type"],
                                "properties": {
                                    "revoked": {"type": "string"},
                                    "token_type": {"enum": ["access", "refresh"]},
                                },
                            },
                            "The token's id, now on the deny list.",
                        )
                    },
                    "401",
                ),
            }
        },
        "/api/logout-all": {
            "post": {
                "operationId": "logoutAll",
                "summary": "Every token of the user stops working.",
                "security": BEARER,
                "responses": _answers(
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["logins_ended"],
                                "properties": {"logins_ended": {"type": "integer", "minimum": 0}},
                            },
                            "How many logins (token families) ended.",
                        )
                    },
                    "401",
                ),
            }
        },
        "/api/me": {
            "get": {
                "operationId": "getMe",
                "summary": "Who the token says you are.",
                "security": BEARER,
                "responses": _answers(
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["sub", "username", "roles", "permissions"],
                                "properties": {
                                    "sub": {"type": "string"},
                                    "username": {"type": "string"},
                                    "roles": {"type": "array", "items": {"type": "string"}},
                                    "permissions": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                            "The token's subject, roles and permissions.",
                        )
                    },
                    "401",
                ),
            }
        },
        "/api/tasks": {
            "get": {
                "operationId": "listTasks",
                "summary": "The tasks; needs tasks.read.",
                "security": BEARER,
                "responses": _answers(
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["tasks"],
                                "properties": {
                                    "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}
                                },
                            },
                            "Every task, oldest first.",
                        )
                    },
                    "401",
                    "403",
                ),
            },
            "post": {
                "operationId": "addTask",
                "summary": "Add a task; needs tasks.write.",
                "security": BEARER,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["title"],
                                "properties": {
                                    "title": {
                                        "type": "string",
                                        "maxLength": TITLE_MAX,
                                        "pattern": TITLE_PATTERN,
                                        "description": "No control characters, and at least one that is not a "
                                        "space; spaces are collapsed, characters that cannot be shown become U+FFFD.",
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": _answers(
                    {
                        "201": _json(
                            {
                                "type": "object",
                                "required": ["task"],
                                "properties": {"task": {"$ref": "#/components/schemas/Task"}},
                            },
                            "The task as stored.",
                        )
                    },
                    "401",
                    "403",
                ),
            },
        },
        "/.well-known/jwks.json": {
            "get": {
                "operationId": "getJwks",
                "summary": "The public keys (EdDSA or RS256); empty with HS256, whose key is a shared secret.",
                "security": [],
                "responses": _answers({"200": _json({"$ref": "#/components/schemas/Jwks"}, "A JWK set.")}),
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document.",
                "security": [],
                "responses": _answers({"200": _json({"type": "object"}, "OpenAPI 3.1.")}),
            }
        },
    }
    return _document(
        "authdemo JSON API",
        "Bearer tokens for API clients (RFC 6750 errors). Paths also answer with a trailing slash.",
        paths,
    )


def tasks_document() -> dict:
    """The tasks service: GET /tasks with a token holding tasks.read; /healthz; this document."""
    paths = {
        "/tasks": {
            "get": {
                "operationId": "listTasks",
                "summary": "The tasks, for a valid access token holding tasks.read; checked with the key alone.",
                "security": BEARER,
                "responses": _answers(
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["tasks", "served_by", "user", "revocation_checked"],
                                "properties": {
                                    "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
                                    "served_by": {"type": "string"},
                                    "user": {"type": "string"},
                                    "revocation_checked": {"type": "boolean"},
                                },
                            },
                            "The tasks.",
                        )
                    },
                    "401",
                    "403",
                ),
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "What this service trusts.",
                "security": [],
                "responses": _answers(
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["status"],
                                "properties": {
                                    "status": {"const": "ok"},
                                    "algorithm": {"type": "string"},
                                    "keys": {"type": "string"},
                                    "revocation_checked": {"type": "boolean"},
                                },
                            },
                            "Up.",
                        )
                    }
                ),
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document.",
                "security": [],
                "responses": _answers({"200": _json({"type": "object"}, "OpenAPI 3.1.")}),
            }
        },
    }
    return _document("authdemo tasks service", "Verifies bearer tokens with the shared key or the JWKS alone.", paths)


def _document(title: str, description: str, paths: dict) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from POST /api/token (a refresh token for /api/token/refresh).",
                }
            },
        },
        "security": BEARER,
    }


def serve(app: Flask, path: str, document) -> None:
    """GET ``path`` answers the document (built once)."""
    body = document()

    def openapi() -> Response:
        """The OpenAPI 3.1 document."""
        return jsonify(body)

    app.add_url_rule(path, endpoint="openapi", view_func=openapi, methods=["GET"])
