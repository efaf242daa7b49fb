"""Hostile input: garbage and forged cookies, missing CSRF tokens, hostile logins, open redirects, method misuse.

Every check here is "the app refuses politely": never a 5xx or a traceback,
never a login it should not grant, never a redirect off the site.
Cookie handling differs per store, so the cookie tests run on every backend;
the form checks (CSRF, login fields, ``next``) run on a few.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import string
import zlib
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from itsdangerous import BadSignature
from itsdangerous.encoding import base64_decode, base64_encode
from markupsafe import escape

from authdemo.sessions import get_manager
from tests.support import PASSWORDS

COOKIE = "authdemo_session"
SID_ALPHABET = string.ascii_letters + string.digits + "-_"
SCRIPT = "<script>alert(1)</script>"
GENERIC_LOGIN_ERRORS = ("Invalid username or password.", "Please fill in both the username and the password.")
OTHER_SECRET = "other-secret-key-that-is-also-long-enough-for-hmac"

FUZZ = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# ---------------------------------------------------------------- helpers


def header_safe(text: str) -> str:
    """``text`` as a browser would put it on the wire: UTF-8 bytes, seen as latin-1, minus what a header cannot carry.

    A header value holds HTAB, visible ASCII, space and obs-text (0x80–0xFF);
    servers refuse CR, LF, NUL and other controls before the app sees them.
    """
    raw = text.encode("utf-8", "surrogatepass").decode("latin-1")
    return "".join(ch for ch in raw if ch == "\t" or 0x20 <= ord(ch) < 0x7F or 0x80 <= ord(ch) <= 0xFF)


def send(app, path: str, cookie_header: str | None = None, method: str = "GET", **kwargs):
    """One request from a cookie-less client, with exactly this Cookie header."""
    client = app.test_client(use_cookies=False)
    headers = dict(kwargs.pop("headers", {}))
    if cookie_header is not None:
        headers["Cookie"] = cookie_header
    return client.open(path, method=method, headers=headers, **kwargs)


def send_path(app, path: str):
    """GET with this exact request path (PATH_INFO as a server passes it: UTF-8 bytes seen as latin-1).

    The test client would read "//evil.example" as a host name, so the path goes in the environ directly.
    """
    return send(app, "/", environ_overrides={"PATH_INFO": path.encode().decode("latin-1")})


def assert_not_5xx(response, context: str = "") -> None:
    """No server error and no traceback in the body."""
    body = response.get_data(as_text=True)
    assert response.status_code < 500, f"{context}: {response.status_code}\n{body[:2000]}"
    assert "Traceback" not in body, context


def assert_anonymous(app, cookie_header: str, context: str = "") -> None:
    """With this Cookie header /account sends to /login, and / and /healthz still answer 200."""
    account = send(app, "/account", cookie_header)
    assert_not_5xx(account, context)
    assert account.status_code == 302, f"{context}: /account gave {account.status_code}"
    assert urlsplit(account.headers["Location"]).path == "/login", context
    for path in ("/", "/healthz"):
        response = send(app, path, cookie_header)
        assert_not_5xx(response, f"{context} {path}")
        assert response.status_code == 200, f"{context}: {path} gave {response.status_code}"


def logged_in(app, cookie_value: str) -> bool:
    """Whether /account is served with this session cookie value."""
    response = send(app, "/account", f"{COOKIE}={cookie_value}")
    assert_not_5xx(response, "logged_in probe")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def user_id(app, username: str) -> str:
    """The database id of a demo user."""
    from authdemo.extensions import db
    from authdemo.models import User

    with app.app_context():
        return str(db.session.scalar(db.select(User.id).filter_by(username=username)))


def split_signed_cookie(value: str) -> tuple[dict, str, str]:
    """A Flask signed cookie's JSON payload, timestamp and signature (payload possibly zlib-compressed)."""
    compressed = value.startswith(".")
    payload, timestamp, signature = value.lstrip(".").rsplit(".", 2)
    raw = base64_decode(payload)
    return json.loads(zlib.decompress(raw) if compressed else raw), timestamp, signature


def join_signed_cookie(data: dict, timestamp: str, signature: str) -> str:
    """Re-assemble a signed cookie around a new payload, keeping the old signature."""
    payload = base64_encode(json.dumps(data, separators=(",", ":")).encode()).decode()
    return f"{payload}.{timestamp}.{signature}"


def other_char(ch: str, seed: int = 0) -> str:
    """A URL-safe character different from ``ch``."""
    choices = SID_ALPHABET.replace(ch, "")
    return choices[seed % len(choices)]


def browser_sees(location: str) -> str:
    """Where a browser goes for a Location value: it drops tabs and newlines, trims, and reads \\ as /."""
    cleaned = re.sub(r"[\t\n\r]", "", location).strip("\x00- ")
    return cleaned.replace("\\", "/")


def off_site(location: str) -> str | None:
    """Why a Location value leaves the site (even as a browser reads it), or None for a path on this site."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in location):
        return "control character"
    seen = browser_sees(location)
    if not seen.startswith("/") or seen.startswith("//"):
        return f"a browser reads it as {seen!r}"
    parts = urlsplit(seen)
    if parts.scheme or parts.netloc:
        return f"scheme or host in {seen!r}"
    return None


def hidden_next(page: str) -> str:
    """The value of the login form's hidden ``next`` field."""
    match = re.search(r'<input[^>]*name="next"[^>]*value="([^"]*)"', page) or re.search(
        r'<input[^>]*value="([^"]*)"[^>]*name="next"', page
    )
    return html.unescape(match.group(1)) if match else ""


def login_form(browser, username: str, password: str, **extra: str):
    """POST the login form with a fresh CSRF token and exactly these fields."""
    token = browser.csrf("/login")
    return browser.client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token, **extra}
    )


# --------------------------------------------------- 1. garbage session cookies (every backend)

garbage = st.one_of(
    st.text(max_size=200),  # any unicode, sent as its UTF-8 bytes
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),  # any bytes
    st.text(alphabet=string.printable, max_size=120),  # quotes, ;, =, \\ and commas: cookie syntax
    st.text(alphabet=SID_ALPHABET, min_size=43, max_size=43),  # well-formed ids nobody issued
    st.text(alphabet=SID_ALPHABET + ".", min_size=30, max_size=120),  # look like signed cookies
    st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=8), st.integers(200, 1500)),  # long
).map(header_safe)


@FUZZ
@given(value=garbage)
@example(value="")
@example(value='"')
@example(value='"\\')
@example(value="..")
@example(value=".eJw.AAAA.BBBB")
@example(value="\u202e" + "A" * 42)
def test_garbage_session_cookie_never_gives_5xx(app, value):
    """Attacker sends junk, binary, unicode or id-shaped values as the session cookie: anonymous, never a 5xx."""
    assert_anonymous(app, f"{COOKIE}={header_safe(value)}", f"cookie {value[:80]!r}")


@pytest.fixture
def real_cookie(browser):
    """A logged-in session cookie value (alice) on the backend under test."""
    browser.login("alice")
    assert browser.is_logged_in()
    return browser.cookie


@FUZZ
@given(
    op=st.sampled_from(["replace", "insert", "delete", "swapcase"]),
    position=st.integers(0, 10_000),
    seed=st.integers(0, 63),
)
def test_real_session_cookie_with_one_character_changed_is_refused(app, real_cookie, op, position, seed):
    """Attacker guesses a neighbour of a real session cookie: no session is found, never a 5xx."""
    i = position % len(real_cookie)
    ch = real_cookie[i]
    if op == "replace":
        mutated = real_cookie[:i] + other_char(ch, seed) + real_cookie[i + 1 :]
    elif op == "insert":
        mutated = real_cookie[:i] + SID_ALPHABET[seed % len(SID_ALPHABET)] + real_cookie[i:]
    elif op == "delete":
        mutated = real_cookie[:i] + real_cookie[i + 1 :]
    else:
        mutated = (
            real_cookie[:i] + (ch.swapcase() if ch.swapcase() != ch else other_char(ch, seed)) + real_cookie[i + 1 :]
        )
    context = f"{op} at {i}: {mutated!r}"
    if get_manager(app).backend == "cookie":
        # Base64's spare bits let a few edits of the signature's last character decode to the
        # same bytes; such a cookie *is* the original. Anything that decodes differently must fail.
        serializer = app.session_interface.get_signing_serializer(app)
        try:
            same = serializer.loads(mutated) == serializer.loads(real_cookie)
        except BadSignature:
            same = False
        if same:
            assert_not_5xx(send(app, "/account", f"{COOKIE}={mutated}"), context)
            return
    assert_anonymous(app, f"{COOKIE}={mutated}", context)


# --------------------------------------------------- 2. oversized cookies (every backend)


def test_oversized_session_cookie_never_gives_5xx(app):
    """Attacker (or a broken proxy) sends an 8 KB cookie and a 100 KB Cookie header: refused quietly."""
    eight_kb = "A" * 8192
    signed_looking = "e" * 8000 + ".ZZZZZZ." + "s" * 27
    padding = "; ".join(f"junk{i}={'x' * 100}" for i in range(1000))  # ~100 KB of other cookies
    headers = {
        "8 KB id-alphabet value": f"{COOKIE}={eight_kb}",
        "8 KB signed-cookie-shaped value": f"{COOKIE}={signed_looking}",
        "100 KB session cookie": f"{COOKIE}={'B' * 100 * 1024}",
        "100 KB Cookie header of many cookies": f"{COOKIE}={eight_kb}; {padding}",
        "the session cookie 500 times": "; ".join([f"{COOKIE}={secrets.token_urlsafe(32)}"] * 500),
    }
    for context, header in headers.items():
        assert_anonymous(app, header, context)


# --------------------------------------------------- 3. forged cookies


def test_random_well_formed_session_id_is_not_logged_in(app, browser):
    """Attacker guesses a 256-bit id of the right shape while real sessions exist: nobody's session."""
    browser.login("alice")
    for _ in range(3):
        assert_anonymous(app, f"{COOKIE}={secrets.token_urlsafe(32)}", "random id")
    assert browser.is_logged_in()


@pytest.fixture
def cookie_app(make_app):
    """An app on the signed-cookie backend."""
    return make_app("cookie")


def tamper_user_id(value: str, app) -> str:
    """Same cookie, signature kept, but the payload now says bob."""
    data, timestamp, signature = split_signed_cookie(value)
    data["_user_id"] = user_id(app, "bob")
    return join_signed_cookie(data, timestamp, signature)


def tamper_signature(value: str, app) -> str:
    """Same payload, first signature character changed."""
    head, signature = value.rsplit(".", 1)
    return f"{head}.{other_char(signature[0])}{signature[1:]}"


def tamper_timestamp(value: str, app) -> str:
    """Same payload and signature, timestamp moved (to outlive the idle timeout)."""
    head, timestamp, signature = value.rsplit(".", 2)
    return f"{head}.{other_char(timestamp[-1])}{timestamp[:-1]}.{signature}"


def strip_signature(value: str, app) -> str:
    """Payload only, signature removed."""
    return value.rsplit(".", 1)[0] + "."


@pytest.mark.parametrize(
    "tamper", [tamper_user_id, tamper_signature, tamper_timestamp, strip_signature], ids=lambda f: f.__name__
)
def test_tampered_signed_cookie_is_refused(cookie_app, browser_for, tamper):
    """Attacker edits their own signed cookie (user id, signature, timestamp): not logged in, never a 5xx."""
    browser = browser_for(cookie_app)
    browser.login("alice")
    original = browser.cookie
    assert logged_in(cookie_app, original)  # the untouched copy works: the refusals below are not vacuous
    forged = tamper(original, cookie_app)
    assert forged != original
    assert_anonymous(cookie_app, f"{COOKIE}={forged}", tamper.__name__)


def test_cookie_signed_with_another_secret_is_refused(cookie_app, make_app, browser_for):
    """Attacker runs their own copy of the app (same database, other key) and replays its cookie here."""
    other = make_app("cookie", AUTHDEMO_SECRET_KEY=OTHER_SECRET)
    attacker = browser_for(other)
    attacker.login("alice")
    assert attacker.is_logged_in()
    assert_anonymous(cookie_app, f"{COOKIE}={attacker.cookie}", "cookie from another secret")


# --------------------------------------------------- 4. CSRF (memory and cookie)

CSRF_TARGETS = ["/login", "/logout", "/logout-all", "/account/sessions/{handle}/revoke"]


@pytest.mark.parametrize("backend", ["memory", "cookie"])
@pytest.mark.parametrize("target", CSRF_TARGETS)
def test_post_without_valid_csrf_token_is_refused(app, browser_for, target):
    """Cross-site form posts with no token, a made-up one, or the attacker's own valid token: 400, nothing done."""
    laptop, phone, attacker = browser_for(app), browser_for(app), browser_for(app)
    laptop.login("alice")
    phone.client.environ_base["HTTP_USER_AGENT"] = "PhoneBrowser/1.0"
    phone.login("alice")
    with app.test_request_context():
        (phone_session,) = [
            s for s in get_manager(app).list_for_user(user_id(app, "alice")) if s.user_agent == "PhoneBrowser/1.0"
        ]
    path = target.format(handle=phone_session.handle)
    victim = browser_for(app) if target == "/login" else laptop
    form = {"username": "alice", "password": PASSWORDS["alice"]} if target == "/login" else {}
    tokens = {"no token": None, "made-up token": "not-a-real-token", "attacker's own token": attacker.csrf("/login")}
    for name, token in tokens.items():
        data = dict(form, **({"csrf_token": token} if token is not None else {}))
        response = victim.client.post(path, data=data)
        body = response.get_data(as_text=True)
        assert response.status_code == 400, f"{path} with {name}: {response.status_code}"
        assert "CSRF" in body, f"{path} with {name}: the 400 page does not say why"
        as_json = victim.client.post(path, data=data, headers={"Accept": "application/json"})
        assert as_json.status_code == 400 and as_json.get_json()["error"] == "csrf_failed", path
    assert victim.is_logged_in() == (target != "/login")
    assert phone.is_logged_in()


# --------------------------------------------------- 5. hostile usernames and passwords

HOSTILE_LOGINS = [
    ("' OR '1'='1", "' OR '1'='1"),
    ("alice'--", "x"),
    ("alice' OR 1=1--", "anything"),
    ("alice'; DROP TABLE users; --", "x"),
    ('alice" OR ""="', "x"),
    ("alice", "' OR '1'='1"),
    ("alice", "') OR ('1'='1"),
    ("a" * 10_000, "x"),
    ("alice", "p" * 10_000),
    ("é" * 3_000, "ü" * 3_000),  # 36 KB of form body, under the 64 KB request limit
    ("alice\x00", "wrong-password"),
    # A C-string check would stop at the NUL. (A *trailing* NUL alone is accepted: scrypt's HMAC pads
    # keys with zero bytes, so "pw\x00" hashes like "pw". Harmless: it needs the password.)
    ("alice", "alice-password\x00garbage"),
    ("\x00", "\x00"),
    ("\u202ealice", "wrong-password"),
    ("\u202egnp.exe\u202c", "\u200b"),
    ("🙂" * 16, "🙂"),
    ("alice\r\nX-Injected: 1", "x\r\ny"),
    (SCRIPT, "x"),
    ("alice", SCRIPT.replace("1", "2")),
    ("", ""),
    ("alice", ""),
    ("", PASSWORDS["alice"]),
    ("   ", "   "),
]


@pytest.mark.parametrize("backend", ["memory", "sqlalchemy-postgres"])  # the user table on SQLite and PostgreSQL
def test_hostile_credentials_get_a_generic_refusal(app, browser):
    """SQL injection, huge, NUL, RTL and script values in the login form: 200 with a generic message, no login."""
    problems = []
    for username, password in HOSTILE_LOGINS:
        case = f"{username[:40]!r} / {password[:40]!r}"
        response = login_form(browser, username, password)
        body = response.get_data(as_text=True)
        if response.status_code != 200:
            problems.append(f"{case}: status {response.status_code}")
            continue
        if not any(message in body for message in GENERIC_LOGIN_ERRORS):
            problems.append(f"{case}: no generic error message")
        if SCRIPT in body or SCRIPT.replace("1", "2") in body:
            problems.append(f"{case}: script echoed unescaped")
        if len(password) > 3 and password not in (username, *PASSWORDS.values()) and str(escape(password)) in body:
            problems.append(f"{case}: password echoed into the page")
    assert not problems, "\n".join(problems)
    assert not browser.is_logged_in()


def test_hostile_username_is_echoed_escaped(make_app, browser_for):
    """Reflected XSS through the username field: the value comes back HTML-escaped."""
    browser = browser_for(make_app("memory"))
    body = login_form(browser, SCRIPT, "x").get_data(as_text=True)
    assert SCRIPT not in body
    assert str(escape(SCRIPT)) in body


# --------------------------------------------------- 6. open redirects through ?next= (memory and cookie)

HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "https://evil.example",
    "http://localhost/../evil",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http:/evil.example",
    "https:evil.example",
    " //evil.example",
    "\t//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\x00/evil.example",
    "%0d%0aLocation: x",
    "/\r\nLocation: https://evil.example",
    "/\r\nSet-Cookie: authdemo_session=fixed",
    "／／evil.example",
    "/%2F%2Fevil.example",  # percent-encoded slashes are a path on this site: allowed
    "/%09/evil.example",
    "/.//evil.example",
]


@pytest.mark.parametrize("backend", ["memory", "cookie"])
def test_next_never_redirects_off_site(app, browser_for):
    """Phishing link /login?next=<evil>: neither the form's hidden field nor the post-login redirect leaves the site."""
    problems = []
    for target in HOSTILE_NEXT:
        browser = browser_for(app)
        page = browser.client.get("/login?" + urlencode({"next": target}))
        if page.status_code != 200:
            problems.append(f"{target!r}: GET /login gave {page.status_code}")
            continue
        carried = hidden_next(page.get_data(as_text=True))
        response = login_form(browser, "alice", PASSWORDS["alice"], next=target)  # the raw value, not the cleaned one
        if response.status_code != 302:
            problems.append(f"{target!r}: login gave {response.status_code}")
            continue
        for where, location in (("hidden next", carried or "/"), ("Location", response.headers["Location"])):
            if reason := off_site(location):
                problems.append(f"{target!r}: {where} {location!r} is off-site ({reason})")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("backend", ["memory", "cookie"])
def test_legitimate_next_is_honoured(app, browser):
    """A real deep link, /reports?x=1, survives the login round trip (query string included)."""
    page = browser.client.get("/login?" + urlencode({"next": "/reports?x=1"}))
    assert hidden_next(page.get_data(as_text=True)) == "/reports?x=1"
    response = login_form(browser, "alice", PASSWORDS["alice"], next="/reports?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/reports?x=1"


def test_script_in_next_is_not_reflected_raw(make_app, browser_for):
    """Reflected XSS through ?next= into the hidden field: escaped, never raw markup."""
    browser = browser_for(make_app("memory"))
    target = '/"><script>alert(1)</script>'
    page = browser.client.get("/login?" + urlencode({"next": target}))
    assert_not_5xx(page, "script in next")
    assert SCRIPT not in page.get_data(as_text=True)
    assert hidden_next(page.get_data(as_text=True)) == target  # carried, but as an escaped attribute value


# --------------------------------------------------- 7. method misuse and unknown routes (memory)


@pytest.mark.parametrize("backend", ["memory"])
def test_wrong_method_is_405_not_500(app, browser):
    """Link prefetchers and crawlers GET state-changing URLs, scripts PUT/DELETE: 405 pages, nothing happens."""
    browser.login("alice")
    # GET /logout-all and GET …/revoke are the confirm steps (an unknown handle goes back to the list): nothing ends.
    for path in ("/logout-all", "/account/sessions/abc/revoke"):
        response = browser.client.get(path)
        assert_not_5xx(response, f"GET {path}")
        assert response.status_code in (200, 302, 404), f"GET {path}: {response.status_code}"
        assert browser.is_logged_in(), f"GET {path} logged out"
    for method, path in [
        ("GET", "/logout"),
        ("PUT", "/login"),
        ("DELETE", "/account"),
        ("PATCH", "/logout"),
    ]:
        response = browser.client.open(path, method=method)
        assert_not_5xx(response, f"{method} {path}")
        assert response.status_code == 405, f"{method} {path}: {response.status_code}"
        assert "Method not allowed" in response.get_data(as_text=True)
    assert browser.is_logged_in()  # GET /logout did not log out


@pytest.mark.parametrize("backend", ["memory"])
def test_hostile_session_handle_in_revoke_url_is_refused_quietly(app, browser):
    """A logged-in user posts revoke URLs with made-up handles (huge, traversal, NUL, unicode): a redirect, no 5xx."""
    browser.login("alice")
    for handle in ["x" * 5000, "..%2F..%2Fadmin", "%00", "%E2%80%AEadmin", "0" * 16, "' OR '1'='1"]:
        response = browser.post(f"/account/sessions/{handle}/revoke", form_page="/account/sessions")
        assert_not_5xx(response, handle[:40])
        assert response.status_code in (302, 404), f"{handle[:40]}: {response.status_code}"
    assert browser.is_logged_in()


@pytest.mark.parametrize("backend", ["memory"])
def test_405_names_the_allowed_methods(app):
    """A client that used the wrong method is told which ones work (RFC 9110 §15.5.6: a 405 MUST send Allow)."""
    response = send(app, "/logout")
    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", ""), dict(response.headers)


@pytest.mark.parametrize("backend", ["memory"])
def test_unknown_routes_are_404_pages(app):
    """Scanners probe paths that do not exist, including ones shaped like redirects: a 404 page, no Location."""
    for path in [
        "/nope",
        "/wp-login.php",
        "/account/../../etc/passwd",
        "//evil.example",
        "//evil.example/login",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/account/sessions/" + "x" * 5000,
        "/\u202eadmin",
    ]:
        response = send_path(app, path)
        assert_not_5xx(response, path)
        assert response.status_code == 404, f"{path[:60]}: {response.status_code}"
        assert "Not found" in response.get_data(as_text=True)
        location = response.headers.get("Location")
        assert location is None or urlsplit(location).netloc in ("", "localhost"), location
    as_json = send(app, "/api/nope")
    assert as_json.status_code == 404 and as_json.get_json()["error"] == "not_found"


@pytest.mark.parametrize("backend", ["memory"])
def test_oversized_or_malformed_form_body_is_4xx(app, browser):
    """A 1 MB login POST or a broken multipart body: 413/400, never a 500."""
    token = browser.csrf("/login")
    big = browser.client.post("/login", data={"username": "alice", "password": "x" * 1024 * 1024, "csrf_token": token})
    assert_not_5xx(big, "1 MB form")
    assert big.status_code == 413
    broken = browser.client.post(
        "/login",
        data=b'--b\r\nContent-Disposition: form-data; name="username"\r\n\r\nalice',
        content_type="multipart/form-data; boundary=b",
    )
    assert_not_5xx(broken, "broken multipart")
    assert broken.status_code == 400
    not_utf8 = browser.client.post(
        "/login",
        data=b"username=%ff%fe&password=%c0%ae&csrf_token=" + token.encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert_not_5xx(not_utf8, "invalid UTF-8 form")
    assert not_utf8.status_code == 200
