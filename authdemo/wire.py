"""The wire: this browser's last requests, their credential headers masked, and what the server did for each.

One small hook records the server's side. Stores are wrapped where they are
registered (:func:`instrument`), so every call the session and token layers
make is timed without a line in a view; code that is not a store (the
identity query, a JWT signature check, scrypt at login) says what it does with
``with record(component, op):``. Both are no-ops outside a request and when
AUTHDEMO_WIRE=off (then no store is even wrapped).

The journal is keyed by a random browser id in its own cookie, which proves
nothing and opens nothing: it is not the session cookie or a token, so the
journal never needs to keep a credential. It is bounded twice: a ring of
ENTRIES_PER_BROWSER per browser, and at most MAX_BROWSERS browsers (the one
seen longest ago goes first). It lives in this process only.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from time import perf_counter

from flask import Flask, Response, current_app, g, has_request_context, request, request_finished

ENTRIES_PER_BROWSER = 50
MAX_BROWSERS = 500
BROWSER_COOKIE = "authdemo_wire"
BROWSER_ID = re.compile(r"[A-Za-z0-9_-]{22}")
BROWSER_COOKIE_DAYS = 30
#: Requests not journaled: the wire's own pages (reloading them would push the rest out) and static files.
UNRECORDED_ENDPOINTS = {"static", "wire.wire", "wire.wire_json"}
CREDENTIAL_HEADERS = ("Cookie", "Authorization")
#: Pages anyone may see: a logged-in visit to them is not a "protected request".
PUBLIC_ENDPOINTS = {"main.index", "auth.login", "main.healthz", "compare.compare"}
EXTENSION = "authdemo_wire"


# -- masking -----------------------------------------------------------------------


def mask(value: str) -> str:
    """The first few characters and the length: enough to tell two values apart, never enough to use one."""
    if not value:
        return "(empty)"
    shown = value[: min(4, len(value) // 4)]
    return f"{shown}…({len(value)} chars)"


def mask_cookie_header(header: str) -> str:
    """``Cookie: a=1; b=2`` with every value masked."""
    pairs = []
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if name or value:
            pairs.append(f"{name}={mask(value)}" if sep else mask(name))
    return "; ".join(pairs)


def mask_set_cookie(header: str) -> str:
    """``Set-Cookie`` with its value masked and its attributes (HttpOnly, Path, SameSite…) kept."""
    first, sep, attributes = header.partition(";")
    name, _, value = first.partition("=")
    return f"{name.strip()}={mask(value.strip())}" + (f";{attributes}" if sep else "")


def mask_authorization(header: str) -> str:
    """``Bearer eyJh…(312 chars)``: the scheme and a masked credential."""
    scheme, sep, credential = header.strip().partition(" ")
    return f"{scheme} {mask(credential.strip())}" if sep else mask(scheme)


# -- the journal -------------------------------------------------------------------


class Journal:
    """Per-browser rings of request entries, with a bound on the number of browsers (oldest dropped)."""

    def __init__(self, per_browser: int = ENTRIES_PER_BROWSER, max_browsers: int = MAX_BROWSERS):
        self.per_browser = per_browser
        self.max_browsers = max_browsers
        self._lock = threading.Lock()
        self._browsers: OrderedDict[str, deque] = OrderedDict()

    def add(self, browser: str, entry: dict) -> None:
        """Append one entry to the browser's ring."""
        with self._lock:
            ring = self._browsers.get(browser)
            if ring is None:
                ring = self._browsers[browser] = deque(maxlen=self.per_browser)
                while len(self._browsers) > self.max_browsers:
                    self._browsers.popitem(last=False)
            else:
                self._browsers.move_to_end(browser)
            ring.append(entry)

    def entries(self, browser: str | None) -> list[dict]:
        """The browser's entries, newest first."""
        with self._lock:
            ring = self._browsers.get(browser or "")
            return list(reversed(ring)) if ring else []

    def __len__(self) -> int:
        return len(self._browsers)


def get_journal(app: Flask | None = None) -> Journal | None:
    """The app's journal, or None when AUTHDEMO_WIRE=off."""
    return (app or current_app).extensions.get(EXTENSION)


# -- recording operations -------------------------------------------------------------


def _operations() -> list[dict] | None:
    """This request's list of operations, or None when nothing is being recorded."""
    if not has_request_context() or EXTENSION not in current_app.extensions:
        return None
    state = g.get("_wire")
    if state is None:
        # The session is opened before any before_request hook runs: start here.
        state = g._wire = {"start": perf_counter(), "operations": []}
    return state["operations"]


class record:  # noqa: N801 - used as a function: ``with record(component, op) as item:``
    """Time the block as one operation of this request; the block may set ``item["result"]``.

    A class rather than a @contextmanager generator: it runs on every store
    call of every request, and this costs about a quarter as much.
    """

    __slots__ = ("item", "operations", "start")

    def __init__(self, component: str, op: str):
        self.item = {"component": component, "op": op}
        self.operations = _operations()

    def __enter__(self) -> dict:
        if self.operations is not None:
            self.operations.append(self.item)  # appended first: operations keep the order they started in
            self.start = perf_counter()
        return self.item

    def __exit__(self, kind, error, _traceback) -> None:
        if self.operations is None:
            return
        if error is not None and isinstance(error, Exception):
            self.item.setdefault("result", f"failed: {type(error).__name__}")
        self.item["ms"] = round((perf_counter() - self.start) * 1000, 3)


def note(component: str, op: str, result: str = "") -> None:
    """An event with no duration worth timing (a decision: reuse detected)."""
    operations = _operations()
    if operations is not None:
        operations.append({"component": component, "op": op, "ms": 0.0, **({"result": result} if result else {})})


# -- instrumented stores ---------------------------------------------------------------

#: The store's own verbs, so an operation reads as what went over its wire.
VERBS = {
    "redis": {"read": "GET", "write": "SET", "delete": "DEL", "list": "SMEMBERS", "ping": "PING"},
    "memcached": {"read": "get", "write": "set", "delete": "delete", "list": "get index", "ping": "version"},
    "memory": {"read": "dict lookup", "write": "dict store", "delete": "dict pop", "list": "index lookup", "ping": "-"},
    "sql": {"read": "SELECT", "write": "INSERT/UPDATE", "delete": "DELETE", "list": "SELECT", "ping": "SELECT 1"},
}


def _found(result) -> str:
    return "miss" if result is None else "hit"


def _count(result) -> str:
    return f"{len(result)} found"


def _saved(result) -> str:
    return "ok" if result else "not written: the session was ended meanwhile"


def _checked(result) -> str:
    denied, version = result
    return "denied" if denied else f"not denied, version {version}"


def _looked_up(state) -> str:
    if state.denied:
        return "denied"
    return f"not denied, token version {state.version}, authorization version {state.authz_version}"


def _rotated(result) -> str:
    return "rotated" if result else "lost the race: treated as reuse"


#: method → (verb kind, what it acts on, how to describe the result).
METHODS = {
    # session stores
    "load": ("read", "session", _found),
    "load_many": ("read", "sessions", _count),
    "save": ("write", "session", _saved),
    "delete": ("delete", "session", None),
    "user_sids": ("list", "user's session ids", _count),
    "ping": ("ping", "", None),
    "clear_expired": ("delete", "expired entries", str),
    # token stores
    "lookup": ("read", "deny list + token and authorization versions", _looked_up),
    "check": ("read", "deny list + token version", _checked),
    "version": ("read", "token version", lambda v: f"version {v}"),
    "deny": ("write", "deny-list entry", None),
    "bump_version": ("write", "token version +1", lambda v: f"now {v}"),
    "bump_authz_version": ("write", "authorization version +1", lambda v: f"now {v}"),
    "create_family": ("write", "new token family", None),
    "get_family": ("read", "token family", lambda f: "none" if f is None else ("revoked" if f.revoked else "live")),
    "rotate": ("write", "family's refresh token (if unchanged)", _rotated),
    "revoke_family": ("write", "family revoked", _found),
    "user_families": ("list", "user's token families", _count),
}


class Instrumented:
    """A store whose public methods record themselves on the wire; everything else passes through."""

    def __init__(self, target, component: str):
        verbs = VERBS.get(target.name, VERBS["sql"])
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_component", component)
        object.__setattr__(self, "_verbs", verbs)

    @property
    def __class__(self):  # isinstance() sees the store itself
        return type(self._target)

    def __getattr__(self, name: str):
        attribute = getattr(self._target, name)
        if name not in METHODS or not callable(attribute):
            return attribute
        kind, subject, describe = METHODS[name]
        verb = self._verbs.get(kind, kind)
        component = self._component

        def call(*args, **kwargs):
            label = f"{verb} {subject}".strip()
            if name == "save" and not kwargs.get("must_exist", True):
                label += " (new id)"
            with record(component, label) as item:
                result = attribute(*args, **kwargs)
                if describe is not None:
                    item["result"] = describe(result)
                return result

        call.__doc__ = attribute.__doc__
        object.__setattr__(self, name, call)  # built once per method
        return call

    def __setattr__(self, name: str, value) -> None:
        setattr(self._target, name, value)
        self.__dict__.pop(name, None)  # the next call wraps the new value


def instrument(app: Flask, store, component: str):
    """``store`` wrapped to record its calls when the wire is on for ``app``; the store itself when off."""
    if not app.extensions["authdemo_settings"].wire:
        return store
    return Instrumented(store, component)


def unwrap(store):
    """The store behind an instrumented one (the lab times stores alone)."""
    return store.__dict__.get("_target", store) if type(store) is Instrumented else store


# -- the request hook -------------------------------------------------------------------


def _kind(status: int, operations: list[dict]) -> str:
    """What this request was, for the diagrams: login, logout, refresh…"""
    endpoint = request.endpoint or ""
    ops = " ".join(op["op"] for op in operations)
    if "reuse detected" in ops:
        return "reuse detection"
    if endpoint == "auth.login" and request.method == "POST":
        return "login" if status in (302, 303) else "failed login"
    if endpoint in ("auth.logout", "auth.logout_all", "api.logout_all", "api.revoke"):
        return "logout"
    if endpoint == "api.token":
        return "token issue" if status == 200 else "failed login"
    if endpoint == "api.refresh" or "family's refresh token" in ops:
        return "refresh"
    if endpoint.startswith("api.") and status < 400:
        return "API call"
    if status < 400 and _username() is not None and endpoint not in PUBLIC_ENDPOINTS:
        return "protected request"
    return "other"


def _username() -> str | None:
    """Who this request was for, if Flask-Login loaded someone (never loaded here: the store may be down)."""
    user = g.get("_login_user")
    return getattr(user, "username", None) if user is not None and user.is_authenticated else None


def browser_cookie_name(app: Flask) -> str:
    """The browser-id cookie's name; __Host- in production, like the session cookie."""
    return ("__Host-" if app.config["SESSION_COOKIE_SECURE"] else "") + BROWSER_COOKIE


def browser_id() -> str | None:
    """This browser's journal id, if its cookie holds a well-formed one."""
    value = request.cookies.get(browser_cookie_name(current_app), "")
    return value if BROWSER_ID.fullmatch(value) else None


def masked_headers(headers, names) -> dict:
    """The named headers of a request or response, credentials masked (several Set-Cookie: a list)."""
    shown: dict = {}
    for name in names:
        values = headers.getlist(name) if name == "Set-Cookie" else [headers.get(name)]
        if values == [None] or not values:
            continue
        if name == "Cookie":
            values = [mask_cookie_header(v) for v in values]
        elif name == "Set-Cookie":
            values = [mask_set_cookie(v) for v in values]
        elif name == "Authorization":
            values = [mask_authorization(v) for v in values]
        shown[name] = values[0] if len(values) == 1 else values
    return shown


def _journal_request(sender: Flask, response: Response, **_extra) -> None:
    """After the session is saved and every cookie set: one entry for this browser."""
    journal = get_journal(sender)
    if journal is None or request.endpoint in UNRECORDED_ENDPOINTS:
        return
    browser = browser_id()
    if browser is None:
        browser = secrets.token_urlsafe(16)
        response.set_cookie(
            browser_cookie_name(sender),
            browser,
            max_age=BROWSER_COOKIE_DAYS * 86400,
            httponly=True,
            secure=bool(sender.config["SESSION_COOKIE_SECURE"] or request.is_secure),
            samesite="Lax",
            path="/",
        )
    state = g.get("_wire") or {"start": None, "operations": []}
    operations = state["operations"]
    status = response.status_code
    entry = {
        "time": round(time.time(), 3),
        "method": request.method,
        "path": request.path,
        "status": status,
        "kind": _kind(status, operations),
        "user": _username(),
        "request_headers": masked_headers(request.headers, CREDENTIAL_HEADERS),
        "response_headers": masked_headers(response.headers, ("Set-Cookie", "Location")),
        "operations": operations,
    }
    if state["start"] is not None:
        entry["ms"] = round((perf_counter() - state["start"]) * 1000, 3)
    journal.add(browser, entry)


def init_app(app: Flask) -> None:
    """Create the journal and hook it to every request, when AUTHDEMO_WIRE is on."""
    from . import wire_views

    app.register_blueprint(wire_views.bp)
    if not app.extensions["authdemo_settings"].wire:
        return
    app.extensions[EXTENSION] = Journal()
    request_finished.connect(_journal_request, app)
