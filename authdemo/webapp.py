"""The token front end (/app) and, in development only, the lesson on where a browser keeps a token.

/app is a static single-page client of the JSON API (static/js/app.js):
the access token lives in a JavaScript variable, the refresh token in an
HttpOnly cookie that only /api/token/refresh sees. The server renders only
the shell, with the few settings the script needs in data- attributes.

The lesson (/app/lesson) runs attacker code against its own dummy tokens,
never against real credentials; it is not even registered in production.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from .tokens.refresh_cookie import COOKIE_PATH, DELIVERY_HEADER

bp = Blueprint("webapp", __name__)
lesson_bp = Blueprint("lesson", __name__)

LESSON_COOKIE = "authdemo_lesson_refresh"
LESSON_PATH = "/app/lesson"


@bp.route("/app")
def app_page():
    """The token front end: the HTML shell; everything else happens in static/js/app.js."""
    settings = current_app.extensions["authdemo_settings"]
    return render_template(
        "webapp/app.html",
        tasks_url=settings.tasks_url,
        leeway=settings.jwt_leeway,
        refresh_path=COOKIE_PATH,
        delivery_header=DELIVERY_HEADER,
        lesson=not settings.production,
    )


def _dummy_token(kind: str) -> str:
    """A token-shaped string that opens nothing: the lesson steals these, never a real one."""
    return f"lesson-dummy-{kind}.{secrets.token_urlsafe(24)}"


def _mask(value: str) -> str:
    return f"{value[:16]}…({len(value)} characters)" if len(value) > 16 else "…"


@lesson_bp.route(LESSON_PATH)
def lesson():
    """What a script injected into a page can take, shown with dummy tokens (development only)."""
    # The site's own Content-Security-Policy (authdemo/headers.py) is what the lesson's fourth case tries.
    response = Response(render_template("webapp/lesson.html"))
    response.headers["Cache-Control"] = "no-store"
    return response


@lesson_bp.route(f"{LESSON_PATH}/cookie", methods=["POST"])
def lesson_cookie():
    """Set the lesson's dummy refresh token as an HttpOnly, SameSite=Strict cookie on the lesson's paths."""
    response = jsonify(set=True, path=LESSON_PATH)
    response.set_cookie(
        LESSON_COOKIE, _dummy_token("refresh"), max_age=600, path=LESSON_PATH, httponly=True, samesite="Strict"
    )
    return response


@lesson_bp.route(f"{LESSON_PATH}/refresh", methods=["POST"])
def lesson_refresh():
    """The lesson's refresh endpoint: a dummy access token for whoever's request carries the dummy cookie."""
    if not request.cookies.get(LESSON_COOKIE, "").startswith("lesson-dummy-refresh."):
        return jsonify(error="invalid_token", message="No lesson cookie came with this request."), 401
    return jsonify(access_token=_dummy_token("access"), note="minted because the browser sent the HttpOnly cookie")


@lesson_bp.route(f"{LESSON_PATH}/collect", methods=["POST"])
def lesson_collect():
    """Stands for the attacker's server: says what arrived (masked), keeps nothing."""
    body = request.get_json(silent=True)
    loot = body.get("loot") if isinstance(body, dict) else None
    if not isinstance(loot, dict):
        return jsonify(error="invalid_request", message='Send JSON {"loot": {...}}.'), 400
    received = {
        str(key)[:40]: _mask(value) if isinstance(value, str) else None for key, value in list(loot.items())[:8]
    }
    return jsonify(received=received)


def init_app(app: Flask) -> None:
    """/app always; the lesson only outside production (there its URLs are plain 404s)."""
    app.register_blueprint(bp)
    if not app.extensions["authdemo_settings"].production:
        app.register_blueprint(lesson_bp)
        from .extensions import csrf

        csrf.exempt(lesson_bp)  # its POSTs carry only dummies; a CSRF form field would only clutter the lesson
