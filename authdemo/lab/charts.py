"""PNG charts of the lab's results, drawn with matplotlib's Agg backend (no display needed).

Only the lab commands import this module; /compare serves the files it wrote.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first

from .results import store_label  # noqa: E402

KEPT, LOST, NOT_APPLICABLE = "#a6e3b8", "#f7b4ae", "#e4e7ec"
STORE_COLOURS = ["#2457c5", "#d97706", "#067647", "#b42318", "#7c3aed", "#0e7490", "#6b7280"]
SCENARIO_COLOURS = {
    "protected_page": "#2457c5",
    "stateless_token": "#0f766e",
    "session_write": "#d97706",
    "login": "#b42318",
}


def _save(figure, path: Path) -> Path:
    figure.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": f"matplotlib {matplotlib.__version__}"})
    plt.close(figure)
    return path


def restart_matrix(rows: list[dict], events: list[str], out: Path) -> Path:
    """The restart matrix as coloured cells: kept, lost, or not applicable."""
    labels = list(dict.fromkeys(store_label(row) for row in rows))
    cells = {(store_label(row), row["event"]): row["survived"] for row in rows}
    figure, axes = plt.subplots(figsize=(2.0 + 1.9 * len(events), 0.9 + 0.5 * len(labels)))
    for y, label in enumerate(labels):
        for x, event in enumerate(events):
            survived = cells.get((label, event))
            colour, text = {True: (KEPT, "kept"), False: (LOST, "lost")}.get(survived, (NOT_APPLICABLE, "n/a"))
            axes.add_patch(plt.Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white", linewidth=2))
            axes.text(x + 0.5, y + 0.5, text, ha="center", va="center", fontsize=10)
    axes.set_xlim(0, len(events))
    axes.set_ylim(len(labels), 0)
    axes.set_xticks([x + 0.5 for x in range(len(events))], [event.replace("_", " ") for event in events])
    axes.set_yticks([y + 0.5 for y in range(len(labels))], labels)
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title("Still logged in after…", pad=28)
    return _save(figure, out / "restart.png")


def http_bench(rows: list[dict], out: Path) -> Path:
    """Requests per second per store and scenario, one panel per worker setting, the baseline as a line."""
    runs = sorted({row["workers"] for row in rows})
    figure, panels = plt.subplots(len(runs), 1, figsize=(9, 1.5 + 2.6 * len(runs)), squeeze=False)
    for axes, workers in zip(panels[:, 0], runs, strict=True):
        run = [row for row in rows if row["workers"] == workers]
        baseline = next((row for row in run if row["scenario"] == "baseline"), None)
        stores = list(
            dict.fromkeys(
                store_label(row) for row in run if row["scenario"] != "baseline" and row["scenario"] in SCENARIO_COLOURS
            )
        )
        scenarios = [s for s in SCENARIO_COLOURS if any(row["scenario"] == s for row in run)]
        height = 0.8 / max(1, len(scenarios))
        baseline_served = baseline["requests_per_s"] * (1 - baseline.get("error_rate", 0.0)) if baseline else 0.0
        for i, scenario in enumerate(scenarios):
            for y, store in enumerate(stores):
                row = next((r for r in run if r["scenario"] == scenario and store_label(r) == store), None)
                if row is None:
                    continue
                position = y + (i - (len(scenarios) - 1) / 2) * height
                served = row["requests_per_s"] * (1 - row.get("error_rate", 0.0))  # a refusal is no service
                axes.barh(
                    position,
                    served,
                    height,
                    color=SCENARIO_COLOURS[scenario],
                    label=scenario.replace("_", " ") if y == 0 else None,
                )
                ratio = served / baseline_served if baseline_served else None
                note = "" if ratio is None else f" ×{ratio:.2f}" if ratio >= 0.1 else f" ×{ratio:.3f}"
                if row["errors"]:
                    note += f"  + {row['error_rate']:.0%} refused"
                axes.text(served, position, note, va="center", fontsize=8)
        if baseline:
            axes.axvline(
                baseline["requests_per_s"],
                color="#1d2330",
                linestyle="--",
                linewidth=1,
                label=f"baseline {baseline['requests_per_s']:.0f}/s",
            )
        axes.set_yticks(range(len(stores)), stores)
        axes.invert_yaxis()
        axes.set_xlabel("requests served per second (median of runs)")
        axes.set_title(f"gunicorn, {workers} worker process{'es' if workers > 1 else ''}")
        axes.legend(loc="lower right", fontsize=8)
        axes.margins(x=0.25)
    figure.tight_layout()
    return _save(figure, out / "bench_http.png")


#: Bar colours of the store-alone chart: sessions load and save, a JWT row verifies.
OPERATION_COLOURS = {
    "load": "#2457c5",
    "save": "#d97706",
    "verify signature": "#067647",
    "verify + revocation check": "#7c3aed",
}


def store_ops(rows: list[dict], out: Path) -> Path:
    """µs per operation through each store object (load and save; a JWT row's checks): p50 bars, p99 a tick."""
    stores = list(dict.fromkeys(store_label(row) for row in rows))
    figure, axes = plt.subplots(figsize=(9, 1.2 + 0.6 * len(stores)))
    labelled: set[str] = set()
    for y, store in enumerate(stores):
        measured = [row for row in rows if store_label(row) == store]  # every row of a store gets its own bar
        height = 0.8 / len(measured)
        for i, row in enumerate(measured):
            operation = row["operation"]
            position = y + (i - (len(measured) - 1) / 2) * height
            colour = OPERATION_COLOURS.get(operation, "#6b7280")
            label = f"{operation} p50" if operation not in labelled else None
            labelled.add(operation)
            axes.barh(position, row["p50_us"], height, color=colour, label=label)
            axes.plot(
                row["p99_us"],
                position,
                marker="|",
                markersize=12,
                color="#1d2330",
                label="p99" if "p99" not in labelled else None,
            )
            labelled.add("p99")
    axes.set_xscale("log")
    axes.set_yticks(range(len(stores)), stores)
    axes.invert_yaxis()
    axes.set_xlabel("µs per operation (log scale)")
    axes.set_title("The store alone, without HTTP")
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, out / "bench_store.png")


def scale(rows: list[dict], out: Path) -> Path:
    """Lookup p50 against the number of sessions stored, one line per store."""
    measured = [row for row in rows if "p50_us" in row]
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for colour, store in zip(STORE_COLOURS, dict.fromkeys(store_label(row) for row in measured), strict=False):
        points = sorted((r["sessions"], r["p50_us"]) for r in measured if store_label(r) == store)
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", color=colour, label=store)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("sessions stored")
    axes.set_ylabel("µs per lookup, p50 (log scale)")
    axes.set_title("Lookups as the store fills up")
    axes.legend(fontsize=8)
    axes.grid(True, which="major", alpha=0.3)
    return _save(figure, out / "bench_scale.png")


FRAMEWORK_COLOURS = {"authdemo": "#2457c5", "flask-session": "#d97706", "django": "#067647"}


def peers(rows: list[dict], out: Path) -> Path:
    """Requests served per second with one worker, per store: authdemo, then each peer's setup, one bar each."""
    measured = [row for row in rows if row["scenario"] == "protected_page" and row["workers"] == 1]
    groups = list(dict.fromkeys(row["paired_store"] for row in measured))
    order = {"authdemo": 0, "flask-session": 1, "django": 2}
    lines: list[tuple[str, dict]] = []
    for group in groups:
        members = [row for row in measured if row["paired_store"] == group]
        members.sort(key=lambda row: order.get(row["framework"], 3))
        lines += [(f"{r['framework']}: {store_label(r)}", r) for r in members]
    figure, axes = plt.subplots(figsize=(9, 1.2 + 0.32 * len(lines)))
    labelled: set[str] = set()
    for y, (_, row) in enumerate(lines):
        served = row["requests_per_s"] * (1 - row.get("error_rate", 0.0))
        framework = row["framework"]
        axes.barh(
            y,
            served,
            0.7,
            color=FRAMEWORK_COLOURS.get(framework, "#6b7280"),
            label=framework if framework not in labelled else None,
        )
        labelled.add(framework)
        axes.text(served, y, f" {served:.0f}", va="center", fontsize=8)
    axes.set_yticks(range(len(lines)), [label for label, _ in lines], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("requests served per second, 1 worker (median of runs)")
    axes.set_title("The same protected page: authdemo and its peers, per store")
    axes.legend(loc="lower right", fontsize=8)
    axes.margins(x=0.15)
    return _save(figure, out / "bench_peers.png")


def bench_charts(data: dict, out: Path) -> list[Path]:
    """Every bench chart for which there are figures."""
    drawn = []
    if data.get("bench"):
        drawn.append(http_bench(data["bench"], out))
    if data.get("bench_store"):
        drawn.append(store_ops(data["bench_store"], out))
    if any("p50_us" in row for row in data.get("bench_scale", [])):
        drawn.append(scale(data["bench_scale"], out))
    if any(row.get("paired_store") for row in data.get("peers", [])):
        drawn.append(peers(data["peers"], out))
    return drawn
