"""What the /app page relies on in the API: refresh-cookie delivery, POST /api/tasks, the tasks service's CORS."""

from __future__ import annotations

import pytest

from authdemo import create_app, tasks_api
from authdemo.settings import ConfigError, load_settings
from tests.jwt_support import Api
from tests.support import PASSWORDS, SECRET

PAGE = {"X-Refresh-Token-Delivery": "cookie"}
COOKIE = "authdemo_app_refresh"
REFRESH = "/api/token/refresh"


def _refresh_cookies_set(response) -> list[str]:
    return [header for header in response.headers.getlist("Set-Cookie") if header.startswith(f"{COOKIE}=")]


def _page_login(client, username="bob"):
    return client.post("/api/token", json={"username": username, "password": PASSWORDS[username]}, headers=PAGE)


def test_command_line_clients_still_get_both_tokens_in_the_body_and_no_cookie(make_app):
    client = make_app("memory").test_client()
    answer = client.post("/api/token", json={"username": "bob", "password": PASSWORDS["bob"]})
    assert answer.status_code == 200
    assert set(answer.get_json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert not _refresh_cookies_set(answer)
    renewed = client.post(REFRESH, headers={"Authorization": f"Bearer {answer.get_json()['refresh_token']}"})
    assert renewed.status_code == 200 and "refresh_token" in renewed.get_json()
    assert not _refresh_cookies_set(renewed)


def test_the_page_gets_the_refresh_token_only_as_a_strict_httponly_cookie_on_the_refresh_path(make_app):
    client = make_app("memory").test_client()
    answer = _page_login(client)
    body = answer.get_json()
    assert "refresh_token" not in body and body["refresh_token_delivery"] == "cookie"
    (cookie,) = _refresh_cookies_set(answer)
    for attribute in ("HttpOnly", "SameSite=Strict", f"Path={REFRESH}"):
        assert attribute in cookie, cookie
    assert client.get_cookie(COOKIE, path=REFRESH) is not None

    # The cookie is read only when the page asks for it: a bare POST with just the cookie is refused.
    bare = client.post(REFRESH)
    assert bare.status_code == 401 and bare.get_json()["error"] == "invalid_request"
    renewed = client.post(REFRESH, headers=PAGE)
    assert renewed.status_code == 200 and "refresh_token" not in renewed.get_json()
    assert renewed.get_json()["access_token"] != body["access_token"]


def test_the_rotated_cookie_replaces_the_old_one_and_a_replayed_copy_ends_the_login(make_app):
    client = make_app("memory").test_client()
    _page_login(client)
    first = client.get_cookie(COOKIE, path=REFRESH).value
    assert client.post(REFRESH, headers=PAGE).status_code == 200
    client.set_cookie(COOKIE, first, path=REFRESH)  # a copy taken before the rotation
    replay = client.post(REFRESH, headers=PAGE)
    assert replay.status_code == 401 and "reuse" in replay.get_json()["message"]
    assert client.get_cookie(COOKIE, path=REFRESH) is None  # the dead cookie is dropped


def test_without_a_cookie_the_page_is_told_to_log_in(make_app):
    answer = make_app("memory").test_client().post(REFRESH, headers=PAGE)
    assert answer.status_code == 401
    assert answer.get_json() == {"error": "invalid_request", "message": "No refresh cookie: log in first."}


def test_an_unknown_delivery_value_is_a_400(make_app):
    client = make_app("memory").test_client()
    answer = client.post(
        "/api/token", json={"username": "bob", "password": "x"}, headers={"X-Refresh-Token-Delivery": "carrier-pigeon"}
    )
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_request"


def test_page_log_out_revokes_the_login_and_clears_the_cookie(make_app):
    client = make_app("memory").test_client()
    access = _page_login(client).get_json()["access_token"]
    assert client.delete(REFRESH).status_code == 400  # only for the page
    answer = client.delete(REFRESH, headers=PAGE)
    assert answer.status_code == 200 and answer.get_json() == {"logged_out": True, "login_ended": True}
    assert client.get_cookie(COOKIE, path=REFRESH) is None
    assert Api(client.application).me(access).status_code == 401  # the family's access token went with it
    again = client.delete(REFRESH, headers=PAGE)  # nothing left to end: still fine
    assert again.status_code == 200 and again.get_json()["login_ended"] is False


def test_an_editor_adds_a_task_and_a_viewer_gets_403(make_app):
    app = make_app("memory")
    api = Api(app)
    bob, carol = api.token("bob")["access_token"], api.token("carol")["access_token"]
    client = app.test_client()
    added = client.post("/api/tasks", json={"title": "  Ship   /app "}, headers={"Authorization": f"Bearer {bob}"})
    assert added.status_code == 201
    task = added.get_json()["task"]
    assert (task["title"], task["owner"], task["done"]) == ("Ship /app", "bob", False)
    listed = client.get("/api/tasks", headers={"Authorization": f"Bearer {carol}"}).get_json()["tasks"]
    assert listed[-1]["id"] == task["id"] and len(listed) == 4

    refused = client.post("/api/tasks", json={"title": "no"}, headers={"Authorization": f"Bearer {carol}"})
    assert refused.status_code == 403
    assert refused.get_json() == {"error": "insufficient_scope", "message": "This needs the permission tasks.write."}
    assert 'scope="tasks.write"' in refused.headers["WWW-Authenticate"]
    assert client.post("/api/tasks", json={"title": "x"}).status_code == 401


@pytest.mark.parametrize(
    "body", [None, [], {"title": ""}, {"title": "   "}, {"title": 7}, {"title": "x" * 201}, {"title": "a\x00b"}]
)
def test_bad_task_bodies_are_400(make_app, body):
    app = make_app("memory")
    bob = Api(app).token("bob")["access_token"]
    answer = app.test_client().post("/api/tasks", json=body, headers={"Authorization": f"Bearer {bob}"})
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_request"


def test_the_added_tasks_are_bounded(make_app):
    from authdemo.tasks import MAX_ADDED, TaskList

    tasks = TaskList()
    for number in range(MAX_ADDED + 5):
        tasks.add(f"task {number}", "bob")
    titles = [task["title"] for task in tasks.all()]
    assert len(titles) == 3 + MAX_ADDED and titles[3] == "task 5"


def _tasks_service(tmp_path, jwt_secret, origin="http://127.0.0.1:5000"):
    return tasks_api.create_app(
        {
            "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "tasks-instance"),
            "AUTHDEMO_SECRET_KEY": SECRET,
            "AUTHDEMO_JWT_SECRET": jwt_secret,
            "AUTHDEMO_SITE_ORIGIN": origin,
        }
    ).test_client()


def test_the_tasks_service_allows_exactly_the_sites_origin(make_app, tmp_path):
    app = make_app("memory")
    access = Api(app).token("carol")["access_token"]
    service = _tasks_service(tmp_path, app.extensions["authdemo_settings"].jwt_secret, "https://Site.Example:443/")
    preflight = {"Origin": "https://site.example", "Access-Control-Request-Method": "GET"}
    allowed = service.options("/tasks", headers={**preflight, "Access-Control-Request-Headers": "authorization"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://site.example"
    assert allowed.headers["Access-Control-Allow-Headers"] == "Authorization"
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET"
    assert "Origin" in allowed.headers["Vary"]

    read = service.get("/tasks", headers={"Origin": "https://site.example", "Authorization": f"Bearer {access}"})
    assert read.status_code == 200 and read.headers["Access-Control-Allow-Origin"] == "https://site.example"
    expired = service.get("/tasks", headers={"Origin": "https://site.example", "Authorization": "Bearer x.y.z"})
    assert expired.status_code == 401 and expired.headers["Access-Control-Expose-Headers"] == "WWW-Authenticate"

    for other in ("https://evil.example", "https://site.example:8443", "http://site.example", "null"):
        refused = service.get("/tasks", headers={"Origin": other, "Authorization": f"Bearer {access}"})
        assert "Access-Control-Allow-Origin" not in refused.headers, other
        assert (
            "Access-Control-Allow-Origin"
            not in service.options("/tasks", headers={**preflight, "Origin": other}).headers
        )


def test_site_origin_and_tasks_url_settings(tmp_path):
    base = {"AUTHDEMO_INSTANCE_PATH": str(tmp_path), "AUTHDEMO_SECRET_KEY": SECRET}
    development = load_settings(base, default_instance_path=str(tmp_path))
    assert (development.site_origin, development.tasks_url) == ("http://127.0.0.1:5000", "http://127.0.0.1:5001")
    production = load_settings({**base, "AUTHDEMO_ENV": "production"}, default_instance_path=str(tmp_path))
    assert (production.site_origin, production.tasks_url) == ("", "")
    off = load_settings({**base, "AUTHDEMO_SITE_ORIGIN": "off", "AUTHDEMO_TASKS_URL": "off"}, str(tmp_path))
    assert (off.site_origin, off.tasks_url) == ("", "")
    named = load_settings({**base, "AUTHDEMO_SITE_ORIGIN": "HTTPS://App.Example:443"}, str(tmp_path))
    assert named.site_origin == "https://app.example"
    for bad in ("app.example", "ftp://app.example", "https://app.example/path", "https://app.example:99999", "*"):
        with pytest.raises(ConfigError, match="AUTHDEMO_SITE_ORIGIN"):
            load_settings({**base, "AUTHDEMO_SITE_ORIGIN": bad}, str(tmp_path))
    with pytest.raises(ConfigError, match="AUTHDEMO_TASKS_URL"):
        load_settings({**base, "AUTHDEMO_TASKS_URL": "javascript:alert(1)"}, str(tmp_path))


def test_the_lesson_exists_in_development_only(make_app, tmp_path):
    development = make_app("memory").test_client()
    page = development.get("/app/lesson")
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    production = create_app(
        {
            "AUTHDEMO_ENV": "production",
            "AUTHDEMO_SECRET_KEY": SECRET,
            "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "production"),
        }
    )
    client = production.test_client()
    for path in ("/app/lesson", "/app/lesson/collect", "/app/lesson/cookie", "/app/lesson/refresh"):
        assert client.get(path).status_code == 404, path
        assert client.post(path).status_code == 404, path
    assert "lesson" not in client.get("/app").get_data(as_text=True)


def test_the_sites_csp_lets_app_reach_the_tasks_service_and_nothing_else(make_app):
    page = make_app("memory", AUTHDEMO_TASKS_URL="http://127.0.0.1:5999/").test_client().get("/app")
    directives = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    assert directives["connect-src"] == "'self' http://127.0.0.1:5999"
    assert directives["script-src"] == "'self'"
    alone = make_app("memory", AUTHDEMO_TASKS_URL="off").test_client().get("/app")
    assert "connect-src" not in alone.headers["Content-Security-Policy"]
    assert 'data-tasks-url=""' in alone.get_data(as_text=True)
