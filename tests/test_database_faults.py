"""PostgreSQL crashing (pg_ctl -m immediate) at each point of a request: a 503, or the request's own answer.

Finding 9 of issue 10: Flask-SQLAlchemy's teardown rolled back on the dead
connection after the view had answered, and the error escaped the request
(gunicorn's 500). Each test crashes a real PostgreSQL of its own at one
moment of a request and checks what the client gets; tests/test_faults.py
does the same under load through nginx and gunicorn.
"""

from __future__ import annotations

import pytest

from authdemo.extensions import db
from authdemo.models import User
from tests.servers import PostgresServer, require
from tests.support import Browser


@pytest.fixture
def postgres():
    """A PostgreSQL of the test's own, to be crashed and started again."""
    require("postgres", "postgresql")
    server = PostgresServer().start()
    try:
        server.create_database("crash")
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def crash_app(make_app, postgres):
    """An app whose users live in that PostgreSQL (sessions in memory, so only the database fails)."""
    return make_app("memory", AUTHDEMO_DATABASE_URL=postgres.url("crash"))


def _query_then_crash(app, postgres):
    """A view that reads a user (a transaction is open), then the database crashes, then it answers."""

    @app.get("/test/query-then-crash")
    def query_then_crash():
        db.session.scalar(db.select(User).filter_by(username="alice"))
        postgres.stop_immediately()
        return "the view's own answer"


def test_a_crash_before_teardown_keeps_the_views_answer(crash_app, postgres):
    """The rollback at teardown meets the dead connection: logged, and the answer goes out as built."""
    _query_then_crash(crash_app, postgres)
    client = crash_app.test_client()
    response = client.get("/test/query-then-crash")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "the view's own answer")
    postgres.start()
    # The dead connection was not handed back to the pool: the next request works at once.
    assert Browser(crash_app).login("alice").status_code == 302


def test_a_page_that_needs_the_database_while_it_is_down_is_a_503(crash_app, postgres):
    browser = Browser(crash_app)
    assert browser.login("alice").status_code == 302
    postgres.stop_immediately()
    try:
        response = browser.client.get("/admin")  # lists every user: it needs the database
    finally:
        postgres.start()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "The database is not answering" in response.get_data(as_text=True)
    assert browser.client.get("/admin").status_code == 200  # back: the session was kept


def test_a_database_failure_after_the_view_is_a_503(crash_app, postgres):
    """An after_request hook that writes (as the event log does) on the dead database: 503, not 500."""
    _query_then_crash(crash_app, postgres)
    crash_app.config["PROPAGATE_EXCEPTIONS"] = False  # as under gunicorn: TESTING would re-raise it

    @crash_app.after_request
    def write_after(response):
        db.session.execute(db.text("SELECT 1"))
        return response

    response = crash_app.test_client().get("/test/query-then-crash")
    postgres.start()
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "The database is not answering" in response.get_data(as_text=True)


def test_the_json_api_answers_503_in_json(make_app, postgres):
    app = make_app("jwt:sqlalchemy", AUTHDEMO_DATABASE_URL=postgres.url("crash"))
    client = app.test_client()
    postgres.stop_immediately()
    try:
        response = client.post("/api/token", json={"username": "alice", "password": "alice-password"})
    finally:
        postgres.start()
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] in ("database_unavailable", "store_unavailable")
