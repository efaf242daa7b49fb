"""/account/wire: this browser's requests, masked, with the operations each store really did, on real servers."""

from __future__ import annotations

import json
import re

import pytest

from authdemo import ConfigError, create_app
from authdemo.sessions import get_manager
from authdemo.tokens import get_service
from authdemo.wire import Instrumented, Journal, mask, mask_authorization, mask_cookie_header, mask_set_cookie
from tests.support import PASSWORDS, SECRET, Browser

TOKEN_STORES = ["memory", "redis", "memcached", "sqlalchemy"]
#: What each session store's write of a new session is called on the wire (its own verb).
NEW_SESSION_WRITE = {
    "memory": ("memory", "dict store session (new id)"),
    "redis": ("redis", "SET session (new id)"),
    "memcached": ("memcached", "set session (new id)"),
    "sqlalchemy": ("sqlalchemy", "INSERT/UPDATE session (new id)"),
    "sqlalchemy-postgres": ("sqlalchemy", "INSERT/UPDATE session (new id)"),
    "cookie": ("cookie records", "INSERT/UPDATE session (new id)"),
}
SESSION_READ = {
    "memory": "dict lookup session",
    "redis": "GET session",
    "memcached": "get session",
    "sqlalchemy": "SELECT session",
    "sqlalchemy-postgres": "SELECT session",
    "cookie": "SELECT session",
}


def wire(browser: Browser) -> list[dict]:
    """This browser's journal, newest first."""
    response = browser.client.get("/account/wire.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_json()["entries"]


def find(entries: list[dict], method: str, path: str) -> dict:
    """The newest entry for a request."""
    return next(e for e in entries if e["method"] == method and e["path"] == path)


def ops(entry: dict) -> list[tuple[str, str]]:
    return [(op["component"], op["op"]) for op in entry["operations"]]


# -- masking, the journal's bounds ---------------------------------------------------------


def test_masking_keeps_a_prefix_and_the_length_never_the_value():
    value = "Qa9fX" + "y" * 38
    assert mask(value) == "Qa9f…(43 chars)"
    assert mask("") == "(empty)"
    assert mask("abc") == "…(3 chars)"  # a short value shows nothing of itself
    assert mask_set_cookie(f"session={value}; HttpOnly; Path=/; SameSite=Lax") == (
        "session=Qa9f…(43 chars); HttpOnly; Path=/; SameSite=Lax"
    )
    assert mask_cookie_header(f"session={value}; authdemo_wire=abcdefghijklmnopqrstuv") == (
        "session=Qa9f…(43 chars); authdemo_wire=abcd…(22 chars)"
    )
    assert mask_authorization("Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig") == "Bearer eyJh…(28 chars)"


def test_the_journal_is_a_ring_per_browser_with_a_bound_on_browsers():
    journal = Journal(per_browser=3, max_browsers=2)
    for n in range(5):
        journal.add("a", {"n": n})
    assert [e["n"] for e in journal.entries("a")] == [4, 3, 2]  # newest first, the oldest two dropped
    journal.add("b", {"n": 0})
    journal.add("a", {"n": 5})  # a was seen last: b is now the one seen longest ago
    journal.add("c", {"n": 0})
    assert len(journal) == 2
    assert journal.entries("b") == [] and journal.entries("a")[0]["n"] == 5
    assert journal.entries(None) == []


# -- every session store: the login, a protected page and the logout, as recorded -----------


def test_the_login_shows_the_cookie_set_and_the_store_asked(app, backend, browser):
    browser.client.get("/login")  # anonymous: recorded too
    assert browser.login().status_code == 302
    assert browser.client.get("/reports").status_code == 200
    browser.logout()
    entries = wire(browser)
    assert [(e["method"], e["path"]) for e in entries[:3]] == [("POST", "/logout"), ("GET", "/"), ("GET", "/reports")]

    login = find(entries, "POST", "/login")
    assert login["status"] == 302 and login["kind"] == "login"
    set_cookie = login["response_headers"]["Set-Cookie"]
    set_cookie = set_cookie if isinstance(set_cookie, list) else [set_cookie]
    name = app.config["SESSION_COOKIE_NAME"]
    session_cookie = next(c for c in set_cookie if c.startswith(name + "="))
    assert re.fullmatch(rf"{name}=.{{4}}…\(\d+ chars\); HttpOnly; Path=/; SameSite=Lax", session_cookie)
    component, write = NEW_SESSION_WRITE[backend]
    recorded = ops(login)
    assert ("database", "SELECT user by name") in recorded
    assert ("flask", "scrypt password check") in recorded
    assert (component, write) in recorded
    scrypt = next(op for op in login["operations"] if op["op"] == "scrypt password check")
    assert scrypt["result"] == "match" and scrypt["ms"] > 0
    # The order they ran in: the password is checked before any session is written.
    assert recorded.index(("flask", "scrypt password check")) < recorded.index((component, write))

    page = find(entries, "GET", "/reports")
    assert page["kind"] == "protected request" and page["user"] == "alice"
    read = next(op for op in page["operations"] if op["op"] == SESSION_READ[backend])
    assert read["component"] == component and read["result"] == "hit"
    assert page["request_headers"]["Cookie"].startswith(name + "=")

    logout = find(entries, "POST", "/logout")
    assert logout["kind"] == "logout"
    assert any(
        op["component"] == component and op["op"].split()[0] in ("DEL", "delete", "DELETE", "dict")
        for op in logout["operations"]
    )


def test_a_failed_login_and_an_anonymous_page_are_recorded(make_app, browser_for):
    app = make_app("memory")
    browser = browser_for(app)
    browser.client.get("/")
    assert browser.login("alice", "wrong-password").status_code == 200
    entries = wire(browser)
    failed = find(entries, "POST", "/login")
    assert failed["kind"] == "failed login" and failed["user"] is None
    assert next(op for op in failed["operations"] if op["op"] == "scrypt password check")["result"] == "no match"
    assert find(entries, "GET", "/")["user"] is None


def test_the_browser_is_known_by_a_cookie_that_is_no_credential(make_app, browser_for):
    app = make_app("memory")
    browser = browser_for(app)
    first = browser.client.get("/")
    wire_cookie = browser.client.get_cookie("authdemo_wire")
    assert wire_cookie is not None and wire_cookie.http_only
    assert "authdemo_wire=" in first.headers["Set-Cookie"]
    # It opens nothing: with only that cookie, protected pages still ask for a login.
    assert browser.client.get("/account").status_code == 302
    # Another browser (another id) sees its own journal, not this one's.
    other = browser_for(app)
    other.client.get("/reports")
    assert [e["path"] for e in wire(other)] == ["/reports"]
    assert [e["path"] for e in wire(browser)] == ["/account", "/"]


def test_the_journal_keeps_the_last_50_requests(make_app, browser_for):
    app = make_app("memory")
    browser = browser_for(app)
    for n in range(55):
        browser.client.get(f"/nowhere-{n}")
    entries = wire(browser)
    assert len(entries) == 50
    assert entries[0]["path"] == "/nowhere-54" and entries[-1]["path"] == "/nowhere-5"
    assert entries[0]["status"] == 404


# -- JWT mode: every token store -------------------------------------------------------------


@pytest.fixture(params=TOKEN_STORES)
def token_store(request):
    return request.param


def test_jwt_issue_call_refresh_and_reuse_are_recorded(make_app, token_store):
    app = make_app(f"jwt:{token_store}")
    browser = Browser(app)
    component = f"{token_store} tokens"
    assert browser.login("bob").status_code == 302
    assert browser.client.get("/reports").status_code == 200
    pair = browser.client.post("/api/token", json={"username": "bob", "password": PASSWORDS["bob"]}).get_json()
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert browser.client.get("/api/me", headers=headers).status_code == 200
    refresh = {"Authorization": f"Bearer {pair['refresh_token']}"}
    assert browser.client.post("/api/token/refresh", headers=refresh).status_code == 200
    assert browser.client.post("/api/token/refresh", headers=refresh).status_code == 401  # the old one again
    entries = wire(browser)

    login = find(entries, "POST", "/login")
    assert login["kind"] == "login"
    assert ("flask", "scrypt password check") in ops(login)
    assert (component, next(o for c, o in ops(login) if c == component and "new token family" in o)) in ops(login)
    assert any(o.startswith("JWT sign access token") for _, o in ops(login))
    cookies = login["response_headers"]["Set-Cookie"]
    assert any(c.startswith("authdemo_access=eyJ") and "…(" in c for c in cookies)

    page = find(entries, "GET", "/reports")
    assert page["kind"] == "protected request"
    check = next(op for op in page["operations"] if op["op"].startswith("JWT signature check"))
    assert check["result"] == "valid" and check["component"] == "flask"
    assert any(op["component"] == component and "deny list" in op["op"] for op in page["operations"])

    assert find(entries, "POST", "/api/token")["kind"] == "token issue"
    call = find(entries, "GET", "/api/me")
    assert call["kind"] == "API call" and call["request_headers"]["Authorization"].startswith("Bearer eyJh…(")
    refreshes = [e for e in entries if e["path"] == "/api/token/refresh"]
    assert [e["kind"] for e in refreshes] == ["reuse detection", "refresh"]
    assert any("family's refresh token" in o for _, o in ops(refreshes[1]))
    assert any(o == "refresh token reuse detected" for _, o in ops(refreshes[0]))
    assert any(c == component and o.endswith("family revoked") for c, o in ops(refreshes[0]))

    page = browser.client.get("/account/wire").get_data(as_text=True)
    for title in (
        "Your last login",
        "Your last token issue",
        "Your last protected request",
        "Your last API call",
        "Your last refresh",
        "refresh-token reuse",
    ):
        assert title in page, title
    assert page.count("<svg") >= 6


# -- the diagrams ------------------------------------------------------------------------------


def test_the_diagrams_draw_the_visitors_own_login_page_and_logout(make_app, browser_for):
    app = make_app("redis")
    browser = browser_for(app)
    browser.login()
    browser.client.get("/reports")
    browser.logout()
    response = browser.client.get("/account/wire")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    svgs = re.findall(r"<svg .*?</svg>", page, re.S)
    assert len(svgs) == 3  # login, protected request, logout
    login = svgs[0]
    for lane in ("Browser", "Flask", "redis store", "database (SQLite)"):
        assert f">{lane}</text>" in login, lane
    assert "POST /login" in login and "SET session (new id)" in login and "scrypt password check" in login
    assert "Set-Cookie: authdemo_session=" in login and "HttpOnly" in login
    # The strict CSP the site is moving to: no inline script, no style attributes.
    assert not INLINE_SCRIPT.search(page) and " style=" not in page
    assert 'class="seq-msg"' in login and "marker-end=" in login


def test_the_wire_is_off_when_asked_and_off_by_default_in_production(make_app, browser_for, tmp_path):
    app = make_app("memory", AUTHDEMO_WIRE="off")
    browser = browser_for(app)
    first = browser.client.get("/")
    assert "authdemo_wire" not in first.headers.get("Set-Cookie", "")
    response = browser.client.get("/account/wire.json")
    assert response.status_code == 404 and "AUTHDEMO_WIRE=off" in response.get_data(as_text=True)
    assert type(get_manager(app).store) is not Instrumented  # nothing wrapped, nothing to pay
    assert type(get_service(app).store) is not Instrumented
    assert type(get_manager(make_app("memory")).store) is Instrumented

    env = {"AUTHDEMO_ENV": "production", "AUTHDEMO_SECRET_KEY": SECRET, "AUTHDEMO_INSTANCE_PATH": str(tmp_path)}
    assert create_app(env).extensions["authdemo_settings"].wire is False
    assert create_app({**env, "AUTHDEMO_WIRE": "on"}).extensions["authdemo_settings"].wire is True
    with pytest.raises(ConfigError, match="AUTHDEMO_WIRE='maybe' is not valid; allowed values: on, off"):
        create_app({**env, "AUTHDEMO_WIRE": "maybe"})


# -- nothing shows a whole credential -----------------------------------------------------------


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)")


def _pages(app) -> list[str]:
    """Every GET route without arguments, plus the ones with one we can fill."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith("/bench/"):
            paths.append(rule.rule)
    return sorted(set(paths))


@pytest.mark.parametrize("mode", ["session:memory", "session:cookie", "jwt:memory"])
def test_no_page_contains_a_whole_cookie_or_token(make_app, mode):
    kind, _, store = mode.partition(":")
    app = make_app(f"jwt:{store}" if kind == "jwt" else store)
    browser = Browser(app)
    browser.login("alice")
    pair = browser.client.post("/api/token", json={"username": "alice", "password": PASSWORDS["alice"]}).get_json()
    browser.client.get("/api/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    browser.client.post("/api/token/refresh", headers={"Authorization": f"Bearer {pair['refresh_token']}"})
    if kind == "jwt":
        browser.post("/account/tamper", {"change": "grant-admin"}, form_page="/account")
    secrets = {pair["access_token"], pair["refresh_token"], pair["access_token"].split(".")[2]}
    for cookie in browser.client._cookies.values():
        if len(cookie.value) >= 16 and cookie.key != "authdemo_wire":
            secrets.add(cookie.value)
            if cookie.value.count(".") == 2:
                secrets.add(cookie.value.split(".")[2])  # a JWT's signature alone would let anyone rebuild it
    assert len(secrets) >= 4
    crawled = 0
    for path in _pages(app) + ["/account", "/account/sessions", "/account/wire", "/account/wire.json"]:
        response = browser.client.get(path)
        body = response.get_data(as_text=True)
        crawled += 1
        for secret in secrets:
            assert secret not in body, f"{path} shows a whole credential"
        if response.content_type.startswith("text/html"):
            assert not INLINE_SCRIPT.search(body) and " style=" not in body, f"{path}: inline script or style"
    tamper = browser.post("/account/tamper", {"change": "extend"}, form_page="/account") if kind == "jwt" else None
    if tamper is not None:
        assert all(secret not in tamper.get_data(as_text=True) for secret in secrets)
    assert crawled >= 10


# -- the inspector, the tamper demo, the engine's name --------------------------------------------


def test_the_inspector_has_two_columns_and_explains_the_fields(make_app, backend, browser_for):
    app = make_app(backend)
    browser = browser_for(app)
    browser.login()
    page = browser.client.get("/account").get_data(as_text=True)
    cookie = browser.cookie
    assert cookie not in page
    assert f"{cookie[:4]}…({len(cookie)} chars)" in page
    assert "In your browser" in page and "On the server" in page
    assert "Flask-Login: true when this session began with your password" in page  # _fresh
    assert "Flask-Login&#39;s session protection" in page  # _id
    assert re.search(r"Kept by the store for</dt>\s*<dd><strong>(29|30) min</strong>", page), "the store's TTL"
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+ s ago\)", page)  # human times in _meta
    handle = re.search(r'id="session-handle">.*?<code>([0-9a-f]{16})</code>', page, re.S).group(1)
    sessions = browser.client.get("/account/sessions").get_data(as_text=True)
    assert re.search(rf'<tr class="current">\s*<td><code>{handle}</code>', sessions)


def test_tamper_demo_edits_the_payload_and_shows_the_diff_and_the_control(make_app):
    app = make_app("jwt:memory")
    browser = Browser(app)
    browser.login("carol")
    access = browser.client.get_cookie("authdemo_access").value
    claims = json.loads(__import__("base64").urlsafe_b64decode(access.split(".")[1] + "=="))
    edited = {**claims, "permissions": claims["permissions"] + ["admin.access"]}
    del edited["nbf"]
    response = browser.post(
        "/account/tamper", {"change": "edit", "payload": json.dumps(edited), "signature": "keep"}, form_page="/account"
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'<tr class="diff-changed"><td><code>permissions</code>', page)
    assert re.search(r'<tr class="diff-removed"><td><code>nbf</code>', page)
    verdict = re.search(r'id="tamper-verdict">([^<]*)<', page).group(1)
    assert verdict.startswith("Refused with 401: the signature does not match") and "Error" not in verdict
    assert "Control</strong> — your unchanged token, sent the same way:\n      Accepted with 200" in page
    assert access not in page and access.split(".")[2] not in page

    for bad, message in (("[1", "not valid JSON"), ("[1]", "must be a JSON object")):
        answer = browser.post("/account/tamper", {"change": "edit", "payload": bad}, form_page="/account")
        assert answer.status_code == 400 and message in answer.get_data(as_text=True)
    none = browser.post("/account/tamper", {"change": "alg-none"}, form_page="/account").get_data(as_text=True)
    assert "never lets the token choose" in none and "No claim changed" in none


@pytest.mark.parametrize("backend", ["sqlalchemy", "sqlalchemy-postgres"])
def test_the_badge_and_healthz_name_the_database_engine(make_app, backend):
    app = make_app(backend)
    engine = "PostgreSQL" if backend.endswith("postgres") else "SQLite"
    client = app.test_client()
    assert f"sqlalchemy ({engine})" in client.get("/").get_data(as_text=True)
    assert client.get("/healthz").get_json()["database"]["engine"] == engine


def test_healthz_in_jwt_mode_says_which_store_holds_what(make_app):
    body = make_app("jwt:redis").test_client().get("/healthz").get_json()
    assert body["token_store"] == "redis"
    holds = body["holds"]
    assert "deny list" in holds["token store (redis)"] and "refresh-token families" in holds["token store (redis)"]
    assert "HttpOnly cookies" in holds["browser"] and "users, roles" in holds["database (SQLite)"]


# -- the bench prices the journal ----------------------------------------------------------------


def test_the_bench_prices_the_journal_per_request():
    from authdemo.lab import bench
    from authdemo.lab.cli import BENCH_DEFAULT

    assert "memory-wire" in bench.DEFAULT_BACKENDS and "memory-wire" in BENCH_DEFAULT
    row = {"store": "memory", "scenario": "protected_page", "workers": 1, "p50_ms": 1.0, "connections": 8}
    rows = [
        {**row, "variant": "", "requests_per_s": 2000.0},
        {**row, "variant": "wire on", "requests_per_s": 1600.0, "p50_ms": 1.2},
        {**row, "store": "redis", "variant": "", "requests_per_s": 1000.0},
    ]
    (cost,) = bench.wire_cost(rows)
    assert cost["us_per_request"] == 125.0  # 625 µs of server time per request against 500
    assert cost["throughput_ratio"] == 0.8 and (cost["p50_ms_on"], cost["p50_ms_off"]) == (1.2, 1.0)
    assert bench.wire_cost(rows[:1] + rows[2:]) == []  # no "wire on" row: nothing to report


def test_the_lab_measures_stores_with_the_wire_off_and_one_row_with_it_on():
    from authdemo.lab.deployments import Lab, memory, memory_wire, sqlalchemy_sqlite

    with Lab() as lab:
        assert memory(lab).env["AUTHDEMO_WIRE"] == "off" and sqlalchemy_sqlite(lab).env["AUTHDEMO_WIRE"] == "off"
        on = memory_wire(lab)
        assert on.env["AUTHDEMO_WIRE"] == "on" and on.label == "memory (wire on)"


# -- the home page tells the workflow of the mode in use, and what the bench measures -------------


def test_jwt_home_page_tells_the_token_workflow(make_app):
    app = make_app("jwt:redis")
    browser = Browser(app)
    browser.login("bob")
    page = browser.client.get("/").get_data(as_text=True)
    assert "The token workflow, in eight steps" in page and "creates a session in its store" not in page
    assert "refresh-token family in the\n      <strong>redis</strong> token store" in page
    assert "no session lookup, no database read" in page


def test_home_page_store_speed_agrees_with_the_bench(make_app):
    page = make_app("sqlalchemy").test_client().get("/").get_data(as_text=True)
    assert "slowest" not in page  # the bench measured SQLite's load and save below Redis's round trip
    assert "on SQLite, a local file, no network: a lookup or a write costs less than a Redis" in page
    memory = make_app("memory").test_client().get("/").get_data(as_text=True)
    assert "the fastest (no round trip at all)" in memory and "The cookie + session workflow" in memory
