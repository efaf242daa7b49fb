"""Redis Cluster: sessions, their per-user index, the token store and the login limiter on three real nodes.

The cluster is started here (redis-server nodes, ``redis-cli --cluster
create``) on free loopback ports, three primaries and no replicas, each with
an append-only file. Where a key lives is asked of each node directly.
"""

from __future__ import annotations

import jwt
import pytest
import redis

from authdemo import ratelimit
from authdemo.extensions import db
from authdemo.models import User
from authdemo.rbac import create_user
from authdemo.sessions import get_manager
from authdemo.settings import ConfigError, load_settings
from authdemo.tokens.redis_store import DENY, VERSION
from tests.jwt_support import Api
from tests.servers import HOST, RedisClusterServers, require
from tests.support import Browser

PASSWORD = "cluster-password"
# With alice, bob and carol: user ids 1 to 9, whose hash tags {u:1}…{u:9} fall on all three nodes.
MORE_USERS = [f"user{i}" for i in range(6)]
EVERYONE = ["alice", "bob", "carol", *MORE_USERS]


@pytest.fixture(scope="module")
def cluster():
    """Three redis-server nodes joined into one cluster, with AOF; stopped and deleted afterwards."""
    require("redis-server", "redis-server")
    require("redis-cli", "redis-tools")
    servers = RedisClusterServers(size=3, appendonly=True)
    servers.start()
    yield servers
    servers.cleanup()


@pytest.fixture
def cluster_app(make_app, cluster):
    """``cluster_app(backend="redis-cluster", **env)``: an app whose AUTHDEMO_REDIS_URL is the (emptied) cluster."""
    for node in cluster.nodes:
        if not node.is_running():
            node.start()
    cluster.wait_ok()
    for node in cluster.nodes:
        with _node(node) as raw:
            raw.flushall()
            raw.script_flush()  # so the first rotation on each node finds no cached Lua script
    apps = []

    def make(backend: str = "redis-cluster", **overrides: str):
        app = make_app(backend, AUTHDEMO_REDIS_URL=cluster.url, **overrides)
        apps.append(app)
        with app.app_context():
            for name in MORE_USERS:
                if db.session.scalar(db.select(User).filter_by(username=name)) is None:
                    create_user(name, PASSWORD, ["viewer"])
        return app

    yield make
    for app in apps:
        ratelimit.close(app)


def _node(node) -> redis.Redis:
    """A plain client for one node: it sees only the keys that node holds."""
    return redis.Redis(host=HOST, port=node.port, decode_responses=True)


def _keys_by_node(cluster) -> dict[int, set[str]]:
    """Every key, by the port of the node that holds it."""
    held = {}
    for node in cluster.nodes:
        with _node(node) as raw:
            held[node.port] = set(raw.scan_iter("*"))
    return held


def _holder(cluster, key: str) -> int | None:
    """The port of the node holding ``key``, or None if no node has it."""
    return next((port for port, keys in _keys_by_node(cluster).items() if key in keys), None)


def _keyslot(cluster, key: str) -> int:
    with _node(cluster.nodes[0]) as raw:
        return raw.execute_command("CLUSTER", "KEYSLOT", key)


def _owner(cluster, key: str) -> int:
    """The port of the node serving ``key``'s slot (whether or not the key exists)."""
    slot = _keyslot(cluster, key)
    with _node(cluster.nodes[0]) as raw:
        for start, end, primary, *_replicas in raw.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
    raise AssertionError(f"no node serves slot {slot}")


def _password(name: str) -> str | None:
    return PASSWORD if name in MORE_USERS else None


def _user_id(app, name: str) -> str:
    with app.app_context():
        return str(db.session.scalar(db.select(User.id).filter_by(username=name)))


def _session_key(browser: Browser) -> str:
    return f"authdemo:session:{browser.cookie}"


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _login(app, name: str) -> Browser:
    browser = Browser(app)
    assert browser.login(name, _password(name)).status_code == 302
    return browser


# -- configuration ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://",
        "redis+cluster://127.0.0.1",
        "redis+cluster://127.0.0.1:7000,127.0.0.1",
        "redis+cluster://127.0.0.1:70000",
        "redis+cluster://127.0.0.1:7000/2",
        "redis+cluster://:secret@127.0.0.1:7000?ssl=true",
    ],
)
def test_a_bad_cluster_url_names_the_variable_and_hides_the_password(tmp_path, url):
    with pytest.raises(ConfigError) as caught:
        load_settings({"AUTHDEMO_REDIS_URL": url}, str(tmp_path))
    assert "AUTHDEMO_REDIS_URL" in str(caught.value) and "redis+cluster://" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_a_cluster_url_is_accepted_and_the_login_limiter_follows_it(tmp_path):
    url = "redis+cluster://127.0.0.1:7000,[::1]:7001"
    settings = load_settings({"AUTHDEMO_REDIS_URL": url, "AUTHDEMO_SESSION_BACKEND": "redis"}, str(tmp_path))
    assert settings.redis_url == url and settings.login_limit_storage == url
    with pytest.raises(ConfigError, match="AUTHDEMO_LOGIN_LIMIT_STORAGE"):
        load_settings({"AUTHDEMO_LOGIN_LIMIT_STORAGE": "redis+cluster://nowhere"}, str(tmp_path))


# -- sessions --------------------------------------------------------------------------------------------------------


def test_sessions_log_out_everywhere_and_end_one_across_nodes(cluster, cluster_app):
    app = cluster_app()
    browsers = {name: [_login(app, name), _login(app, name)] for name in EVERYONE}
    alice = browsers["alice"]
    index = f"authdemo:user-sessions:{_user_id(app, 'alice')}"
    # More logins until alice's sessions sit on two nodes (so one is not her index's): logout-all crosses nodes.
    while len({_holder(cluster, _session_key(b)) for b in alice}) < 2:
        assert len(alice) < 30, "sessions do not spread over the nodes"
        alice.append(_login(app, "alice"))
    held = _keys_by_node(cluster)
    sessions_on = {port for port, keys in held.items() if any(k.startswith("authdemo:session:") for k in keys)}
    indexes_on = {port for port, keys in held.items() if any(k.startswith("authdemo:user-sessions:") for k in keys)}
    assert len(sessions_on) == 3 and len(indexes_on) >= 2, held

    # The sessions page reads sessions from several nodes (a pipeline, not a cross-slot MGET).
    with app.test_request_context():
        assert len(get_manager(app).list_for_user(_user_id(app, "alice"))) == len(alice)
    page = alice[0].client.get("/account/sessions")
    assert page.status_code == 200

    alice_keys = [_session_key(b) for b in alice]
    assert alice[0].post("/logout-all", form_page="/account").status_code == 302
    assert not any(b.is_logged_in() for b in alice)
    assert all(_holder(cluster, key) is None for key in alice_keys)
    assert _holder(cluster, index) is None
    assert all(b.is_logged_in() for name in EVERYONE if name != "alice" for b in browsers[name])

    # Bob ends his phone's session from his laptop; the two sessions are found on whichever nodes hold them.
    laptop, phone = browsers["bob"]
    phone_key = _session_key(phone)
    with app.test_request_context():
        listed = get_manager(app).list_for_user(_user_id(app, "bob"))
    (phone_entry,) = [s for s in listed if get_manager(app).is_handle(phone.cookie, s.handle)]
    response = laptop.post(f"/account/sessions/{phone_entry.handle}/revoke", form_page="/account/sessions")
    assert response.status_code == 302
    assert not phone.is_logged_in() and laptop.is_logged_in()
    assert _holder(cluster, phone_key) is None

    carol = browsers["carol"][0]
    carol_key = _session_key(carol)
    assert carol.logout().status_code == 302 and not carol.is_logged_in()
    assert _holder(cluster, carol_key) is None
    assert app.test_client().get("/healthz").get_json()["store"]["ok"] is True


def test_failed_logins_are_counted_in_the_cluster(cluster, cluster_app):
    app = cluster_app(AUTHDEMO_LOGIN_LIMIT_ACCOUNT="2 per minute")
    statuses = [Browser(app).login("alice", "wrong").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert any("login-limit" in key for keys in _keys_by_node(cluster).values() for key in keys)


# -- tokens ----------------------------------------------------------------------------------------------------------


def test_token_store_on_the_cluster(cluster, cluster_app):
    app = cluster_app("jwt:redis-cluster")
    api = Api(app)
    tag_node = {}
    for name in EVERYONE:
        uid = _user_id(app, name)
        deny, version = DENY.format(user_id=uid, jti="any"), VERSION.format(user_id=uid)
        assert _keyslot(cluster, deny) == _keyslot(cluster, version)  # check() is one single-slot MGET
        tag_node[name] = _owner(cluster, version)
    assert len(set(tag_node.values())) == 3, tag_node
    one_per_node = {port: name for name, port in tag_node.items()}.values()

    for name in one_per_node:
        uid = _user_id(app, name)
        # Revoke an access token: its deny entry lands on the node holding the user's version.
        pair = api.token(name, _password(name))
        assert api.revoke(pair["access_token"]).status_code == 200
        refused = api.me(pair["access_token"])
        assert refused.status_code == 401 and "revoked" in refused.get_json()["message"]
        jti = _claims(pair["access_token"])["jti"]
        assert _holder(cluster, DENY.format(user_id=uid, jti=jti)) == tag_node[name]

        # Refresh rotation with reuse detection: the Lua scripts run on the family's node.
        first = api.token(name, _password(name))
        second = api.refresh(first["refresh_token"])
        assert second.status_code == 200
        second = second.get_json()
        assert api.me(second["access_token"]).status_code == 200
        reuse = api.refresh(first["refresh_token"])
        assert reuse.status_code == 401 and "reuse" in reuse.get_json()["message"]
        assert api.refresh(second["refresh_token"]).status_code == 401
        assert api.me(second["access_token"]).status_code == 401

        # Log out everywhere: the version rises on the user's node, every family of the user is revoked.
        laptop, phone = api.token(name, _password(name)), api.token(name, _password(name))
        # Three logins still open: the first one (only its access token was revoked), the laptop and the phone.
        assert api.logout_all(laptop["access_token"]).get_json() == {"logins_ended": 3}
        for login in (pair, laptop, phone):
            assert api.me(login["access_token"]).status_code == 401
            assert api.refresh(login["refresh_token"]).status_code == 401
        with _node(next(n for n in cluster.nodes if n.port == tag_node[name])) as raw:
            assert raw.get(VERSION.format(user_id=uid)) == "1"
        assert api.me(api.token(name, _password(name))["access_token"]).status_code == 200


# -- a node restart --------------------------------------------------------------------------------------------------


def test_a_node_restart_is_survived(cluster, cluster_app):
    """While a node is down its users get 503 naming redis (never 500); the others are served; it comes back whole."""
    app = cluster_app()
    jwt_app = cluster_app("jwt:redis-cluster")
    browsers = {name: _login(app, name) for name in EVERYONE}
    victim = next(n for n in cluster.nodes if n.port == _holder(cluster, _session_key(browsers["alice"])))
    while all(_holder(cluster, _session_key(b)) == victim.port for b in browsers.values()):
        browsers[f"alice{len(browsers)}"] = _login(app, "alice")  # a session elsewhere, to see it served
    on_victim = {name for name, b in browsers.items() if _holder(cluster, _session_key(b)) == victim.port}

    api = Api(jwt_app)
    pairs = {name: api.token(name, _password(name)) for name in EVERYONE}
    tokens_on_victim = {
        name for name in EVERYONE if _owner(cluster, VERSION.format(user_id=_user_id(app, name))) == victim.port
    }
    assert tokens_on_victim and tokens_on_victim != set(EVERYONE)
    revoked_name = next(iter(tokens_on_victim))
    stolen = api.token(revoked_name, _password(revoked_name))
    assert api.revoke(stolen["access_token"]).status_code == 200
    # A login that lives wholly on the other nodes (user's slot and family), to refresh during the outage.
    elsewhere = next(name for name in EVERYONE if name not in tokens_on_victim)
    while _owner(cluster, f"authdemo:family:{_claims(pairs[elsewhere]['refresh_token'])['fam']}") == victim.port:
        pairs[elsewhere] = api.token(elsewhere, _password(elsewhere))

    victim.stop()  # graceful: the AOF is complete
    statuses = []

    def during_outage():
        for name, browser in browsers.items():
            page = browser.client.get("/account")
            statuses.append(page.status_code)
            if name in on_victim:
                assert page.status_code == 503 and "redis" in page.get_data(as_text=True), name
            else:
                assert page.status_code == 200, name
        for name, pair in pairs.items():
            answer = api.me(pair["access_token"])
            statuses.append(answer.status_code)
            if name in tokens_on_victim:
                assert answer.status_code == 503 and "redis token" in answer.get_json()["message"], name
            else:
                assert answer.status_code == 200, name
        for each in (app, jwt_app):  # /healthz asks every node
            health = each.test_client().get("/healthz")
            statuses.append(health.status_code)
            assert health.status_code == 503 and health.get_json()["store"]["ok"] is False

    during_outage()  # at once, before the other nodes notice
    # The rotation script runs on the family's node alone (EVAL there), not loaded on every node first.
    rotated = api.refresh(pairs[elsewhere]["refresh_token"])
    assert rotated.status_code == 200, rotated.get_json()
    pairs[elsewhere] = rotated.get_json()
    cluster.wait_failed(victim)
    during_outage()  # once they have flagged it failed: they keep serving their own slots
    assert set(statuses) == {200, 503}

    victim.start()  # the same port, its nodes.conf and its append-only file
    cluster.wait_ok()
    assert all(browser.is_logged_in() for browser in browsers.values())
    assert all(api.me(pair["access_token"]).status_code == 200 for pair in pairs.values())
    assert all(api.refresh(pair["refresh_token"]).status_code == 200 for pair in pairs.values())  # every node
    assert api.me(stolen["access_token"]).status_code == 401  # the deny entry came back with the node
    assert app.test_client().get("/healthz").status_code == jwt_app.test_client().get("/healthz").status_code == 200
