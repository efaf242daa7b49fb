"""/compare with a results.json from a real ``bench --quick --peers`` and ``compare-restart`` run (tests/data/).

Every number is labelled and fits: microseconds read µs, every chart row
has a bar, the two-worker memory bar counts only what was served, each
row's "why" is its own, the empty state names a command that works, and
the page has no horizontal overflow at 1280 px or at 390 px in headless
Chromium (screenshots kept in the test's tmp_path).
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from authdemo import create_app
from authdemo.lab import charts, results, views
from tests.support import SECRET, shutdown

FIXTURE = Path(__file__).with_name("data") / "compare_results.json"
WIDTHS = (1280, 390)


def _data() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture
def compare_app(tmp_path):
    """The app with the fixture's results and the charts drawn from them in its instance folder."""
    instance = tmp_path / "instance"
    out = results.results_dir(instance)
    out.mkdir(parents=True)
    shutil.copy(FIXTURE, out / results.RESULTS_FILE)
    data = _data()
    charts.bench_charts(data, out)
    charts.restart_matrix(data["restart"], data["restart_run"]["events"], out)
    app = create_app(
        {
            "AUTHDEMO_INSTANCE_PATH": str(instance),
            "AUTHDEMO_SECRET_KEY": SECRET,
            "AUTHDEMO_SESSION_BACKEND": "memory",
            "AUTHDEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'authdemo.db'}",
        }
    )
    yield app
    shutdown(app)


@pytest.fixture
def empty_app(tmp_path):
    app = create_app(
        {
            "AUTHDEMO_INSTANCE_PATH": str(tmp_path / "instance"),
            "AUTHDEMO_SECRET_KEY": SECRET,
            "AUTHDEMO_SESSION_BACKEND": "memory",
            "AUTHDEMO_DATABASE_URL": f"sqlite:///{tmp_path / 'authdemo.db'}",
        }
    )
    yield app
    shutdown(app)


def _headers(html: str, section: str) -> list[str]:
    part = html.split(f'id="{section}"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<th>([^<]*)</th>", part)


def test_the_fixture_is_a_whole_bench_with_peers_and_a_restart_matrix():
    data = _data()
    assert {"bench", "bench_store", "bench_scale", "peers", "peer_ratios", "peer_store", "restart"} <= set(data)
    frameworks = {row["framework"] for row in data["peers"]}
    assert frameworks == {"authdemo", "flask-session", "django"}


def test_microseconds_are_labelled_us_and_never_uppercased_into_ms(compare_app):
    html = compare_app.test_client().get("/compare").get_data(as_text=True)
    for section in ("store", "scale"):
        headers = _headers(html, section)
        assert "p50 µs" in headers and "p99 µs" in headers, headers
        assert not [h for h in headers if "ms" in h.lower()], headers
    css = (Path(compare_app.static_folder) / "css" / "compare.css").read_text()
    assert ".card th { text-transform: none; }" in css  # site.css's uppercase would turn µs into ΜS


def test_each_restart_row_says_what_is_true_of_that_row(compare_app):
    html = compare_app.test_client().get("/compare").get_data(as_text=True)
    matrix = html.split('id="restart"', 1)[1].split("</table>", 1)[0]
    whys = re.findall(r'<td class="why">([^<]*)</td>', matrix)
    lines = views._matrix(_data()["restart"])
    assert len(whys) == len(lines)
    for line, why in zip(lines, whys, strict=True):
        assert why and why == views.restart_why(line["mode"], line["store"], line["variant"]).replace("'", "&#39;")
    jwt = [why for line, why in zip(lines, whys, strict=True) if line["mode"] == "jwt"]
    assert len(jwt) == len(set(jwt)) > 1  # one sentence per token store, not one repeated
    assert all(
        "app's own memory" not in why for line, why in zip(lines, whys, strict=True) if line["store"] != "memory"
    )
    redis = {
        line["variant"]: why
        for line, why in zip(lines, whys, strict=True)
        if line["mode"] == "session" and line["store"] == "redis"
    }
    if len(redis) == 2:
        assert redis["AOF"] != redis["no persistence"]


def test_every_peer_row_has_its_own_why_and_figures(compare_app):
    groups = views.peer_groups(_data())
    assert {group["store"] for group in groups} >= {"memcached", "memory", "redis (no persistence)"}
    for group in groups:
        assert group["lines"][0]["framework"] == "authdemo"
        whys = [line["why"] for line in group["lines"]]
        assert all(whys) and len(set(whys)) == len(whys), group["store"]
        for line in group["lines"][1:]:
            assert line["ratio"] > 0 and 1 in line["workers"]
    html = compare_app.test_client().get("/compare").get_data(as_text=True)
    assert html.count('<tr class="why-row">') == sum(len(group["lines"]) for group in groups)


def test_two_worker_bars_count_only_served_requests_with_the_refused_share_beside(monkeypatch, tmp_path):
    drawn = []
    monkeypatch.setattr(charts, "_save", lambda figure, path: drawn.append(figure) or path)
    rows = [row for row in _data()["bench"]]
    refused = [row for row in rows if row["errors"] and row["workers"] == 2]
    assert refused, "the fixture has a two-worker memory row with refusals"
    charts.http_bench(rows, tmp_path)
    panel = drawn[0].axes[-1]  # the two-worker panel
    widths = sorted(round(bar.get_width(), 6) for bar in panel.patches)
    for row in refused:
        served = row["requests_per_s"] * (1 - row["error_rate"])
        assert round(served, 6) in widths and round(row["requests_per_s"], 6) not in widths
    notes = [text.get_text() for text in panel.texts]
    assert any("refused" in note for note in notes)


def test_the_two_worker_table_counts_served_requests_with_the_refused_share_beside(compare_app):
    html = compare_app.test_client().get("/compare").get_data(as_text=True)
    bench = html.split('id="bench"', 1)[1].split("</section>", 1)[0]
    refused_rows = re.findall(r'<tr class="[^"]*refused">(.*?)</tr>', bench, re.S)
    data_rows = [row for row in _data()["bench"] if row["errors"]]
    assert len(refused_rows) == len(data_rows) > 0
    for cells, row in zip(refused_rows, data_rows, strict=True):
        values = re.findall(r"<td>([^<]*)</td>", cells)
        baseline = next(r for r in _data()["bench"] if r["scenario"] == "baseline" and r["workers"] == row["workers"])
        served = row["requests_per_s"] * (1 - row["error_rate"])
        assert values[2] == f"{served:.0f}"
        assert values[5].startswith(f"{row['error_rate'] * 100:.0f} %")
        ratio = served / baseline["requests_per_s"]
        assert values[6] == (f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3f}")


def test_every_store_alone_row_has_a_bar_jwt_included(monkeypatch, tmp_path):
    drawn = []
    monkeypatch.setattr(charts, "_save", lambda figure, path: drawn.append(figure) or path)
    rows = _data()["bench_store"]
    assert any(row["mode"] == "jwt" for row in rows)
    charts.store_ops(rows, tmp_path)
    axes = drawn[0].axes[0]
    centres = [bar.get_y() + bar.get_height() / 2 for bar in axes.patches]
    assert len(centres) == len(rows)
    for y, _ in enumerate(axes.get_yticklabels()):
        assert any(abs(centre - y) < 0.5 for centre in centres), y


def test_the_empty_state_names_commands_that_work(empty_app):
    html = empty_app.test_client().get("/compare").get_data(as_text=True)
    assert "No results yet" in html
    assert "make bench" in html and "make compare" in html
    assert ".venv/bin/flask --app app bench --quick" in html
    assert "\nflask --app app" not in html  # a bare flask is not on PATH after make run
    makefile = (Path(__file__).parent.parent / "Makefile").read_text()
    assert re.search(r"^bench:", makefile, re.M) and re.search(r"^compare:", makefile, re.M)


# -- in a real browser -----------------------------------------------------------------------------------------


@pytest.fixture
def served_compare(compare_app):
    server = make_server("127.0.0.1", 0, compare_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/compare"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS)
def test_compare_has_no_horizontal_overflow(chromium, served_compare, width, tmp_path):
    context = chromium.new_context(viewport={"width": width, "height": 900})
    try:
        context.set_default_timeout(5_000)
        page = context.new_page()
        page.goto(served_compare)
        page.wait_for_load_state("load")
        page.screenshot(path=str(tmp_path / f"compare-{width}.png"), full_page=True)
        scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert scroll_width <= inner_width, (scroll_width, inner_width)
        assert page.evaluate("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
        headers = page.evaluate("[...document.querySelectorAll('th')].map(th => th.innerText)")
        assert any("µs" in header for header in headers) and not any("ΜS" in h or "MS" in h for h in headers)
        if width == 1280:  # every table fits whole, with no scrolling of its own
            wide = page.evaluate(
                "[...document.querySelectorAll('.table-wrap')]"
                ".filter(wrap => wrap.scrollWidth > wrap.clientWidth).map(wrap => wrap.innerText.slice(0, 40))"
            )
            assert wide == []
    finally:
        context.close()
    assert (tmp_path / f"compare-{width}.png").stat().st_size > 10_000


# -- docs/peers.md's figures -----------------------------------------------------------------------------------


def test_every_figure_in_docs_peers_is_answered_by_a_bench_with_peers():
    from authdemo.lab import docs_figures

    docs = (Path(__file__).parent.parent / "docs" / "peers.md").read_text(encoding="utf-8")
    keys = [m.group("key") for m in docs_figures.INLINE.finditer(docs)]
    keys += [m.group("key") for m in docs_figures.BLOCK.finditer(docs)]
    assert len(keys) > 20
    data = _data()
    missing = [key for key in keys if docs_figures.figure(data, key) == docs_figures.MISSING]
    assert missing == []
    assert docs_figures.figure({}, "served flask-session memcached no_delay 1") == docs_figures.MISSING
    with pytest.raises(ValueError, match="unknown figure key"):
        docs_figures.figure(data, "speed of light")


def test_every_figure_in_docs_performance_is_a_known_key_answered_by_a_bench():
    """The bench tables of docs/performance.md come from results.json: known keys, filled from a bench's results."""
    from authdemo.lab import docs_figures

    docs = (Path(__file__).parent.parent / "docs" / "performance.md").read_text(encoding="utf-8")
    keys = [m.group("key") for m in docs_figures.BLOCK.finditer(docs)]
    keys += [m.group("key") for m in docs_figures.INLINE.finditer(docs)]
    assert {"targets", "bench", "fixed-rate", "django", "bench-date"} <= set(keys)
    data = _data()
    memory = "protected page ÷ baseline, session · memory"
    data["targets"] = [{"what": memory, "value": 0.9, "target": 0.8, "met": True}]
    fixed = {"scenario": "fixed_rate", "rate_per_s": 200, "p50_ms": 1.2, "p99_ms": 2.5, "errors": 0}
    data["bench"].append({**fixed, "mode": "session", "store": "memory", "variant": "", "workers": 1})
    filled = {key: docs_figures.figure(data, key) for key in keys}
    assert [key for key, text in filled.items() if text == docs_figures.MISSING] == []
    assert f"| {memory} | 0.90 | ≥ 0.8 | met |" in filled["targets"]
    assert "| session · memory | 1.20 | 2.50 | 0 |" in filled["fixed-rate"]
    assert "--quick --peers` of 2026-11-30 23:10 UTC on 2 cores" in filled["bench-date"]
    assert docs_figures.figure({}, "targets") == docs_figures.MISSING


def test_docs_figures_fills_the_marked_places_and_check_reports_stale_files(tmp_path):
    from authdemo.lab import docs_figures

    results_file = tmp_path / "results.json"
    shutil.copy(FIXTURE, results_file)
    page = tmp_path / "page.md"
    page.write_text("Stock: <!-- fig:load flask-session memcached - -->?<!-- /fig -->.\n", encoding="utf-8")
    arguments = ["--results", str(results_file), str(page)]
    assert docs_figures.main(["--check", *arguments]) == 1
    assert docs_figures.main(arguments) == 0
    text = page.read_text(encoding="utf-8")
    assert "?" not in text and re.search(r"-->[\d.]+ (ms|µs)<!-- /fig -->", text)
    assert docs_figures.main(["--check", *arguments]) == 0
