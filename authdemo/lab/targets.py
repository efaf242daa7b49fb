"""The bench's targets (issue 9): each one met or missed, from the figures of one run.

Benchmark targets, not tests: nothing asserts a time. A protected request ÷
the no-session baseline in the same run (one worker process, interleaved),
per store; a stateless token check ÷ the baseline; and authdemo ÷ Django 5.2
per like-for-like pair (``bench --peers``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .results import mode_store_label

#: (mode, store, variant, or None for any) → the protected page's ratio to the baseline it must reach.
RATIO_TARGETS: dict[tuple[str, str, str | None], float] = {
    ("session", "memory", ""): 0.80,  # not the "wire on" row: the targets are for AUTHDEMO_WIRE=off
    ("session", "cookie", None): 0.70,
    ("session", "redis", None): 0.65,
    ("session", "memcached", None): 0.65,
    ("session", "sqlalchemy", "SQLite"): 0.60,
    ("jwt", "sqlalchemy", None): 0.70,
    ("jwt", "redis", None): 0.70,
}
STATELESS_TARGET = 0.85
PEER_TARGET = 2.0
REPORTS_TARGET = 1.5


def _target_for(row: dict) -> float | None:
    for (mode, store, variant), target in RATIO_TARGETS.items():
        if row["mode"] == mode and row["store"] == store and variant in (None, row.get("variant") or ""):
            return target
    return None


def _entry(what: str, value: float | None, target: float, cpu_ms: float | None = None) -> dict:
    return {
        "what": what,
        "value": value,
        "target": target,
        "met": None if value is None else value >= target,
        "cpu_ms_per_request": cpu_ms,
    }


def evaluate(http_rows: Sequence[dict], peer_ratios: Sequence[dict] = ()) -> list[dict]:
    """One entry per target with a figure in this run: what, value, target, met."""
    entries = []
    for row in http_rows:
        if row.get("workers") != 1:
            continue
        if row["scenario"] == "protected_page":
            target = _target_for(row)
            if target is not None:
                entries.append(
                    _entry(
                        f"protected page ÷ baseline, {mode_store_label(row)}",
                        row.get("ratio_to_baseline"),
                        target,
                        row.get("cpu_ms_per_request"),
                    )
                )
        elif row["scenario"] == "stateless_token":
            entries.append(
                _entry(
                    f"stateless token check ÷ baseline, {mode_store_label(row)}",
                    row.get("ratio_to_baseline"),
                    STATELESS_TARGET,
                    row.get("cpu_ms_per_request"),
                )
            )
    for ratio in peer_ratios:
        if ratio.get("framework", "django") != "django" or ratio.get("workers", 1) != 1:
            continue
        peer = ratio.get("peer") or ratio.get("django")
        if ratio.get("scenario") == "protected_page":
            entries.append(_entry(f"authdemo ÷ Django, {ratio['authdemo']} ↔ {peer}", ratio.get("ratio"), PEER_TARGET))
        elif ratio.get("scenario") == "reports":
            entries.append(
                _entry(
                    f"authdemo /reports ÷ Django's smallest protected page, {ratio['authdemo']} ↔ {peer}",
                    ratio.get("ratio"),
                    REPORTS_TARGET,
                )
            )
    return entries
