"""The /compare page and the three small routes the bench loads.

This is the only lab module the app imports. The page reads results.json and
serves the PNGs the commands left; it never imports the measuring or plotting
code, so none of it sits on the request path.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, send_from_directory, session
from flask_login import current_user, login_required

from . import results

bp = Blueprint("compare", __name__)

EVENTS = ("app_restart", "store_restart", "secret_rotation", "second_instance", "revocation_after_restart")
EVENT_TITLES = {
    "app_restart": "app restart",
    "store_restart": "store restart",
    "secret_rotation": "new secret key",
    "second_instance": "second app instance",
    "revocation_after_restart": "logout still holds after an app restart",
}
#: Why each row of the matrix comes out as it does, in a sentence.
WHY = {
    "memory": "The memory store lives in one process: a restart empties it, and another process has its own, "
    "empty one. The id in the cookie is random, not signed, so the secret key plays no part.",
    "redis": "Redis holds the sessions outside the app, shared by every process. Across its own restart it keeps "
    "them only if it writes them to disk (the append-only file); as a pure cache it starts empty.",
    "memcached": "Memcached keeps nothing on disk: its restart forgets everyone. It holds the sessions outside "
    "the app, so every process shares them.",
    "sqlalchemy": "The sessions are rows in a database, which is made to outlive every restart, its own included.",
    "cookie": "The whole session travels in the browser, signed with the secret key: any process with the same "
    "key accepts it, and a new key makes every cookie a forgery. A signed cookie is only as durable as its secret.",
    "jwt": "A JWT needs no lookup until you want to revoke it: every process with the key accepts it, through "
    "restarts of anything but the key. Logout lives in the deny list, so the token store decides whether a "
    "revoked token stays revoked: in the app's memory it comes back to life at the next restart.",
}
SCENARIO_WHY = {
    "baseline": "A route that touches no session and no database: what the server and the framework cost alone.",
    "protected_page": "A logged-in GET that changes nothing: one session lookup and one user query per request.",
    "session_write": "Every request changes the session, so every request writes it back to the store.",
    "login": "Checking the password with scrypt is deliberately slow; next to it the store hardly shows.",
}
CHARTS = {
    "restart": "restart.png",
    "http": "bench_http.png",
    "store": "bench_store.png",
    "scale": "bench_scale.png",
}


def _results_dir():
    return results.results_dir(current_app.instance_path)


@bp.route("/compare")
def compare():
    """The latest restart matrix and benchmark, with why each comes out that way."""
    directory = _results_dir()
    data = results.load(directory)
    charts = {name: filename for name, filename in CHARTS.items() if (directory / filename).is_file()}
    return render_template(
        "compare/index.html",
        data=data,
        matrix=_matrix(data.get("restart", [])),
        events=EVENTS,
        event_titles=EVENT_TITLES,
        why=WHY,
        scenario_why=SCENARIO_WHY,
        charts=charts,
    )


def _matrix(rows: list[dict]) -> list[dict]:
    """The restart rows grouped into one line per (mode, store, variant), in the order measured."""
    lines: dict[tuple, dict] = {}
    for row in rows:
        key = (row.get("mode"), row.get("store"), row.get("variant", ""))
        line = lines.setdefault(key, {"mode": key[0], "store": key[1], "variant": key[2], "cells": {}})
        line["cells"][row.get("event")] = row
    return list(lines.values())


@bp.route("/compare/<name>.png")
def chart(name: str):
    """A chart the lab commands drew."""
    if name not in {filename.removesuffix(".png") for filename in CHARTS.values()}:
        abort(404)
    return send_from_directory(_results_dir(), f"{name}.png", max_age=0)


# -- what the bench loads ------------------------------------------------------------


@bp.route("/bench/baseline")
def bench_baseline():
    """No session, no database: the bench's yardstick (sent without a cookie, so no store is asked)."""
    return "ok\n", 200, {"Content-Type": "text/plain"}


@bp.route("/bench/protected")
@login_required
def bench_protected():
    """The smallest protected page: the session is looked up and the user loaded, nothing is written."""
    return f"{current_user.username}\n", 200, {"Content-Type": "text/plain"}


@bp.route("/bench/session-write")
@login_required
def bench_session_write():
    """A protected page that changes the session, so it is written back on every request."""
    session["bench_counter"] = session.get("bench_counter", 0) + 1
    return f"{session['bench_counter']}\n", 200, {"Content-Type": "text/plain"}
