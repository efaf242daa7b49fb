"""The stores alone, without HTTP: µs per load and save, lookups as the store fills up, memory per 10 000 sessions.

The figures come from the app's own store objects (built by create_app with
the deployment's variables) and the codec the session interface uses, so
they are the store's share of a request and nothing else.
"""

from __future__ import annotations

import random
import secrets
import time
import tracemalloc
from collections.abc import Callable, Sequence

from ..harness.processes import in_process_app
from .bench import BenchSettings
from .deployments import Deployment, Lab
from .loadgen import percentile

TTL = 1800
BATCH = 5000


def sample_session(user_id: str) -> dict:
    """What a session holds right after a login (Flask-Login's keys, the CSRF secret, authdemo's _meta)."""
    now = int(time.time())
    return {
        "_user_id": user_id,
        "_fresh": True,
        "_id": secrets.token_hex(64),
        "csrf_token": secrets.token_hex(20),
        "_meta": {
            "created": now,
            "last_seen": now,
            "ip": "127.0.0.1",
            "ua": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36",
        },
    }


def _timed(operation: Callable, items: Sequence) -> dict:
    """p50 and p99 of ``operation(item)`` over the items, in µs."""
    durations = []
    for item in items:
        began = time.perf_counter_ns()
        operation(item)
        durations.append((time.perf_counter_ns() - began) / 1000)
    durations.sort()
    return {"p50_us": percentile(durations, 0.50), "p99_us": percentile(durations, 0.99), "ops": len(durations)}


def _labels(deployment: Deployment) -> dict:
    return {"mode": deployment.mode, "store": deployment.store, "variant": deployment.variant}


# -- load and save -----------------------------------------------------------------


def store_ops(deployment: Deployment, settings: BenchSettings) -> list[dict]:
    """µs per load and per write-back, through the store object and the session codec."""
    from ..sessions.codec import decode, encode, new_sid

    count = settings.store_ops
    with in_process_app(deployment.env) as app:
        interface = app.session_interface
        store = interface.store
        users = [str(i % 100 + 1) for i in range(count)]
        if deployment.store == "cookie":
            # The whole session is signed into the cookie; the server keeps a small record per login.
            serializer = interface.get_signing_serializer(app)
            max_age = int(app.permanent_session_lifetime.total_seconds())
            logins = []
            for user in users:
                sid, data = new_sid(), sample_session(user)
                data["_sid"] = sid
                store.save(sid, encode({"_user_id": user, "_meta": data["_meta"]}), TTL, user)
                logins.append((sid, data, serializer.dumps(data)))

            def load(login):
                data = serializer.loads(login[2], max_age=max_age)
                return store.load(data["_sid"])

            def save(login):
                sid, data, _ = login
                serializer.dumps(data)
                store.save(
                    sid, encode({"_user_id": data["_user_id"], "_meta": data["_meta"]}), TTL, None, must_exist=True
                )

        else:
            logins = [(new_sid(), sample_session(user)) for user in users]
            for sid, data in logins:
                store.save(sid, encode(data), TTL, data["_user_id"])

            def load(login):
                return decode(store.load(login[0]))

            def save(login):
                store.save(login[0], encode(login[1]), TTL, login[1]["_user_id"], must_exist=True)

        load(logins[0])  # connections opened before anything is timed
        return [
            {**_labels(deployment), "operation": "load", **_timed(load, logins)},
            {**_labels(deployment), "operation": "save", **_timed(save, logins)},
        ]


# -- lookups at scale -------------------------------------------------------------------


def _fill_memory(store, sids, data):
    for sid in sids:
        store.save(sid, data, TTL, None)


def _fill_redis(store, sids, data):
    from ..sessions.redis import SESSION_KEY

    for start in range(0, len(sids), BATCH):
        pipe = store.client.pipeline(transaction=False)
        for sid in sids[start : start + BATCH]:
            pipe.set(SESSION_KEY.format(sid), data, ex=TTL)
        pipe.execute()


def _fill_memcached(store, sids, data):
    from ..sessions.memcached import SESSION_KEY

    for start in range(0, len(sids), BATCH):
        values = {SESSION_KEY.format(sid): data for sid in sids[start : start + BATCH]}
        store.client.set_many(values, expire=TTL, noreply=False)


def _fill_sql(store, sids, data):
    from ..models import SessionRecord

    expires_at = int(time.time()) + TTL
    with store.engine.begin() as conn:
        for start in range(0, len(sids), BATCH):
            rows = [
                {"sid": sid, "data": data, "expires_at": expires_at, "user_id": None}
                for sid in sids[start : start + BATCH]
            ]
            conn.execute(SessionRecord.__table__.insert(), rows)


#: store → how to put many sessions in it quickly (in bulk, as a busy site would have accumulated them).
FILLERS = {"memory": _fill_memory, "redis": _fill_redis, "memcached": _fill_memcached, "sqlalchemy": _fill_sql}
SCALE_SKIPPED = {"cookie": "the cookie's login records are the sqlalchemy store's table: see sqlalchemy"}


def scale(deployment: Deployment, settings: BenchSettings, on_step=lambda text, done: None) -> list[dict]:
    """Lookup time with more and more sessions stored."""
    from ..sessions.codec import encode, new_sid

    if deployment.store not in FILLERS:
        reason = SCALE_SKIPPED.get(deployment.store, "no bulk filler for this store")
        on_step("", len(settings.scale_sizes))
        return [{**_labels(deployment), "sessions": size, "skipped": reason} for size in settings.scale_sizes]
    rows = []
    data = encode(sample_session("1"))
    sids: list[str] = []
    rng = random.Random(4)
    limit = str(max(settings.scale_sizes) + 1)
    with in_process_app({**deployment.env, "AUTHDEMO_MEMORY_MAX_SESSIONS": limit}) as app:
        store = app.session_interface.store
        for size in sorted(settings.scale_sizes):
            on_step(f"scale: {deployment.label} with {size:,} sessions".replace(",", " "), 0)
            new = [new_sid() for _ in range(size - len(sids))]
            began = time.perf_counter()
            FILLERS[deployment.store](store, new, data)
            fill_s = time.perf_counter() - began
            sids.extend(new)
            sample = rng.sample(sids, min(settings.scale_lookups, len(sids)))
            store.load(sample[0])
            rows.append({**_labels(deployment), "sessions": size, "fill_s": fill_s, **_timed(store.load, sample)})
            on_step("", 1)
    return rows


# -- memory per 10 000 sessions -------------------------------------------------------------


def memory_footprint(deployment: Deployment, settings: BenchSettings) -> dict | None:
    """Bytes the store needs for ``settings.memory_sessions`` logged-in sessions, each of a different user."""
    from ..sessions.codec import encode, new_sid

    count = settings.memory_sessions
    if deployment.store == "memory":
        from ..sessions.memory import MemorySessionStore

        store = MemorySessionStore(count * 2)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(count):
                store.save(new_sid(), encode(sample_session(str(i))), TTL, str(i))
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        method = "tracemalloc: Python objects allocated by the store"
    elif deployment.store in ("redis", "memcached"):
        with in_process_app(deployment.env) as app:
            store = app.session_interface.store
            reading = _redis_used if deployment.store == "redis" else _memcached_bytes
            before = reading(store)
            for i in range(count):
                store.save(new_sid(), encode(sample_session(str(i))), TTL, str(i))
            used = reading(store) - before
        method = "INFO memory used_memory, before and after" if deployment.store == "redis" else "stats bytes"
    else:
        return None
    return {
        **_labels(deployment),
        "sessions": count,
        "bytes": used,
        "bytes_per_session": used / count,
        "method": method,
    }


def _redis_used(store) -> int:
    return int(store.client.info("memory")["used_memory"])


def _memcached_bytes(store) -> int:
    stats = store.client.stats()
    return int(stats.get(b"bytes", stats.get("bytes", 0)))


def step_count(count: int, settings: BenchSettings) -> int:
    """Steps run_all reports for ``count`` deployments (for progress bars)."""
    return count * (2 + len(settings.scale_sizes))


def token_ops(deployment: Deployment, settings: BenchSettings) -> list[dict]:
    """µs per access-token check: the signature alone, then with the token store's revocation lookup."""
    from ..tokens import get_service, load_subject
    from ..tokens.verify import verify

    with in_process_app(deployment.env) as app, app.app_context():
        service = get_service(app)
        token = service.issue(load_subject("1")).access_token
        keys, algorithm = service.keys.verification_keys, service.keys.algorithm
        tokens = [token] * settings.store_ops
        service.verify(token, "access")  # connections opened before anything is timed
        return [
            {
                **_labels(deployment),
                "operation": "verify signature",
                **_timed(lambda t: verify(t, algorithm=algorithm, keys=keys, expected_type="access"), tokens),
            },
            {
                **_labels(deployment),
                "operation": "verify + revocation check",
                **_timed(lambda t: service.verify(t, "access"), tokens),
            },
        ]


def run_all(lab: Lab, chosen: Sequence[Deployment], settings: BenchSettings, on_step=lambda text, done: None) -> dict:
    """Store operations, memory footprint and scale for every deployment: results.json's three store keys."""
    ops, memory, scaled = [], [], []
    for deployment in chosen:
        on_step(f"store alone: {deployment.label}", 0)
        ops.extend(token_ops(deployment, settings) if deployment.mode == "jwt" else store_ops(deployment, settings))
        on_step("", 1)
        if deployment.mode == "jwt":  # no sessions to count or to fill: the token holds the state
            on_step("", 1 + len(settings.scale_sizes))
            continue
        on_step(f"memory per {settings.memory_sessions:,} sessions: {deployment.label}".replace(",", " "), 0)
        footprint = memory_footprint(deployment, settings)
        if footprint is not None:
            memory.append(footprint)
        on_step("", 1)
    for deployment in chosen:  # last: the fills leave the stores full
        if deployment.mode == "session":
            scaled.extend(scale(deployment, settings, on_step))
    return {"bench_store": ops, "bench_memory": memory, "bench_scale": scaled}
