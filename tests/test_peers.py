"""bench --peers on small sizes: the Django and stock Flask-Session peers start, log in over HTTP, and are measured.

One side-by-side run per module (1 run × 1 s per figure, one and two
workers, about two minutes): real gunicorn processes for authdemo, for
bench/peers/django_site and for bench/peers/flask_site, a redis-server and a
memcached for each side. No test asserts a time, only that the rows, ratios
and counts exist and nothing failed that should not. Without Django the
module is skipped (pip install -r bench/peers/requirements.txt), or fails
with AUTHDEMO_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from http.client import HTTPConnection

import pytest
from rich.console import Console

from authdemo import create_app
from authdemo.harness.processes import LabError
from authdemo.lab import bench, flask_peer, peers, report, results
from authdemo.lab.deployments import Lab
from tests.servers import REQUIRE_ENV, require
from tests.support import SECRET, shutdown

PAIRED = {"redis": "cache (redis)", "sqlalchemy": "db (sqlite)", "cookie": "signed_cookies"}
#: (SESSION_TYPE, the one change) → the authdemo store it is compared with.
FLASK_PAIRED = {
    ("redis", ""): "redis",
    ("redis", "write_when_changed"): "redis",
    ("memcached", ""): "memcached",
    ("memcached", "no_delay"): "memcached",
    ("sqlalchemy", ""): "sqlalchemy",
    ("sqlalchemy", "wal"): "sqlalchemy",
    ("sqlalchemy", "write_when_changed"): "sqlalchemy",
    ("cachelib", ""): "memory",
}
STORES = ("memory", "redis", "memcached", "sqlalchemy", "cookie")
pytestmark = pytest.mark.timeout(600)


def _require_django() -> None:
    if importlib.util.find_spec("django") is None:
        message = "Django is not installed (pip install -r bench/peers/requirements.txt)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message} and {REQUIRE_ENV}=1")
        pytest.skip(message)


def _get(url: str, path: str, headers: dict[str, str] | None = None):
    connection = HTTPConnection(url.removeprefix("http://"), timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Location", ""), response.getheader("Set-Cookie"), response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def side_by_side():
    """One peer comparison on tiny sizes; every process it starts is recorded and stopped with the lab."""
    _require_django()
    require("redis-server", "redis-server")
    require("memcached", "memcached")
    settings = bench.BenchSettings.choose(True, duration_s=1.0, runs=1, store_ops=50)
    started: list = []
    steps: list[int] = []
    with pytest.MonkeyPatch.context() as patch, Lab() as lab:
        for module, name in ((peers, "start_peer"), (flask_peer, "start")):
            original = getattr(module, name)
            patch.setattr(module, name, lambda *args, _start=original: started.append(_start(*args)) or started[-1])
        lab.seeded_database()
        chosen = [bench.ROWS[name](lab) for name in (*STORES, "jwt")]  # jwt has no peer: left out, not failed
        pairs = peers.prepare(lab, chosen)
        data = peers.run(lab, pairs, settings, lambda text, done: steps.append(done))
        running_after_run = [process.is_running() for process in started]
    return {
        "data": data,
        "pairs": pairs,
        "steps": steps,
        "settings": settings,
        "started": started,
        "running": running_after_run,
    }


def _rows(side_by_side, framework: str, workers: int = 1) -> dict:
    return {
        (row["scenario"], row["store"], row.get("change", "")): row
        for row in side_by_side["data"]["peers"]
        if row["framework"] == framework and row["workers"] == workers
    }


def test_django_is_the_pinned_52():
    _require_django()
    pinned = next(
        line.split("==")[1]
        for line in (peers.ROOT / peers.REQUIREMENTS).read_text().splitlines()
        if line.startswith("Django==")
    )
    assert pinned.startswith("5.2.") and peers.django_version() == pinned


def test_the_flask_peer_runs_the_pinned_flask_session_08_and_flask_login():
    pins = dict(
        line.split("==")
        for line in (peers.ROOT / peers.REQUIREMENTS).read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["Flask-Session"].startswith("0.8.")
    for package in ("Flask-Session", "Flask-Login", "Flask-SQLAlchemy", "cachelib", "pymemcache", "redis"):
        assert importlib.metadata.version(package) == pins[package], package


def test_every_peer_pairs_with_the_store_doing_the_same_job(side_by_side):
    django = {pair.authdemo.store: pair for pair in side_by_side["pairs"] if pair.framework == "django"}
    assert {store: pair.peer.store for store, pair in django.items()} == PAIRED
    assert django["redis"].peer.server is not django["redis"].authdemo.server  # each side its own redis-server
    assert {pair.peer.env["PEER_SESSION_ENGINE"] for pair in django.values()} == {"cache", "db", "signed_cookies"}
    flask = [pair for pair in side_by_side["pairs"] if pair.framework == "flask-session"]
    assert {(p.variant.session_type, p.variant.change): p.authdemo.store for p in flask} == FLASK_PAIRED
    for pair in flask:
        assert pair.peer.env["PEER_SESSION_TYPE"] == pair.variant.session_type
        assert pair.peer.env.get("PEER_CHANGE", "") == pair.variant.change  # one change at most
        assert pair.workers == ((1, 2) if pair.variant.stock else (1,))
        if pair.peer.server is not None:
            assert pair.peer.server is not pair.authdemo.server


def test_django_rows_exist_without_errors(side_by_side):
    by_store = {(scenario, store): row for (scenario, store, _), row in _rows(side_by_side, "django").items()}
    assert set(by_store) == {("baseline", "none")} | {("protected_page", store) for store in PAIRED.values()}
    for key, row in by_store.items():
        assert row["mode"] == "django" and row["workers"] == 1, key
        assert set(row) >= {"requests_per_s", "p50_ms", "p99_ms", "errors", "ratio_to_baseline", "paired_store"}
        assert row["errors"] == 0 and row["requests"] > 0 and row["requests_per_s"] > 0, (key, row)
        assert 0 < row["p50_ms"] <= row["p99_ms"], (key, row)
    assert by_store[("protected_page", "cache (redis)")]["engine"] == "cache"
    assert not _rows(side_by_side, "django", workers=2)  # Django is measured with one worker


def test_flask_session_rows_for_every_setup_shaped_like_the_django_rows(side_by_side):
    one = _rows(side_by_side, "flask-session")
    assert set(one) == {("baseline", "none", "")} | {("protected_page", *key) for key in FLASK_PAIRED}
    django_shape = set(_rows(side_by_side, "django")[("protected_page", "db (sqlite)", "")])
    for key, row in one.items():
        assert set(row) >= django_shape, key
        assert row["framework"] == row["mode"] == "flask-session" and row["workers"] == 1, key
        # One worker holds every session: nothing may be refused, on any store.
        assert row["errors"] == 0 and row["requests"] > 0 and row["served_per_s"] > 0, (key, row)
        if key[0] == "protected_page":
            assert row["session_type"] == key[1] and row["change"] == key[2]
            assert row["variant"] == flask_peer.CHANGE_LABELS[key[2]]
            assert row["paired_store"] == next(
                pair.authdemo.label for pair in side_by_side["pairs"] if pair.peer.store == key[1]
            )


def test_two_workers_measure_the_stock_setups_and_count_refusals_apart(side_by_side):
    two = _rows(side_by_side, "flask-session", workers=2)
    stock = {("protected_page", session_type, "") for session_type, change in FLASK_PAIRED if not change}
    assert set(two) == {("baseline", "none", "")} | stock
    for row in two.values():
        assert row["served_per_s"] == pytest.approx(row["requests_per_s"] * (1 - row["error_rate"]))
        assert row["error_rate"] == pytest.approx(row["errors"] / row["requests"])
    for shared in ("redis", "memcached"):  # a store outside the processes: both know every session
        assert two[("protected_page", shared, "")]["errors"] == 0, two[("protected_page", shared, "")]
    authdemo_two = _rows(side_by_side, "authdemo", workers=2)
    assert {store for (scenario, store, _) in authdemo_two if scenario == "protected_page"} == {
        "memory",
        "redis",
        "memcached",
        "sqlalchemy",
    }


def test_authdemo_rows_measured_in_the_same_run(side_by_side):
    rows = _rows(side_by_side, "authdemo")
    assert {(scenario, store) for scenario, store, _ in rows} == {("baseline", "none")} | {
        ("protected_page", store) for store in STORES
    } | {("reports", store) for store in PAIRED}  # authdemo's full /reports against Django's smallest page
    assert all(row["errors"] == 0 and row["requests_per_s"] > 0 for row in rows.values()), rows
    # One round robin per worker setting: every target measured once per run, one progress step each,
    # and one step per Flask setup for its store-alone figures.
    one = 1 + 1 + 1 + len(STORES) + len(PAIRED) + len(FLASK_PAIRED) + len(PAIRED)  # + authdemo's /reports
    two = 1 + 1 + 4 + 4
    expected = one + two + len(FLASK_PAIRED)
    assert sum(side_by_side["steps"]) == peers.step_count(side_by_side["pairs"], side_by_side["settings"]) == expected


def test_ratios_are_reported_for_every_peer_row(side_by_side):
    rows = side_by_side["data"]["peers"]
    entries = {
        (entry["framework"], entry["workers"], entry["scenario"], entry["peer"]): entry
        for entry in side_by_side["data"]["peer_ratios"]
    }
    peer_rows = [row for row in rows if row["framework"] != "authdemo"]
    reports = {key: entry for key, entry in entries.items() if key[2] == "reports"}
    assert len(entries) == len(peer_rows) + len(reports) and len(reports) == len(PAIRED)
    for entry in reports.values():  # authdemo's full /reports ÷ Django's smallest protected page
        assert entry["target"] == peers.REPORTS_TARGET and entry["met"] is (entry["ratio"] >= peers.REPORTS_TARGET)
    for row in peer_rows:
        label = "baseline" if row["scenario"] == "baseline" else results.store_label(row)
        entry = entries[(row["framework"], row["workers"], row["scenario"], label)]
        assert entry["peer_requests_per_s"] == pytest.approx(row["served_per_s"])
        assert entry["ratio"] == pytest.approx(entry["authdemo_requests_per_s"] / entry["peer_requests_per_s"])
        assert entry["peer_error_rate"] == row["error_rate"]
        if row["framework"] == "django" and row["scenario"] == "protected_page":
            assert entry["target"] == peers.TARGET and entry["met"] is (entry["ratio"] >= peers.TARGET)
        else:
            assert entry["target"] is None and entry["met"] is None
    run = side_by_side["data"]["peer_run"]
    assert run["django"].startswith("5.2") and run["flask_session"].startswith("0.8") and run["runs"] == 1
    assert run["workers"] == [1, 2] and run["date"]


def test_the_stock_flask_peer_alone_writes_every_request_and_one_change_removes_what_it_names(side_by_side):
    store = {(row["session_type"], row["change"]): row for row in side_by_side["data"]["peer_store"]}
    assert set(store) == set(FLASK_PAIRED)
    for key, row in store.items():
        assert row["requests"] > 0 and row["load"]["ops"] == row["requests"], key
        assert row["store_reads_per_request"] == 1, key
        # Stock Flask-Session writes the session back on every request; only write_when_changed stops it.
        assert row["store_writes_per_request"] == (0 if key[1] == "write_when_changed" else 1), key
    # The user loader's SELECT everywhere; the sqlalchemy store adds a SELECT, and a SELECT + UPDATE to write back.
    assert {key: row["statements_per_request"] for key, row in store.items() if key[0] == "sqlalchemy"} == {
        ("sqlalchemy", ""): 4,
        ("sqlalchemy", "wal"): 4,
        ("sqlalchemy", "write_when_changed"): 2,
    }
    assert store[("redis", "")]["statements_per_request"] == 1
    cachelib = store[("cachelib", "")]
    assert cachelib["sessions_written"] == 1000 and cachelib["sessions_kept"] <= 501  # SimpleCache(threshold=500)


def test_every_process_is_stopped(side_by_side):
    # Django: one process per engine; Flask: one per setup with one worker, one per stock setup with two.
    assert len(side_by_side["started"]) == len(PAIRED) + len(FLASK_PAIRED) + 4
    assert side_by_side["running"] == [False] * len(side_by_side["started"])
    assert all(process.pid is None for process in side_by_side["started"])


def test_the_table_and_the_compare_page_show_every_store_side_by_side(side_by_side, tmp_path):
    data = side_by_side["data"]
    out = Console(record=True, width=200)
    out.print(report.peer_table(data["peer_ratios"]))
    out.print(report.peer_store_table(data["peer_store"]))
    text = out.export_text()
    assert "authdemo ÷ peer" in text and "signed_cookies" in text and "≥ 1.5" in text and "no_delay" in text
    assert "kept" in text and "of 1000 sessions" in text

    app = create_app(
        {
            "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "instance"),
            "AUTHDEMO_SECRET_KEY": SECRET,
            "AUTHDEMO_SESSION_BACKEND": "memory",
            "AUTHDEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'authdemo.db'}",
        }
    )
    try:
        results.update(results.results_dir(app.instance_path), data)
        html = app.test_client().get("/compare").get_data(as_text=True)
    finally:
        shutdown(app)
    assert "Against the peers a user would pick, per store" in html
    for pair in side_by_side["pairs"]:
        assert f"<h3>{pair.authdemo.label}</h3>" in html
    for setup in ("memcached, stock", "memcached, no_delay alone", "sqlalchemy, WAL alone", "cachelib, stock"):
        assert f'<td data-label="setup">{setup}</td>' in html
    for engine in PAIRED.values():
        assert f'<td data-label="setup">{engine} engine</td>' in html
    assert "Nagle" in html and "SESSION_REFRESH_EACH_REQUEST = False alone" in html


def test_django_login_over_http_and_a_read_writes_no_session(tmp_path):
    _require_django()
    with Lab() as lab:
        peer = peers.start_peer(lab, peers.peer_deployment(lab, peers.ENGINES[2]), threads=2)  # signed_cookies
        status, location, _, _ = _get(peer.url, peers.PATHS["protected_page"])
        assert status == 302 and location.startswith("/login/")
        with pytest.raises(LabError, match="POST /login/ answered 200"):
            peers.django_login(peer.url, password="wrong")
        cookies = peers.django_login(peer.url)
        assert "sessionid=" in cookies["Cookie"] and "csrftoken=" in cookies["Cookie"]
        status, _, set_cookie, body = _get(peer.url, peers.PATHS["protected_page"], cookies)
        assert (status, body, set_cookie) == (200, b"alice\n", None)
        status, _, set_cookie, body = _get(peer.url, peers.PATHS["baseline"])
        assert (status, body, set_cookie) == (200, b"ok\n", None)
    assert not peer.is_running()


@pytest.mark.parametrize(
    ("session_type", "change"),
    [("redis", ""), ("memcached", ""), ("sqlalchemy", ""), ("cachelib", ""), ("sqlalchemy", "write_when_changed")],
)
def test_flask_peer_logs_in_and_serves_the_protected_page_on_each_store(session_type, change):
    binary = {"redis": "redis-server", "memcached": "memcached"}.get(session_type)
    if binary:
        require(binary, binary)
    with Lab() as lab:
        peer = flask_peer.deployment(lab, flask_peer.Variant(session_type, change, ("", "")))
        process = flask_peer.start(lab, peer, workers=1, threads=2)
        status, location, _, _ = _get(process.url, flask_peer.PROTECTED)
        assert status == 302 and location.startswith("/login")
        with pytest.raises(LabError, match="POST /login answered 200"):
            flask_peer.login(process.url, password="wrong")
        cookies = flask_peer.login(process.url)
        assert cookies["Cookie"].startswith("session=")
        status, _, set_cookie, body = _get(process.url, flask_peer.PROTECTED, cookies)
        assert (status, body) == (200, b"alice\n")
        # Stock Flask-Session writes back (and re-sends the cookie) on a read; without the refresh it does neither.
        assert (set_cookie is None) is (change == "write_when_changed"), set_cookie
        status, _, set_cookie, body = _get(process.url, "/bench/baseline")
        assert (status, body, set_cookie) == (200, b"ok\n", None)
    assert not process.is_running()


def test_flask_peer_refuses_an_unknown_session_type(tmp_path):
    with pytest.raises(LabError, match="PEER_SESSION_TYPE='filesystem': choose from redis, memcached"):
        flask_peer._flask(flask_peer._env("filesystem", "", str(tmp_path)), "init-demo")


def test_without_django_the_lab_says_how_to_install_it(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    with pytest.raises(LabError, match="pip install -r bench/peers/requirements.txt"):
        peers.django_version()


def test_bench_passes_peers_through(monkeypatch, tmp_path):
    from authdemo.lab import runs

    calls = []
    monkeypatch.setattr(runs, "bench_run", lambda *args, **kwargs: calls.append((args, kwargs)))
    app = create_app(
        {
            "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "instance"),
            "AUTHDEMO_SECRET_KEY": SECRET,
            "AUTHDEMO_SESSION_BACKEND": "memory",
            "AUTHDEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'authdemo.db'}",
        }
    )
    try:
        runner = app.test_cli_runner()
        for args, expected in ((["--peers"], True), ([], False)):
            result = runner.invoke(args=["bench", "--backends", "redis,cookie", *args])
            assert result.exit_code == 0, result.output
            assert calls[-1][0][0] == ["redis", "cookie"] and calls[-1][1]["with_peers"] is expected
    finally:
        shutdown(app)
