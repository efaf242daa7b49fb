"""Error pages (HTML) and JSON errors: a clear status and message, never a traceback."""

from __future__ import annotations

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import BadHost, HTTPException, InternalServerError

from .drivers import StoreUnavailable

#: What a database that is down or restarting raises: a 503, never a 500.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout, DisconnectionError)
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

    for database_error in DATABASE_DOWN:
        app.register_error_handler(database_error, _database_unavailable)
    _guard_database_teardown(app)

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
        # An exception after the view (an after_request hook, saving the session) reaches here as a 500
        # wrapping it: a database or store outage there is still a 503.
        original = getattr(error, "original_exception", None) if isinstance(error, InternalServerError) else None
        if isinstance(original, StoreUnavailable):
            return store_unavailable_response(original)
        if _is_database_down(original):
            return _database_unavailable(original)
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
        if _is_database_down(error):
            return _database_unavailable(error)
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error happened; it has been logged.")


def _is_database_down(error: BaseException | None) -> bool:
    """An outage of the database (any driver error on a connection it dropped), not a bug in a query."""
    return isinstance(error, DATABASE_DOWN) or (isinstance(error, DBAPIError) and error.connection_invalidated)


def _database_unavailable(error: BaseException) -> Response:
    current_app.logger.warning("database unavailable: %s", type(error).__name__)
    return error_response(503, "database_unavailable", "The database is not answering. Try again in a moment.")


def _guard_database_teardown(app: Flask) -> None:
    """Flask-SQLAlchemy's teardown, made unable to turn an answer into a 500.

    Its teardown rolls back the request's transaction after the answer is
    built; on a connection the database dropped (PostgreSQL killed or
    restarted meanwhile) that rollback raises, and the error escaped the
    request: gunicorn answered 500 in place of the view's own answer. Now the
    failure is logged, the session and its connection thrown away, and the
    answer already built goes out.
    """
    from .extensions import db

    def teardown_session(exc: BaseException | None) -> None:
        try:
            db.session.remove()
        except SQLAlchemyError as error:
            app.logger.warning("database unavailable at teardown: %s", type(error).__name__)
            registry = db.session.registry
            if registry.has():
                try:
                    registry().invalidate()  # the connection is dead: do not hand it back to the pool
                except SQLAlchemyError:
                    pass
            registry.clear()  # a later request with the same context id must get a new session

    functions = app.teardown_appcontext_funcs
    functions[:] = [teardown_session if function == db._teardown_session else function for function in functions]
    assert teardown_session in functions, "Flask-SQLAlchemy's teardown was not found: was db.init_app called first?"
