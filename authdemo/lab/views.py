"""The /compare page, and the three small routes the bench loads (mounted only for the lab).

This is the only lab module the app imports. The page reads results.json and
serves the PNGs the commands left; it never imports the measuring or plotting
code, so none of it sits on the request path.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, send_from_directory, session
from flask_login import current_user, login_required

from . import results

bp = Blueprint("compare", __name__)
#: Mounted only with AUTHDEMO_LAB_ROUTES=1 (the lab sets it for the apps it starts).
bench_bp = Blueprint("bench", __name__, url_prefix="/bench")

EVENTS = ("app_restart", "store_restart", "secret_rotation", "second_instance", "revocation_after_restart")
EVENT_TITLES = {
    "app_restart": "app restart",
    "store_restart": "store restart",
    "secret_rotation": "new secret key",
    "second_instance": "second app instance",
    "revocation_after_restart": "logout still holds after an app restart",
}
_JWT = (
    "A JWT needs no lookup until it is revoked: every process with the key accepts it, through restarts of "
    "anything but the key. "
)
#: Why each row of the matrix comes out as it does, in a sentence: (mode, store, variant), or (mode, store) for all.
WHY = {
    ("session", "memory"): "The memory store lives in one process: a restart empties it, and another process has "
    "its own, empty one. The id in the cookie is random, not signed, so the secret key plays no part.",
    ("session", "redis", "AOF"): "Redis holds the sessions outside the app, shared by every process, and appends "
    "every write to its append-only file, which it reads back when it restarts.",
    ("session", "redis", "no persistence"): "Redis holds the sessions outside the app, shared by every process; "
    "as a pure cache (no append-only file, no snapshots) it starts empty after its own restart.",
    ("session", "memcached"): "Memcached keeps nothing on disk: its own restart forgets everyone. It holds the "
    "sessions outside the app, so every process shares them.",
    ("session", "sqlalchemy"): "The sessions are rows in a database, which is made to outlive every restart, its own "
    "included.",
    ("session", "cookie"): "The whole session travels in the browser, signed with the secret key: any process with "
    "the same key accepts it, and a new key makes every cookie a forgery. A signed cookie is only as durable as its "
    "secret.",
    ("jwt", "memory"): _JWT + "Logout lives in a deny list in the app's own memory: an app restart forgets it, and "
    "the revoked token is accepted again until it expires.",
    ("jwt", "redis"): _JWT + "Logout lives in a deny list in Redis, outside the app: app restarts do not touch it, "
    "and with the append-only file Redis's own restart keeps it too.",
    ("jwt", "memcached"): _JWT + "Logout lives in a deny list in Memcached, outside the app: app restarts do not "
    "touch it, but Memcached's own restart forgets it.",
    ("jwt", "sqlalchemy"): _JWT + "Logout lives in a deny list in the database, which outlives every restart.",
}


def restart_why(mode: str, store: str, variant: str) -> str:
    """The sentence for one matrix row: its own variant's, else its store's in that mode."""
    return WHY.get((mode, store, variant)) or WHY.get((mode, store), "")


#: What makes the difference on a row of the side-by-side comparison: (framework, store, change).
PEER_WHY = {
    ("authdemo", "memory", ""): "One bounded dict per process (10 000 sessions by default, expiring, evictions "
    "counted) read without a round trip; a second process has its own, so requests reaching it are refused.",
    ("authdemo", "redis", ""): "One GET per protected read; the session is written back only when it changed.",
    ("authdemo", "memcached", ""): "pymemcache with no_delay=True, so no request waits on Nagle's algorithm; "
    "one get per read, the session written back only when it changed.",
    ("authdemo", "sqlalchemy", ""): "SQLite in WAL mode (synchronous=NORMAL), statements built once, and no "
    "write-back on a read: one SELECT for the session, one for the user.",
    ("authdemo", "cookie", ""): "The session is in the signed cookie, but authdemo still reads its per-login record on "
    "every request, so that logout really ends the login.",
    ("flask-session", "redis", ""): "Stock Flask-Session writes the session back on every request "
    "(SESSION_REFRESH_EACH_REQUEST with permanent sessions): a read costs a GET and a SET.",
    ("flask-session", "redis", "write_when_changed"): "The stock peer with SESSION_REFRESH_EACH_REQUEST = False alone: "
    "no write-back on a read.",
    ("flask-session", "memcached", ""): "pymemcache leaves Nagle's algorithm on: each request's GET waits for the "
    "delayed ACK of the previous SET (sent without a reply).",
    ("flask-session", "memcached", "no_delay"): "The stock peer with no_delay=True alone: the GET leaves at once; "
    "every request still writes the session back.",
    ("flask-session", "sqlalchemy", ""): "SQLite's default rollback journal and a write-back on every request: "
    "four statements (two SELECTs for the session, one for the user, an UPDATE) and a commit with its fsyncs.",
    ("flask-session", "sqlalchemy", "wal"): "The stock peer in WAL mode alone: the same four statements, but the "
    "commit appends to the write-ahead log instead of writing a rollback journal.",
    ("flask-session", "sqlalchemy", "write_when_changed"): "The stock peer without the write-back alone: two "
    "SELECTs (session, user) and no commit, in the default journal.",
    ("flask-session", "cachelib", ""): "cachelib's SimpleCache in each process: no round trip, but it keeps 500 "
    "sessions and drops the rest silently, and a second process has its own, so requests reaching it are refused.",
    ("django", "cache (redis)", ""): "Django's cache engine: one GET through Django's cache framework and no write on "
    "a read; the user query opens a new SQLite connection per request (CONN_MAX_AGE = 0).",
    ("django", "db (sqlite)", ""): "Django's db engine: one SELECT for the session and one for the user on a new "
    "SQLite connection per request (CONN_MAX_AGE = 0), no write on a read.",
    ("django", "signed_cookies", ""): "The session is in the signed cookie, so no store is read, only the user; "
    "a copy of the cookie stays valid after logout.",
}


def peer_why(row: dict) -> str:
    """The sentence for one row of the side-by-side comparison."""
    return PEER_WHY.get((row.get("framework", "authdemo"), row.get("store"), row.get("change", "")), "")


def served(row: dict) -> float:
    """Requests per second that were answered as asked (a refusal is no service)."""
    return row.get("served_per_s", row["requests_per_s"] * (1 - row.get("error_rate", 0.0)))


def served_ratio(row: dict, rows: list[dict]) -> float | None:
    """A bench row's requests served over its run's baseline's (the share of the baseline's speed it keeps)."""
    baseline = next((r for r in rows if r["scenario"] == "baseline" and r["workers"] == row["workers"]), None)
    if baseline is None or not served(baseline):
        return None
    return served(row) / served(baseline)


def peer_groups(data: dict) -> list[dict]:
    """The peer rows per authdemo store: authdemo first, then Flask-Session's setups, then Django's engine.

    Each line carries its one- and two-worker rows, authdemo ÷ it in requests
    served, its store-alone figures and the sentence saying what makes the
    difference.
    """
    rows = [row for row in data.get("peers", []) if row.get("scenario") == "protected_page"]
    order = {"authdemo": 0, "flask-session": 1, "django": 2}
    store_alone = {(row.get("framework"), row.get("store"), row.get("variant", "")): row for row in _store_alone(data)}
    groups: dict[str, dict] = {}
    for row in rows:
        group = groups.setdefault(row["paired_store"], {"store": row["paired_store"], "lines": {}})
        key = (row["framework"], row["store"], row.get("variant", ""))
        line = group["lines"].setdefault(
            key,
            {
                "framework": row["framework"],
                "setup": _setup(row),
                "why": peer_why(row),
                "store_alone": store_alone.get(key),
                "workers": {},
            },
        )
        line["workers"][row["workers"]] = row
    for group in groups.values():
        lines = sorted(group["lines"].values(), key=lambda line: order.get(line["framework"], 3))
        ours = lines[0]["workers"] if lines and lines[0]["framework"] == "authdemo" else {}
        for line in lines:
            one = line["workers"].get(1)
            if line["framework"] != "authdemo" and one is not None and 1 in ours and served(one):
                line["ratio"] = served(ours[1]) / served(one)
        group["lines"] = lines
    return list(groups.values())


def _setup(row: dict) -> str:
    if row["framework"] == "authdemo":
        return row["paired_store"]
    if row["framework"] == "flask-session":
        return f"{row['store']}, stock" if not row.get("variant") else f"{row['store']}, {row['variant']} alone"
    return f"{row['store']} engine"


def _store_alone(data: dict) -> list[dict]:
    """authdemo's load/save per store (bench_store) and the Flask peer's (peer_store), in one shape."""
    figures: dict[tuple, dict] = {}
    for row in data.get("bench_store", []):
        if row.get("mode") == "session":
            entry = figures.setdefault(("authdemo", row["store"], row.get("variant", "")), {})
            entry[row["operation"]] = row["p50_us"]
    found = [{"framework": k[0], "store": k[1], "variant": k[2], **v} for k, v in figures.items()]
    for row in data.get("peer_store", []):
        found.append(
            {
                "framework": row.get("framework", "flask-session"),
                "store": row["store"],
                "variant": row.get("variant", ""),
                "load": row["load"]["p50_us"],
                "save": row["save"]["p50_us"] if row["save"]["ops"] else None,
                "statements": row.get("statements_per_request"),
                "kept": row.get("sessions_kept"),
                "written": row.get("sessions_written"),
            }
        )
    return found


SCENARIO_WHY = {
    "baseline": "A route that touches no session and no database: what the server and the framework cost alone.",
    "protected_page": "A logged-in GET that changes nothing: one store round trip (the identity is in the session "
    "or the token), no database query.",
    "stateless_token": "JWT mode: the access token's signature and claims checked alone, as the tasks service does, "
    "with no store at all.",
    "fixed_rate": "The protected page at a steady, moderate rate: p99 latency when the server is not saturated.",
    "session_write": "Every request changes the session, so every request writes it back to the store.",
    "login": "Checking the password with scrypt is deliberately slow; next to it the store hardly shows.",
}
CHARTS = {
    "restart": "restart.png",
    "http": "bench_http.png",
    "store": "bench_store.png",
    "scale": "bench_scale.png",
    "peers": "bench_peers.png",
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
        restart_why=restart_why,
        scenario_why=SCENARIO_WHY,
        peer_groups=peer_groups(data),
        served=served,
        served_ratio=served_ratio,
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


@bench_bp.route("/baseline")
def bench_baseline():
    """No session, no database: the bench's yardstick (sent without a cookie, so no store is asked)."""
    return "ok\n", 200, {"Content-Type": "text/plain"}


@bench_bp.route("/protected")
@login_required
def bench_protected():
    """The smallest protected page: the session is looked up and the user loaded, nothing is written."""
    return f"{current_user.username}\n", 200, {"Content-Type": "text/plain"}


@bench_bp.route("/stateless")
def bench_stateless():
    """JWT mode: the tasks service's check alone (signature and claims, no store), on the access cookie."""
    from ..tokens import get_service
    from ..tokens.browser import cookie_names
    from ..tokens.verify import InvalidToken, verify

    keys = get_service().keys
    settings = current_app.extensions["authdemo_settings"]
    try:
        claims = verify(
            request.cookies.get(cookie_names()[0], ""),
            algorithm=keys.algorithm,
            keys=keys.verification_keys,
            expected_type="access",
            leeway=settings.jwt_leeway,
        )
    except InvalidToken as error:
        return f"{error.reason}\n", 401, {"Content-Type": "text/plain"}
    return f"{claims['username']}\n", 200, {"Content-Type": "text/plain"}


@bench_bp.route("/session-write")
@login_required
def bench_session_write():
    """A protected page that changes the session, so it is written back on every request."""
    session["bench_counter"] = session.get("bench_counter", 0) + 1
    return f"{session['bench_counter']}\n", 200, {"Content-Type": "text/plain"}
