"""JWT mode and the token API, with every token store on a real server."""

from __future__ import annotations

import threading

import jwt
import pytest

from authdemo.extensions import db
from authdemo.models import User
from authdemo.tokens import get_service
from tests.jwt_support import Api
from tests.support import Browser, MovableClock

TOKEN_STORES = ["memory", "redis", "memcached", "sqlalchemy"]


@pytest.fixture(params=TOKEN_STORES)
def token_store(request):
    """Each token store in turn."""
    return request.param


@pytest.fixture
def jwt_app(make_app, token_store):
    """An app in JWT mode on the token store under test."""
    return make_app(f"jwt:{token_store}")


@pytest.fixture
def api(jwt_app):
    """An API client for it."""
    return Api(jwt_app)


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_token_endpoint_answers_the_contract(api):
    for path in ("/api/token", "/api/token/"):
        response = api.client.post(path, json={"username": "bob", "password": "bob-password"})
        assert response.status_code == 200
        body = response.get_json()
        assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert body["token_type"] == "Bearer" and body["expires_in"] == 300
        assert response.headers["Cache-Control"] == "no-store"
    access, refresh = _claims(body["access_token"]), _claims(body["refresh_token"])
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    assert jwt.get_unverified_header(body["refresh_token"])["typ"] == "rt+jwt"
    assert access["typ"] == "access" and refresh["typ"] == "refresh"
    assert isinstance(access["sub"], str) and access["username"] == "bob"
    assert access["permissions"] == ["reports.view", "tasks.read", "tasks.write"]
    assert access["exp"] - access["iat"] == 300 and refresh["exp"] - refresh["iat"] == 86400
    assert "password" not in str(access) and "roles" not in refresh  # nothing secret, nothing needless


def test_bad_credentials_and_bad_requests(api):
    wrong = api.client.post("/api/token", json={"username": "alice", "password": "nope"})
    unknown = api.client.post("/api/token", json={"username": "mallory", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert api.client.post("/api/token", data="not json").status_code == 400
    assert api.client.post("/api/token", json={"username": ["alice"], "password": 1}).status_code == 400


def test_bearer_header_rules(api):
    pair = api.token("alice")
    assert api.call("GET", "/api/me", pair["access_token"], scheme="bEaReR").status_code == 200
    missing = api.call("GET", "/api/me", None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="authdemo"'
    in_query = api.client.get(f"/api/me?access_token={pair['access_token']}")
    assert in_query.status_code == 401  # tokens are never read from the URL
    basic = api.call("GET", "/api/me", pair["access_token"], scheme="Basic")
    assert basic.status_code == 401 and 'error="invalid_token"' in basic.headers["WWW-Authenticate"]


def test_me_and_tasks_permissions(make_app, api, jwt_app):
    carol = api.token("carol")["access_token"]
    me = api.me(carol).get_json()
    assert me == {
        "sub": me["sub"],
        "username": "carol",
        "roles": ["viewer"],
        "permissions": ["reports.view", "tasks.read"],
    }
    assert api.call("GET", "/api/tasks", carol).status_code == 200
    result = jwt_app.test_cli_runner().invoke(args=["users", "create", "ned", "--password-stdin"], input="pw\n")
    assert result.exit_code == 0
    ned = api.token("ned", "pw")["access_token"]
    refused = api.call("GET", "/api/tasks", ned)
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


def test_refresh_rotates_and_reuse_revokes_the_family(api):
    first = api.token("alice")
    second = api.refresh(first["refresh_token"])
    assert second.status_code == 200
    second = second.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _claims(second["refresh_token"])["fam"] == _claims(first["refresh_token"])["fam"]
    assert api.me(second["access_token"]).status_code == 200
    reuse = api.refresh(first["refresh_token"])  # a copied, already-used refresh token
    assert reuse.status_code == 401 and "reuse" in reuse.get_json()["message"]
    assert api.refresh(second["refresh_token"]).status_code == 401
    assert api.me(second["access_token"]).status_code == 401
    other_login = api.token("alice")
    assert api.me(other_login["access_token"]).status_code == 200  # another device is untouched


def test_racing_refreshes_cannot_both_win(api):
    pair = api.token("alice")
    statuses = []

    def refresh():
        statuses.append(Api(api.app).refresh(pair["refresh_token"]).status_code)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses.count(200) <= 1
    assert set(statuses) <= {200, 401}


def test_revoke_an_access_token_and_a_refresh_token(api):
    pair = api.token("alice")
    assert api.revoke(pair["access_token"]).status_code == 200
    refused = api.me(pair["access_token"])
    assert refused.status_code == 401 and "revoked" in refused.get_json()["message"]
    assert api.revoke(pair["refresh_token"]).status_code == 200
    assert api.refresh(pair["refresh_token"]).status_code == 401
    assert api.revoke(pair["refresh_token"]).status_code == 401  # already revoked


def test_logout_all_ends_every_token_even_from_the_same_second(api):
    laptop, phone, bob = api.token("alice"), api.token("alice"), api.token("bob")
    assert api.logout_all(laptop["access_token"]).get_json() == {"logins_ended": 2}
    same_second = [laptop, phone]
    for pair in same_second:
        assert api.me(pair["access_token"]).status_code == 401
        assert api.refresh(pair["refresh_token"]).status_code == 401
    assert api.me(bob["access_token"]).status_code == 200
    fresh = api.token("alice")  # a new login right after works
    assert api.me(fresh["access_token"]).status_code == 200


def test_role_change_reaches_the_token_at_refresh(api, jwt_app):
    pair = api.token("carol")
    with jwt_app.app_context():
        carol = db.session.scalar(db.select(User).filter_by(username="carol"))
        carol.roles = []
        db.session.commit()
    assert api.call("GET", "/api/tasks", pair["access_token"]).status_code == 200  # stale until it expires
    renewed = api.refresh(pair["refresh_token"]).get_json()
    assert api.call("GET", "/api/tasks", renewed["access_token"]).status_code == 403


def test_tokens_expire(make_app, token_store):
    """Lifetimes of tens of seconds moved by the clock: whole-second claims leave a 1 s token as little as 0 s."""
    clock = MovableClock()
    app = make_app(
        f"jwt:{token_store}",
        clock=clock,
        AUTHDEMO_JWT_ACCESS_TTL="10",
        AUTHDEMO_JWT_REFRESH_TTL="30",
        AUTHDEMO_JWT_LEEWAY="0",
    )
    api = Api(app)
    pair = api.token("alice")
    clock.advance(11)
    expired = api.me(pair["access_token"])
    assert expired.status_code == 401 and "expired" in expired.get_json()["message"]
    renewed = api.refresh(pair["refresh_token"]).get_json()
    assert "access_token" in renewed, renewed
    assert api.me(renewed["access_token"]).status_code == 200
    clock.advance(20)  # past the login's 30 s: rotation never extends it
    assert api.refresh(renewed["refresh_token"]).status_code == 401


def test_purge_drops_expired_revocations(make_app):
    clock = MovableClock()
    app = make_app(
        "jwt:sqlalchemy",
        clock=clock,
        AUTHDEMO_JWT_ACCESS_TTL="1",
        AUTHDEMO_JWT_REFRESH_TTL="1",
        AUTHDEMO_JWT_LEEWAY="0",
    )
    api = Api(app)
    pair = api.token("alice")
    api.revoke(pair["refresh_token"])
    clock.advance(1.2)
    result = app.test_cli_runner().invoke(args=["sessions", "purge"])
    assert result.exit_code == 0, result.output
    removed = int(result.output.split("Removed ")[1].split()[0])
    assert removed >= 3  # the denied access and refresh ids, and the family


@pytest.mark.parametrize(
    "store, survives", [("memory", False), ("sqlalchemy", True), ("redis", True), ("memcached", True)]
)
def test_revocation_across_an_app_restart(make_app, store, survives):
    """With a memory token store, a stolen and revoked token comes back to life when the app restarts."""
    app = make_app(f"jwt:{store}")
    stolen = Api(app).token("alice")
    Api(app).revoke(stolen["access_token"])
    restarted = Api(make_app(f"jwt:{store}"))
    assert (restarted.me(stolen["access_token"]).status_code == 401) is survives


def test_jwks_endpoint(make_app):
    hs = make_app("jwt:memory").test_client().get("/.well-known/jwks.json").get_json()
    assert hs == {"keys": []}  # a shared secret is never published


@pytest.mark.parametrize("algorithm, kty", [("EdDSA", "OKP"), ("RS256", "RSA")])
def test_asymmetric_keys_are_published_without_the_private_part(make_app, algorithm, kty):
    app = make_app("jwt:memory", AUTHDEMO_JWT_ALGORITHM=algorithm)
    (key,) = app.test_client().get("/.well-known/jwks.json").get_json()["keys"]
    assert key["kty"] == kty and key["alg"] == algorithm and key["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
    pair = Api(app).token("alice")
    assert jwt.get_unverified_header(pair["access_token"]) == {"alg": algorithm, "kid": key["kid"], "typ": "at+jwt"}
    assert Api(app).me(pair["access_token"]).status_code == 200
    key_file = app.extensions["authdemo_settings"].jwt_private_key_file
    import os
    import stat

    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_the_api_works_in_session_mode_too(make_app):
    api = Api(make_app("redis"))
    pair = api.token("bob")
    assert api.call("GET", "/api/tasks", pair["access_token"]).status_code == 200


# -- the browser in JWT mode ---------------------------------------------------------------------------------------


def test_browser_login_puts_tokens_in_httponly_cookies(jwt_app):
    browser = Browser(jwt_app)
    response = browser.login("bob", next="/reports")
    assert response.status_code == 302 and response.headers["Location"] == "/reports"
    cookies = {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}
    for name in ("authdemo_access", "authdemo_refresh"):
        assert "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name]
    assert browser.client.get("/reports").status_code == 200
    assert browser.client.get("/admin").status_code == 403
    page = browser.client.get("/account").get_data(as_text=True)
    assert "at+jwt" in page and '"username": "bob"' in page


def test_browser_logout_revokes_the_tokens(jwt_app):
    browser = Browser(jwt_app)
    browser.login("alice")
    access = browser.client.get_cookie("authdemo_access").value
    refresh = browser.client.get_cookie("authdemo_refresh").value
    assert browser.logout().status_code == 302
    assert not browser.is_logged_in()
    thief = Browser(jwt_app)
    thief.client.set_cookie("authdemo_access", access)
    thief.client.set_cookie("authdemo_refresh", refresh)
    assert not thief.is_logged_in()
    assert Api(jwt_app).me(access).status_code == 401


def test_browser_sessions_page_lists_token_families_and_ends_one(jwt_app):
    laptop, phone = Browser(jwt_app), Browser(jwt_app)
    laptop.login("alice")
    phone.client.environ_base["HTTP_USER_AGENT"] = "PhoneBrowser/1.0"
    phone.login("alice")
    page = laptop.client.get("/account/sessions").get_data(as_text=True)
    assert "PhoneBrowser/1.0" in page and page.count("this one") == 1
    with jwt_app.test_request_context():
        manager = jwt_app.extensions["authdemo_login"]
        user_id = _claims(phone.client.get_cookie("authdemo_access").value)["sub"]
        (phone_login,) = [s for s in manager.list_for_user(user_id) if s.user_agent == "PhoneBrowser/1.0"]
    laptop.post(f"/account/sessions/{phone_login.handle}/revoke", form_page="/account/sessions")
    assert not phone.is_logged_in()
    assert laptop.is_logged_in()


def test_browser_logout_everywhere(jwt_app):
    laptop, phone = Browser(jwt_app), Browser(jwt_app)
    laptop.login("alice")
    phone.login("alice")
    laptop.post("/logout-all", form_page="/account")
    assert not laptop.is_logged_in() and not phone.is_logged_in()


def test_browser_refreshes_silently_then_logs_out_when_the_refresh_token_expires(make_app):
    clock = MovableClock()
    app = make_app(
        "jwt:sqlalchemy",
        clock=clock,
        AUTHDEMO_JWT_ACCESS_TTL="1",
        AUTHDEMO_JWT_REFRESH_TTL="3",
        AUTHDEMO_JWT_LEEWAY="0",
    )
    browser = Browser(app)
    browser.login("alice")
    first = browser.client.get_cookie("authdemo_access").value
    clock.advance(1.5)
    assert browser.is_logged_in()  # the access token had expired: the refresh token bought a new one
    assert browser.client.get_cookie("authdemo_access").value != first
    clock.advance(3)
    response = browser.client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert browser.client.get_cookie("authdemo_refresh") is None


def test_tamper_demo_refuses_every_change(jwt_app):
    from authdemo.tokens.tamper import TAMPERS

    browser = Browser(jwt_app)
    browser.login("carol")
    for change in TAMPERS:
        page = browser.post("/account/tamper", {"change": change}, form_page="/account").get_data(as_text=True)
        assert "Refused with 401" in page, change
        assert "ACCEPTED" not in page


def test_healthz_in_jwt_mode_reports_the_token_store(jwt_app, token_store):
    body = jwt_app.test_client().get("/healthz").get_json()
    assert body["auth_mode"] == "jwt" and body["store"]["ok"] is True
    assert body["store"]["name"] == token_store


def test_service_verify_uses_one_store_round_trip(jwt_app):
    """The hot path is signature + one lookup(): the deny list and the user's two versions together."""
    service = get_service(jwt_app)
    calls = []
    original = service.store.lookup

    def counting(*args):
        calls.append(args)
        return original(*args)

    service.store.lookup = counting
    pair = Api(jwt_app).token("alice")
    calls.clear()
    assert Api(jwt_app).me(pair["access_token"]).status_code == 200
    assert len(calls) == 1


@pytest.mark.parametrize("appendonly, survives", [(True, True), (False, False)], ids=["aof", "no-persistence"])
def test_revocation_across_a_redis_restart(make_app, appendonly, survives):
    """Redis keeps the deny list across its own restart only with persistence on."""
    from tests.servers import RedisServer, require

    require("redis-server", "redis-server")
    with RedisServer(appendonly=appendonly) as server:
        app = make_app("jwt:redis", AUTHDEMO_REDIS_URL=server.url)
        stolen = Api(app).token("alice")
        Api(app).revoke(stolen["access_token"])
        server.restart()
        assert (
            Api(make_app("jwt:redis", AUTHDEMO_REDIS_URL=server.url)).me(stolen["access_token"]).status_code == 401
        ) is survives


def test_memcached_restart_brings_a_revoked_token_back(make_app):
    from tests.servers import MemcachedServer, require

    require("memcached", "memcached")
    with MemcachedServer() as server:
        app = make_app("jwt:memcached", AUTHDEMO_MEMCACHED_SERVERS=server.servers)
        stolen = Api(app).token("alice")
        Api(app).revoke(stolen["access_token"])
        assert Api(app).me(stolen["access_token"]).status_code == 401
        server.restart()
        assert Api(app).me(stolen["access_token"]).status_code == 200


def test_token_store_outage_is_a_503_naming_it(make_app):
    from tests.servers import RedisServer, require

    require("redis-server", "redis-server")
    with RedisServer(appendonly=True) as server:
        app = make_app("jwt:redis", AUTHDEMO_REDIS_URL=server.url)
        pair = Api(app).token("alice")
        browser = Browser(app)
        browser.login("bob")
        server.kill()
        down = Api(app).me(pair["access_token"])
        assert down.status_code == 503 and "redis token" in down.get_json()["message"]
        page = browser.client.get("/account")
        assert page.status_code == 503 and "redis token" in page.get_data(as_text=True)
        assert app.test_client().get("/healthz").status_code == 503
        server.restart()
        assert Api(app).me(pair["access_token"]).status_code == 200
        assert browser.is_logged_in()


def test_production_token_cookies_are_secure_with_the_host_prefix(make_app):
    app = make_app("jwt:memory", AUTHDEMO_ENV="production")
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "/login",
        data={"username": "alice", "password": "alice-password", "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},
    )
    assert response.status_code == 302
    cookies = {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}
    for name in ("__Host-authdemo_access", "__Host-authdemo_refresh"):
        assert "Secure" in cookies[name] and "Path=/" in cookies[name] and "Domain" not in cookies[name]
    assert client.get("/account", base_url="https://localhost").status_code == 200
