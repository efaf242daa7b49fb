"""bench --peers on small sizes: the Django peer starts for each session engine, logs in over HTTP, and is measured.

One side-by-side run per module (1 run × 1 s per figure, about half a minute):
real gunicorn processes for authdemo and for bench/peers/django_site, a
redis-server for each side. No test asserts a time, only that the rows and
ratios exist and nothing failed. Without Django the module is skipped
(pip install -r bench/peers/requirements.txt), or fails with
AUTHDEMO_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from http.client import HTTPConnection

import pytest
from rich.console import Console

from authdemo import create_app
from authdemo.lab import bench, peers, report, results
from authdemo.lab.deployments import Lab
from authdemo.lab.processes import LabError
from tests.conftest import SECRET, shutdown
from tests.servers import REQUIRE_ENV, require

PAIRED = {"redis": "cache (redis)", "sqlalchemy": "db (sqlite)", "cookie": "signed_cookies"}
pytestmark = pytest.mark.timeout(300)


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
    settings = bench.BenchSettings.choose(True, duration_s=1.0, runs=1)
    started: list = []
    steps: list[int] = []
    start_peer = peers.start_peer
    with pytest.MonkeyPatch.context() as patch, Lab() as lab:
        patch.setattr(peers, "start_peer", lambda *args: started.append(start_peer(*args)) or started[-1])
        lab.seeded_database()
        # memory has no Django peer: it must be left out, not fail.
        chosen = [bench.ROWS[name](lab) for name in ("memory", *PAIRED)]
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


def test_django_is_the_pinned_52():
    _require_django()
    pinned = next(
        line.split("==")[1]
        for line in (peers.ROOT / peers.REQUIREMENTS).read_text().splitlines()
        if line.startswith("Django==")
    )
    assert pinned.startswith("5.2.") and peers.django_version() == pinned


def test_every_engine_pairs_with_the_store_doing_the_same_job(side_by_side):
    pairs = {pair.authdemo.store: pair for pair in side_by_side["pairs"]}
    assert {store: pair.django.store for store, pair in pairs.items()} == PAIRED
    assert pairs["redis"].django.server is not pairs["redis"].authdemo.server  # each side its own redis-server
    assert {pair.django.env["PEER_SESSION_ENGINE"] for pair in pairs.values()} == {"cache", "db", "signed_cookies"}


def test_django_rows_exist_without_errors(side_by_side):
    rows = [row for row in side_by_side["data"]["peers"] if row["framework"] == "django"]
    by_store = {(row["scenario"], row["store"]): row for row in rows}
    assert set(by_store) == {("baseline", "none")} | {("protected_page", store) for store in PAIRED.values()}
    for key, row in by_store.items():
        assert row["mode"] == "django" and row["workers"] == 1, key
        assert set(row) >= {"requests_per_s", "p50_ms", "p99_ms", "errors", "ratio_to_baseline"}
        assert row["errors"] == 0 and row["requests"] > 0 and row["requests_per_s"] > 0, (key, row)
        assert 0 < row["p50_ms"] <= row["p99_ms"], (key, row)
    assert by_store[("protected_page", "cache (redis)")]["engine"] == "cache"


def test_authdemo_rows_measured_in_the_same_run(side_by_side):
    rows = [row for row in side_by_side["data"]["peers"] if row["framework"] == "authdemo"]
    assert {(row["scenario"], row["store"]) for row in rows} == {("baseline", "none")} | {
        ("protected_page", store) for store in PAIRED
    }
    assert all(row["errors"] == 0 and row["requests_per_s"] > 0 for row in rows), rows
    # One round robin: every target measured the same number of times, one progress step each.
    targets = 2 + 2 * len(PAIRED)
    assert sum(side_by_side["steps"]) == peers.step_count(side_by_side["pairs"], side_by_side["settings"]) == targets


def test_ratios_are_reported_for_every_pair(side_by_side):
    entries = {(entry["scenario"], entry["authdemo"]): entry for entry in side_by_side["data"]["peer_ratios"]}
    assert set(entries) == {("baseline", "baseline")} | {
        ("protected_page", pair.authdemo.label) for pair in side_by_side["pairs"]
    }
    for key, entry in entries.items():
        assert entry["ratio"] > 0, key
        assert entry["ratio"] == pytest.approx(entry["authdemo_requests_per_s"] / entry["django_requests_per_s"])
        assert entry["authdemo_errors"] == entry["django_errors"] == 0, key
        if key[0] == "baseline":
            assert entry["target"] is None and entry["met"] is None
        else:
            assert entry["target"] == peers.TARGET and entry["met"] is (entry["ratio"] >= peers.TARGET)
    run = side_by_side["data"]["peer_run"]
    assert run["django"].startswith("5.2") and run["runs"] == 1 and run["date"]


def test_every_process_is_stopped(side_by_side):
    assert len(side_by_side["started"]) == len(PAIRED)
    assert side_by_side["running"] == [False] * len(PAIRED)
    assert all(process.pid is None for process in side_by_side["started"])


def test_the_table_and_the_compare_page_show_the_ratios(side_by_side, tmp_path):
    data = side_by_side["data"]
    out = Console(record=True, width=160)
    out.print(report.peer_table(data["peer_ratios"]))
    text = out.export_text()
    assert "authdemo ÷ Django" in text and "signed_cookies" in text and "≥ 1.5" in text

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
    assert "Against Django 5.2, side by side" in html
    for entry in data["peer_ratios"]:
        assert f"<td>{entry['django']}</td>" in html
        assert f"<td>{entry['ratio']:.2f}</td>" in html


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
