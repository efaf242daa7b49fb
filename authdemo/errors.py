"""Error pages (HTML) and JSON errors: a clear status and message, never a traceback."""

from __future__ import annotations

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import BadHost, HTTPException

from .drivers import StoreUnavailable

RETRY_AFTER = "5"  # seconds: a store restart or failover takes about that long

TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Service unavailable",
}


def wants_json() -> bool:
    """API clients get JSON errors; browsers get pages."""
    return (
        request.path.startswith("/api/")
        or request.path.endswith(".json")
        or request.accept_mimetypes.best == "application/json"
    )


def error_response(status: int, code: str, message: str) -> Response:
    """One error, as a page or as JSON {"error", "message"}."""
    if wants_json():
        response = jsonify(error=code, message=message)
    elif request_ctx.url_adapter is None:
        # The Host header could not be routed (a label over 63 characters, say): no url_for,
        # so no template; a plain-text answer says the same.
        response = Response(f"{status} {TITLES.get(status, 'Error')}: {message}\n", mimetype="text/plain")
    else:
        if status >= 500 and "_login_user" not in g:
            # Rendering must not retry the user lookup that may have just failed
            # (Flask-Login's context processor would): show the page as anonymous.
            g._login_user = current_app.login_manager.anonymous_user()
        response = Response(
            render_template(
                "errors/error.html",
                status=status,
                title=TITLES.get(status, "Error"),
                message=message,
                # 5xx pages must not need the store or database that just failed.
                bare=status >= 500,
            )
        )
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER
    return response


def store_unavailable_response(error: StoreUnavailable) -> Response:
    """503 naming the store that did not answer."""
    return error_response(
        503,
        "store_unavailable",
        f"The {error.store} {error.kind} store is not answering, so nobody can be logged in right now. "
        "Whatever the store kept works again as soon as it is back.",
    )


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.after_request
    def _retry_after_on_503(response: Response) -> Response:
        """Every 503 says when to come back, whichever part of the app answered it."""
        if response.status_code == 503:
            response.headers.setdefault("Retry-After", RETRY_AFTER)
        return response

    @app.errorhandler(StoreUnavailable)
    def _store_unavailable(error: StoreUnavailable):
        app.logger.warning("store unavailable: %s", error)
        return store_unavailable_response(error)

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(error):
        app.logger.warning("database unavailable: %s", type(error).__name__)
        return error_response(503, "database_unavailable", "The database is not answering. Try again in a moment.")

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return error_response(
            400,
            "csrf_failed",
            f"The form's CSRF token was refused ({error.description}) Reload the page and try again.",
        )

    @app.errorhandler(DataError)
    def _bad_data(error: DataError):
        return error_response(400, "bad_request", "The request holds a value the database cannot store.")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        description = error.description or ""
        if isinstance(error, BadHost):
            description = "The Host header is not a valid host name (a label has at most 63 characters)."
        response = error_response(error.code or 500, (error.name or "error").lower().replace(" ", "_"), description)
        # Keep what the exception says about itself, such as Allow on a 405.
        for name, value in error.get_headers():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error happened; it has been logged.")
