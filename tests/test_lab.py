"""The comparison lab for real, on small sizes: the matrix is true, the bench's rows are sane, /compare shows them.

The two commands run once per module (about a minute and a half together):
they start their own redis-server, memcached, PostgreSQL and gunicorn
processes, exactly as a person running them would. No test asserts a time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from authdemo import create_app
from authdemo.harness.processes import ROOT
from authdemo.lab import results
from authdemo.lab.loadgen import percentile
from authdemo.lab.visitor import cookie_changes
from tests.servers import require
from tests.support import SECRET, Browser, shutdown

STORES = ["memory", "redis", "memcached", "sqlalchemy", "cookie"]
BENCHED = [("session", store) for store in STORES] + [("jwt", "sqlalchemy")]
EVENTS = ["app_restart", "store_restart", "secret_rotation", "second_instance", "revocation_after_restart"]
# What must come out, cell by cell (None: the event does not apply to that store). For the last
# event True means the logout held: a copy of the cookies from before it was still refused.
TRUTH = {
    ("session", "memory", ""): [False, None, True, False, True],
    ("session", "redis", "AOF"): [True, True, True, True, True],
    ("session", "redis", "no persistence"): [True, False, True, True, True],
    ("session", "memcached", ""): [True, False, True, True, True],
    ("session", "sqlalchemy", "PostgreSQL"): [True, True, True, True, True],
    ("session", "cookie", ""): [True, None, False, True, True],
    # A JWT outlives every restart but the key's; a revocation outlives a restart only outside the app.
    ("jwt", "memory", "tokens"): [True, None, False, True, False],
    ("jwt", "redis", "tokens, AOF"): [True, True, False, True, True],
    ("jwt", "memcached", "tokens"): [True, True, False, True, True],
    ("jwt", "sqlalchemy", "tokens, SQLite"): [True, None, False, True, True],
}
TINY_BENCH = ["--backends", "memory,redis,memcached,sqlalchemy,cookie,jwt"]
TINY_BENCH += ["--duration", "1", "--runs", "1", "--ops", "100", "--sizes", "100,1000"]
TINY_BENCH += ["--lookups", "50", "--memory-sessions", "500"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The module's fixture runs both real commands once: more than the suite's default per-test timeout.
pytestmark = pytest.mark.timeout(600)


def _require_servers() -> None:
    require("redis-server", "redis-server")
    require("memcached", "memcached")
    require("postgres", "postgresql")


def _lab_app(instance: Path):
    return create_app(
        {
            "AUTHDEMO_INSTANCE_PATH": str(instance),
            "AUTHDEMO_SECRET_KEY": SECRET,
            "AUTHDEMO_SESSION_BACKEND": "memory",
            "AUTHDEMO_DATABASE_URL": f"sqlite:///{instance / 'authdemo.db'}",
        }
    )


@pytest.fixture(scope="module")
def lab_app(tmp_path_factory):
    """An app whose instance/results/ the module's lab runs fill."""
    _require_servers()
    app = _lab_app(tmp_path_factory.mktemp("lab") / "instance")
    app.config["TESTING"] = True
    yield app
    shutdown(app)


@pytest.fixture(scope="module")
def lab_results(lab_app):
    """compare-restart, then a tiny bench, through the real commands into the app's instance/results/."""
    runner = lab_app.test_cli_runner()
    restart = runner.invoke(args=["compare-restart"])
    assert restart.exit_code == 0, restart.output
    bench = runner.invoke(args=["bench", *TINY_BENCH])
    assert bench.exit_code == 0, bench.output
    out = results.results_dir(lab_app.instance_path)
    return {"data": results.load(out), "out": out, "output": restart.output + bench.output}


# -- the restart matrix ------------------------------------------------------------------


def test_restart_matrix_is_the_truth(lab_results):
    rows = lab_results["data"]["restart"]
    measured: dict[tuple[str, str, str], dict[str, bool | None]] = {}
    for row in rows:
        assert set(row) >= {"mode", "store", "event", "survived", "detail"}
        assert row["mode"] in ("session", "jwt") and row["detail"]
        measured.setdefault((row["mode"], row["store"], row["variant"]), {})[row["event"]] = row["survived"]
    assert {key: [cells[event] for event in EVENTS] for key, cells in measured.items()} == TRUTH


def test_restart_table_is_printed(lab_results):
    output = lab_results["output"]
    assert "Still logged in after" in output
    assert "redis (no persistence)" in output and "sqlalchemy (PostgreSQL)" in output


# -- the bench ---------------------------------------------------------------------------


def _bench_rows(data, scenario, workers=1):
    rows = [row for row in data["bench"] if row["scenario"] == scenario and row["workers"] == workers]
    return {(row["mode"], row["store"]) if row["mode"] != "none" else "none": row for row in rows}


def test_bench_has_a_baseline_per_server_setting(lab_results):
    data = lab_results["data"]
    for workers in (1, 2):
        baseline = _bench_rows(data, "baseline", workers)["none"]
        assert baseline["errors"] == 0 and baseline["requests_per_s"] > 0
        assert baseline["ratio_to_baseline"] == pytest.approx(1.0)


@pytest.mark.parametrize("scenario", ["protected_page", "session_write", "login"])
def test_bench_rows_for_every_store_without_errors(lab_results, scenario):
    rows = _bench_rows(lab_results["data"], scenario)
    baseline_rps = _bench_rows(lab_results["data"], "baseline")["none"]["requests_per_s"]
    assert sorted(rows) == sorted(BENCHED)
    for store, row in rows.items():
        assert set(row) >= {"mode", "store", "scenario", "requests_per_s", "p50_ms", "p99_ms", "errors"}
        assert row["errors"] == 0, (store, row)
        assert row["requests"] > 0
        assert 0 < row["p50_ms"] <= row["p99_ms"]
        # The ratio is computed; whether it is plausible is a timing, which the bench's own table flags.
        assert row["ratio_to_baseline"] == pytest.approx(row["requests_per_s"] / baseline_rps), (store, row)


def test_two_processes_share_every_store_but_memory(lab_results):
    rows = _bench_rows(lab_results["data"], "protected_page", workers=2)
    assert sorted(rows) == sorted(BENCHED)
    for key in BENCHED[1:]:
        assert rows[key]["errors"] == 0, rows[key]
    # Which process each kept-alive connection reaches is the kernel's choice; the row must exist
    # and count redirects to /login as errors (the restart matrix checks "not shared" exactly).
    assert "error_rate" in rows[("session", "memory")]


def test_store_alone_scale_and_memory(lab_results):
    data = lab_results["data"]
    ops = {(row["mode"], row["store"], row["operation"]) for row in data["bench_store"]}
    expected = {("session", store, operation) for store in STORES for operation in ("load", "save")}
    expected |= {("jwt", "sqlalchemy", op) for op in ("verify signature", "verify + revocation check")}
    assert ops == expected
    for row in data["bench_store"]:
        assert 0 < row["p50_us"] <= row["p99_us"]
    scaled = {(row["store"], row["sessions"]) for row in data["bench_scale"] if "p50_us" in row}
    assert scaled == {(store, size) for store in ("memory", "redis", "memcached", "sqlalchemy") for size in (100, 1000)}
    assert {row["store"] for row in data["bench_scale"] if "skipped" in row} == {"cookie"}
    memory = {row["store"]: row for row in data["bench_memory"]}
    assert set(memory) == {"memory", "redis", "memcached"}
    assert all(row["bytes_per_session"] > 100 for row in memory.values())


def test_bench_records_machine_and_settings_and_keeps_the_restart_matrix(lab_results):
    data = lab_results["data"]
    assert data["restart"], "the bench must keep what compare-restart wrote"
    assert data["machine"]["cores"] >= 1 and data["machine"]["redis"] and data["machine"]["date"]
    assert data["settings"]["runs"] == 1 and data["settings"]["scale_sizes"] == [100, 1000]


def test_charts_are_pngs_drawn_by_matplotlib(lab_results):
    for name in ("restart", "bench_http", "bench_store", "bench_scale"):
        content = (lab_results["out"] / f"{name}.png").read_bytes()
        assert content.startswith(PNG_SIGNATURE), name
        assert b"Software" in content and b"matplotlib" in content, name


# -- the page ------------------------------------------------------------------------------


def test_compare_page_shows_the_results(lab_app, lab_results):
    client = lab_app.test_client()
    page = client.get("/compare")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "No results yet" not in html
    survived = [row["survived"] for row in lab_results["data"]["restart"]]
    assert html.count('class="cell lost"') == survived.count(False)
    assert html.count('class="cell kept"') == survived.count(True)
    assert "redis (AOF)" in html and "Memcached keeps nothing on" in html
    assert "only as durable as its secret" in html
    assert lab_results["data"]["machine"]["date"] in html
    for name in ("restart", "bench_http", "bench_store", "bench_scale"):
        assert f'src="/compare/{name}.png"' in html
        chart = client.get(f"/compare/{name}.png")
        assert chart.status_code == 200 and chart.mimetype == "image/png"
        assert chart.get_data().startswith(PNG_SIGNATURE)
        chart.close()


def test_compare_page_without_results_says_how_to_get_them(make_app):
    html = make_app("memory").test_client().get("/compare").get_data(as_text=True)
    assert "No results yet" in html
    assert "flask --app app compare-restart" in html and "flask --app app bench --quick" in html


def test_compare_page_serves_only_its_charts(make_app):
    client = make_app("memory").test_client()
    assert client.get("/compare/results.png").status_code == 404
    assert client.get("/compare/..%2Fsecret_key.png").status_code == 404
    assert client.get("/compare/restart.png").status_code == 404  # not drawn yet


def test_the_page_path_imports_no_lab_code(tmp_path):
    """Serving /compare must not load matplotlib, rich or the measuring code."""
    code = (
        "import json, sys; from app import app; assert app.test_client().get('/compare').status_code == 200; "
        "print(json.dumps([m for m in sys.modules if m.startswith(('matplotlib', 'rich', 'authdemo.lab.'))]))"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("AUTHDEMO_")}
    env.update(AUTHDEMO_INSTANCE_PATH=str(tmp_path), AUTHDEMO_SECRET_KEY=SECRET)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(result.stdout))
    measuring = {"bench", "charts", "deployments", "loadgen", "processes", "report", "restart", "runs", "storebench"}
    assert not loaded & {f"authdemo.lab.{name}" for name in measuring}
    assert not [name for name in loaded if name.startswith(("matplotlib", "rich"))]
    assert "authdemo.lab.views" in loaded


# -- the bench routes ----------------------------------------------------------------------


def test_bench_routes_are_absent_from_a_default_app(make_app):
    client = make_app("memory").test_client()
    for path in ("/bench/baseline", "/bench/protected", "/bench/session-write"):
        assert client.get(path).status_code == 404, path


def test_bench_routes(make_app):
    app = make_app("memory", AUTHDEMO_LAB_ROUTES="1", AUTHDEMO_WIRE="off")  # as the lab's deployments run
    browser = Browser(app)
    baseline = browser.client.get("/bench/baseline")
    assert baseline.status_code == 200 and "Set-Cookie" not in baseline.headers
    assert browser.client.get("/bench/protected").status_code == 302
    browser.login("alice")
    assert browser.client.get("/bench/protected").get_data(as_text=True) == "alice\n"
    counts = [browser.client.get("/bench/session-write").get_data(as_text=True) for _ in range(3)]
    assert counts == ["1\n", "2\n", "3\n"]


# -- small pieces --------------------------------------------------------------------------


def test_results_keep_the_other_commands_keys(tmp_path):
    results.update(tmp_path, {"bench": [{"scenario": "baseline"}], "machine": {"cores": 2}})
    results.update(tmp_path, {"restart": [{"event": "app_restart"}]})
    data = results.load(tmp_path)
    assert data["bench"] == [{"scenario": "baseline"}] and data["restart"] == [{"event": "app_restart"}]
    assert results.load(tmp_path / "missing") == {}
    (tmp_path / results.RESULTS_FILE).write_text("{not json")
    assert results.load(tmp_path) == {}


def test_cookie_changes_and_percentiles():
    headers = ["a=1; HttpOnly; Path=/", "b=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/"]
    assert cookie_changes(headers) == {"a": "1", "b": None}
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 0.5) == 50 and percentile(values, 0.99) == 99 and percentile([], 0.5) == 0


def test_unknown_backend_is_refused(make_app):
    result = make_app("memory").test_cli_runner().invoke(args=["compare-restart", "--backends", "memory,mongo"])
    assert result.exit_code == 2 and "mongo" in result.output


# -- every process stopped, also on Ctrl-C and SIGTERM --------------------------------------------


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process tree from /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_stops_every_process_it_started(tmp_path, signum):
    require("redis-server", "redis-server")
    env = {key: value for key, value in os.environ.items() if not key.startswith("AUTHDEMO_")}
    env.update(AUTHDEMO_INSTANCE_PATH=str(tmp_path / "instance"), AUTHDEMO_SECRET_KEY=SECRET)
    command = [sys.executable, "-m", "flask", "--app", "app", "compare-restart", "--backends", "redis"]
    command += ["--out", str(tmp_path / "out")]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            started |= _descendants(proc.pid)
            if any("gunicorn" in _cmdline(pid) for pid in started) and any(
                "redis-server" in _cmdline(pid) for pid in started
            ):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the run never had gunicorn and redis-server running")
        started |= _descendants(proc.pid)
        proc.send_signal(signum)
        assert proc.wait(60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, started)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [(pid, _cmdline(pid)) for pid in started if _alive(pid)]
    assert not (tmp_path / "out" / "results.json").exists()


def test_results_json_is_valid_json_for_other_tools(lab_results):
    text = (lab_results["out"] / results.RESULTS_FILE).read_text()
    assert json.loads(text) == lab_results["data"]


def test_replayed_credentials_are_no_older_than_a_browsers():
    """The bench logs in again before a measurement would end past FRESH_FOR_S, and only then."""
    from authdemo.lab.bench import FRESH_FOR_S, Credentials

    logins = []
    credentials = Credentials(lambda: logins.append(1) or {"Cookie": f"login {len(logins)}"})
    assert credentials.for_seconds(2) == {"Cookie": "login 1"}
    assert credentials.for_seconds(2) == {"Cookie": "login 1"}  # still fresh: the same login
    assert credentials.for_seconds(FRESH_FOR_S + 1) == {"Cookie": "login 2"}  # would end stale: a new one
    assert len(logins) == 2
