"""Issue 9's bench targets: judged from the figures of one run, and shown on /compare."""

from __future__ import annotations

from authdemo import create_app
from authdemo.lab import results, targets
from tests.support import SECRET

ROWS = [
    {"workers": 1, "scenario": "baseline", "mode": "none", "store": "none", "variant": "", "ratio_to_baseline": 1.0},
    {
        "workers": 1,
        "scenario": "protected_page",
        "mode": "session",
        "store": "memory",
        "variant": "",
        "ratio_to_baseline": 0.9,
        "cpu_ms_per_request": 0.5,
    },
    {
        "workers": 1,
        "scenario": "protected_page",
        "mode": "session",
        "store": "memory",
        "variant": "wire on",
        "ratio_to_baseline": 0.5,
    },
    {
        "workers": 1,
        "scenario": "protected_page",
        "mode": "session",
        "store": "cookie",
        "variant": "",
        "ratio_to_baseline": 0.5,
    },
    {
        "workers": 1,
        "scenario": "stateless_token",
        "mode": "jwt",
        "store": "redis",
        "variant": "tokens, AOF",
        "ratio_to_baseline": 0.9,
    },
    {
        "workers": 2,
        "scenario": "protected_page",
        "mode": "session",
        "store": "redis",
        "variant": "",
        "ratio_to_baseline": 0.1,
    },
    {"workers": 1, "scenario": "fixed_rate", "mode": "session", "store": "memory", "variant": "", "p99_ms": 3.0},
]
RATIOS = [
    {
        "framework": "django",
        "workers": 1,
        "scenario": "protected_page",
        "authdemo": "redis",
        "peer": "cache",
        "ratio": 2.5,
    },
    {"framework": "django", "workers": 1, "scenario": "reports", "authdemo": "redis", "peer": "cache", "ratio": 1.2},
    {
        "framework": "flask",
        "workers": 1,
        "scenario": "protected_page",
        "authdemo": "redis",
        "peer": "redis",
        "ratio": 1.1,
    },
]


def test_each_target_is_met_or_missed_from_its_own_row():
    verdicts = {entry["what"]: (entry["target"], entry["met"]) for entry in targets.evaluate(ROWS, RATIOS)}
    assert verdicts == {
        "protected page ÷ baseline, session · memory": (0.80, True),  # the wire-on row is not judged
        "protected page ÷ baseline, session · cookie": (0.70, False),
        "stateless token check ÷ baseline, jwt · redis (tokens, AOF)": (0.85, True),
        "authdemo ÷ Django, redis ↔ cache": (2.0, True),
        "authdemo /reports ÷ Django's smallest protected page, redis ↔ cache": (1.5, False),
    }


def test_the_compare_page_shows_the_targets_and_rows_without_cpu_figures(tmp_path):
    instance = tmp_path / "instance"
    figures = {"requests_per_s": 100.0, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "error_rate": 0.0, "requests": 9}
    rows = [{**figures, **row} for row in ROWS]
    data = {"bench": rows, "targets": targets.evaluate(ROWS, RATIOS), "machine": {"date": "today", "cores": 2}}
    results.update(results.results_dir(instance), data)
    app = create_app({"AUTHDEMO_INSTANCE_PATH": str(instance), "AUTHDEMO_SECRET_KEY": SECRET})
    page = app.test_client().get("/compare")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="targets"' in html and html.count("<td>missed</td>") == 2 and html.count("<td>met</td>") == 3
