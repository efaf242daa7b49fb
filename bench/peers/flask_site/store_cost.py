"""``python store_cost.py OPS SECONDS``: what the peer's session costs per protected request, without HTTP.

Run by the lab with the peer's PEER_* variables and its store running. Logs
alice in through the test client, then makes up to OPS protected requests
(at most SECONDS long) with Flask-Session's two store calls timed, and counts
what one request sends to the database and to the store. For cachelib it
also writes 1000 logins' sessions and counts how many are still there.
Prints one JSON object.
"""

import json
import sys
import time

import flask_peer
from sqlalchemy import event

LOGINS = 1000


def _percentiles(durations: list[float]) -> dict:
    ordered = sorted(durations)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))] if ordered else 0.0

    return {"p50_us": rank(0.5), "p99_us": rank(0.99), "ops": len(ordered)}


def _timed(interface, name: str, into: list[float]) -> None:
    call = getattr(interface, name)

    def timed(*args, **kwargs):
        began = time.perf_counter_ns()
        try:
            return call(*args, **kwargs)
        finally:
            into.append((time.perf_counter_ns() - began) / 1000)

    setattr(interface, name, timed)


def measure(ops: int, seconds: float) -> dict:
    """Load and write-back µs, SQL statements and store calls per protected request."""
    app = flask_peer.app
    client = app.test_client()
    login = client.post("/login", data=dict(zip(("username", "password"), flask_peer.DEMO_USER, strict=True)))
    if login.status_code != 302 or client.get("/bench/protected").status_code != 200:
        raise SystemExit(f"login failed: {login.status_code}")
    interface = app.session_interface
    loads, saves, statements = [], [], []
    _timed(interface, "_retrieve_session_data", loads)
    _timed(interface, "_upsert_session", saves)
    with app.app_context():
        engine = flask_peer.db.engine
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(1))
    requests, began = 0, time.perf_counter()
    deadline = began + seconds
    while requests < ops and time.perf_counter() < deadline:
        if client.get("/bench/protected").status_code != 200:
            raise SystemExit("a protected request was refused")
        requests += 1
    result = {
        "requests": requests,
        "request_us": (time.perf_counter() - began) * 1e6 / requests,
        "load": _percentiles(loads),
        "save": _percentiles(saves),
        "statements_per_request": len(statements) / requests,
        "store_reads_per_request": len(loads) / requests,
        "store_writes_per_request": len(saves) / requests,
    }
    if flask_peer.app.config["SESSION_TYPE"] == "cachelib":
        result.update(_eviction(interface))
    return result


def _eviction(interface) -> dict:
    """Store LOGINS sessions the way a login does, then count how many the SimpleCache kept."""
    cache = interface.cache
    cache.clear()
    ids = [f"{interface.key_prefix}login-{index}" for index in range(LOGINS)]
    for store_id in ids:
        cache.set(store_id, {"_user_id": "1", "_fresh": True}, timeout=31 * 86400)
    kept = sum(cache.get(store_id) is not None for store_id in ids)
    return {"sessions_written": LOGINS, "sessions_kept": kept}


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]), float(sys.argv[2]))))
