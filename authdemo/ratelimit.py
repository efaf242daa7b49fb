"""Failed logins limited per account and per client address, counted in the shared store.

Only failures count (the form shown again), so a user who types the password
right is never slowed down, while guessing stops after a few tries: further
POSTs to /login get 429 with Retry-After, even with the right password, until
the window moves on. The account key is the submitted name, whether or not
such an account exists, so the 429 says nothing about which accounts exist.
Counts live in Redis or Memcached when sessions do, so every app instance
counts together; with the other stores each process counts alone.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from redis.exceptions import RedisClusterException

from .settings import Settings

# Endpoint → the statuses that mean "wrong credentials" (the login form answers 200 with an error,
# the token endpoint 401).
LOGIN_ENDPOINTS = {"auth.login": (200,), "api.token": (401,)}
MESSAGE = "Too many failed login attempts. Wait a little before trying again."


def _account_key() -> str:
    """The account name as typed (trimmed, case-folded): existing or not, it counts the same."""
    username = request.form.get("username")
    if username is None:  # the API sends JSON
        body = request.get_json(silent=True)
        username = body.get("username") if isinstance(body, dict) else None
    return "account:" + (username if isinstance(username, str) else "").strip().casefold()[:64]


def _address_key() -> str:
    """The client address; behind nginx it is real only with AUTHDEMO_PROXY_HOPS set."""
    return "address:" + (get_remote_address() or "")


def _storage(settings: Settings, app: Flask) -> tuple[str, dict]:
    """The storage URI and options, on the app's own client for that server (shared with the stores)."""
    from .drivers import get_connections
    from .drivers import redis as redis_driver

    uri = settings.login_limit_storage
    if uri.startswith("redis+cluster://"):
        from .settings import redis_cluster_address

        # limits builds its own RedisCluster from the URI (it takes no client): same timeouts, and
        # the credentials decoded (limits reads them from the URI without unquoting). close() closes it.
        address = redis_cluster_address(uri, "AUTHDEMO_LOGIN_LIMIT_STORAGE")
        options = redis_driver.cluster_options(settings.store_timeout)
        options.update(username=address.username, password=address.password)
        return uri, options
    if uri.startswith(("redis://", "rediss://", "unix://")):
        client = get_connections(app).redis(uri)
        # Flask-Limiter picks its backend by scheme; the pool carries the real address.
        scheme = "redis+unix://" if uri.startswith("unix://") else uri
        return scheme, {"connection_pool": client.connection_pool}
    if uri.startswith("memcached://"):
        from .settings import parse_memcached_servers

        servers = parse_memcached_servers(uri.removeprefix("memcached://"), "AUTHDEMO_LOGIN_LIMIT_STORAGE")
        client = get_connections(app).memcached(servers)
        # One thread-safe pooled client, instead of limits' default of one client per thread.
        return uri, {"client_getter": lambda *_args, **_kwargs: client}
    return "memory://", {}


def _limiter(app: Flask, uri: str, options: dict) -> Limiter:
    """Flask-Limiter on the shared storage: sliding windows, headers, outages swallowed (503 comes from the stores)."""
    return Limiter(
        get_remote_address,
        app=app,
        storage_uri=uri,
        storage_options=options,
        strategy="sliding-window-counter",  # no burst of twice the limit at a window's edge
        key_prefix="authdemo:login-limit",
        headers_enabled=True,
        retry_after="delta-seconds",
        # A store outage must not turn into 500s here: the session layer answers 503 for it.
        swallow_errors=True,
        on_breach=_record_refusal,
    )


def init_app(app: Flask, settings: Settings) -> None:
    """Limit failed logins on the login endpoints (after their blueprints are registered)."""
    limits = [
        (settings.login_limit_account, _account_key, "failed-logins-per-account"),
        (settings.login_limit_address, _address_key, "failed-logins-per-address"),
    ]
    limits = [limit for limit in limits if limit[0]]
    if not limits:
        return
    uri, options = _storage(settings, app)
    # Registered before the limiter's own hook, so it runs after it: Retry-After only on a 429 or 503.
    app.after_request(_retry_after_only_when_refused)
    try:
        limiter = _limiter(app, uri, options)
    except RedisClusterException:  # redis-py reads the slot map when the client is built
        from .drivers.redis import cluster_unreachable
        from .settings import redis_cluster_address

        name = "AUTHDEMO_LOGIN_LIMIT_STORAGE"
        raise cluster_unreachable(name, redis_cluster_address(uri, name)) from None
    app.extensions["authdemo_login_limiter"] = limiter
    app.before_request(_refuse_login_when_uncountable)
    for endpoint, failure_statuses in LOGIN_ENDPOINTS.items():
        view = app.view_functions.get(endpoint)
        if view is None:
            continue

        def failed(response: Response, statuses=failure_statuses) -> bool:
            """Only wrong credentials count, so a user who types the password right is never held back."""
            return request.method == "POST" and response.status_code in statuses

        # A shared scope per limit: the form and the API draw on one budget per account and one per
        # address (a guesser alternating between them gets no more tries), counted in the shared store.
        for rate, key, scope in limits:
            view = limiter.shared_limit(
                rate, scope, key_func=key, methods=["POST"], deduct_when=failed, error_message=MESSAGE
            )(view)
        app.view_functions[endpoint] = view


def _refuse_login_when_uncountable() -> None:
    """A login POST whose failed-login budget cannot be counted is a 503, not a free guess.

    Anonymous requests no longer touch the session store, so its outage no
    longer answers for the limiter's: one PING on a login POST (scrypt costs
    far more) keeps an outage of the limiter's store from lifting the limit.
    """
    if request.method != "POST" or request.endpoint not in LOGIN_ENDPOINTS:
        return
    from flask import current_app

    from .drivers import StoreUnavailable

    limiter = current_app.extensions["authdemo_login_limiter"]
    try:
        answering = limiter.storage.check()
    except Exception:  # noqa: BLE001 - limits' backends raise their driver's own errors
        answering = False
    if not answering:
        store = current_app.extensions["authdemo_settings"].login_limit_storage.split(":", 1)[0].split("+", 1)[0]
        raise StoreUnavailable(store or "memory", "failed logins cannot be counted", kind="login limit")


def _record_refusal(limit) -> None:
    """The limiter refused a login: one ``login_rate_limited`` event, with the name as typed."""
    from .events import record, user_id_for

    username = _account_key().removeprefix("account:")
    record("login_rate_limited", user_id=user_id_for(username), username=username, detail=f"limit {limit.limit}")


def _retry_after_only_when_refused(response: Response) -> Response:
    """Retry-After means "refused, come back later" (429, 503): on a form shown again it would only confuse."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


def close(app: Flask) -> None:
    """Close the limiter's connections (tests, shutdown): the app's clients, and a cluster client limits built."""
    from .drivers import get_connections

    get_connections(app).close()
    limiter = app.extensions.get("authdemo_login_limiter")
    if limiter is not None:
        from limits.storage import RedisClusterStorage

        if isinstance(limiter.storage, RedisClusterStorage):
            limiter.storage.storage.close()  # the RedisCluster limits built from the redis+cluster:// URI
