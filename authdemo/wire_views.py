"""/account/wire: this browser's last requests as a table, as JSON, and as sequence diagrams (SVG, no script)."""

from __future__ import annotations

import itertools
import re
from datetime import datetime

from flask import Blueprint, abort, current_app, jsonify, render_template
from markupsafe import Markup, escape

from .wire import ENTRIES_PER_BROWSER, browser_id, get_journal

bp = Blueprint("wire", __name__, url_prefix="/account")

#: The diagrams the page draws, each from the newest entry of its kind, in the order a visit goes.
DIAGRAMS = {
    "session": ("login", "protected request", "logout"),
    "jwt": ("login", "token issue", "protected request", "API call", "refresh", "reuse detection", "logout"),
}
DIAGRAM_TITLES = {
    "login": "Your last login",
    "token issue": "Your last token issue (POST /api/token)",
    "protected request": "Your last protected request",
    "API call": "Your last API call",
    "refresh": "Your last refresh",
    "reuse detection": "Your last refresh-token reuse (the login ended everywhere)",
    "logout": "Your last logout",
}


@bp.after_request
def _no_store(response):
    """The journal is this browser's own: no shared cache may keep it."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _entries() -> list[dict]:
    journal = get_journal()
    if journal is None:
        abort(404, description="The wire is off on this server (AUTHDEMO_WIRE=off, the production default).")
    return journal.entries(browser_id())


@bp.route("/wire.json")
def wire_json():
    """This browser's last requests, newest first, credentials masked."""
    return jsonify(entries=_entries(), limit=ENTRIES_PER_BROWSER)


@bp.route("/wire")
def wire():
    """This browser's last requests and sequence diagrams of its last login, page and logout."""
    entries = _entries()
    mode = current_app.extensions["authdemo_settings"].auth_mode
    diagrams = []
    for kind in DIAGRAMS[mode]:
        entry = next((e for e in entries if e["kind"] == kind), None)
        if entry is not None:
            diagrams.append({"kind": kind, "title": DIAGRAM_TITLES[kind], "entry": entry})
    database = database_label()
    for number, diagram in enumerate(diagrams):
        diagram["svg"] = sequence_svg(diagram["entry"], f"d{number}", database)
    return render_template(
        "account/wire.html",
        entries=entries,
        diagrams=diagrams,
        missing=[DIAGRAM_TITLES[k] for k in DIAGRAMS[mode] if k not in {d["kind"] for d in diagrams}],
        limit=ENTRIES_PER_BROWSER,
        clock=_clock,
    )


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%H:%M:%S.%f")[:-3]


def database_label() -> str:
    """The app database's engine, as people name it: SQLite, PostgreSQL…"""
    from .main import database_engine

    return database_engine()


# -- the sequence diagram -------------------------------------------------------------

LANE_WIDTH = 210
ROW = 30
SUBLINE = 14
TOP = 46


def _lanes(entry: dict, database: str) -> list[tuple[str, str]]:
    """(component, title) of each lifeline: Browser, Flask, then the stores in order of use, then the database."""
    lanes = [("browser", "Browser"), ("flask", "Flask")]
    seen = {"browser", "flask", "database"}
    for op in entry["operations"]:
        if op["component"] not in seen:
            seen.add(op["component"])
            lanes.append((op["component"], f"{op['component']} store"))
    if any(op["component"] == "database" for op in entry["operations"]) or not entry["operations"]:
        lanes.append(("database", f"database ({database})"))
    return lanes


def _short(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def sequence_svg(entry: dict, uid: str, database: str = "SQLite") -> Markup:
    """One request as a sequence diagram: Browser → Flask → store → database and back (inline SVG, CSS classes only)."""
    lanes = _lanes(entry, database)
    x = {component: 10 + LANE_WIDTH * i + LANE_WIDTH // 2 for i, (component, _) in enumerate(lanes)}
    parts: list[str] = []
    y = TOP + 24

    def text(tx: float, ty: float, content: str, cls: str, anchor: str = "start") -> None:
        parts.append(f'<text x="{tx:.0f}" y="{ty:.0f}" class="{cls}" text-anchor="{anchor}">{escape(content)}</text>')

    def arrow(src: str, dst: str, label: str, sublines=(), reply: bool = False) -> None:
        nonlocal y
        x1, x2 = x[src], x[dst]
        left = min(x1, x2)
        text(left + 6, y, _short(label), "seq-label seq-reply-label" if reply else "seq-label")
        line_cls = "seq-msg seq-reply" if reply else "seq-msg"
        parts.append(
            f'<line x1="{x1}" y1="{y + 6}" x2="{x2}" y2="{y + 6}" class="{line_cls}" marker-end="url(#head-{uid})"/>'
        )
        for i, sub in enumerate(sublines):
            text(left + 6, y + 6 + SUBLINE * (i + 1), _short(sub, 110), "seq-sub")
        y += ROW + SUBLINE * len(sublines)

    def self_note(label: str) -> None:
        nonlocal y
        fx = x["flask"]
        parts.append(f'<rect x="{fx - 4}" y="{y - 10}" width="8" height="18" class="seq-activation"/>')
        text(fx + 10, y + 4, _short(label), "seq-note")
        y += ROW - 6

    request_lines = [f"{name}: {_brief(value)}" for name, value in _header_lines(entry["request_headers"])]
    arrow("browser", "flask", f"{entry['method']} {entry['path']}", request_lines)
    for op in entry["operations"]:
        timing = f"{op.get('ms', 0):.2f} ms"
        result = op.get("result")
        if op["component"] == "flask":
            self_note(f"{op['op']} · {timing}" + (f" · {result}" if result else ""))
            continue
        arrow("flask", op["component"], op["op"])
        arrow(op["component"], "flask", f"{result} · {timing}" if result else timing, reply=True)
    response_lines = [f"{name}: {_brief(value)}" for name, value in _header_lines(entry["response_headers"])]
    arrow(
        "flask",
        "browser",
        f"{entry['status']}" + (f" ({entry['kind']})" if entry["kind"] != "other" else ""),
        response_lines,
        reply=True,
    )

    width = 20 + LANE_WIDTH * max(len(lanes), 4)  # room for the notes beside Flask
    height = y + 6
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="seq" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="title-{uid}">',
        f'<title id="title-{uid}">{escape(entry["method"])} {escape(entry["path"])} → {entry["status"]}</title>',
        f'<defs><marker id="head-{uid}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="seq-head"/></marker></defs>',
    ]
    for component, title in lanes:
        cx = x[component]
        head.append(f'<line x1="{cx}" y1="{TOP - 8}" x2="{cx}" y2="{height}" class="seq-lifeline"/>')
        head.append(
            f'<rect x="{cx - LANE_WIDTH // 2 + 8}" y="6" width="{LANE_WIDTH - 16}" height="30" rx="4" '
            f'class="seq-actor seq-actor-{_slug(component)}"/>'
        )
        label = escape(_short(title, 30))
        head.append(f'<text x="{cx}" y="26" class="seq-actor-label" text-anchor="middle">{label}</text>')
    return Markup("".join(itertools.chain(head, parts, ["</svg>"])))


def _brief(value: str) -> str:
    """A header for a diagram line: the Expires date dropped (Max-Age says the same, shorter)."""
    return EXPIRES.sub("", value)


EXPIRES = re.compile(r"; Expires=[^;]*")


def _header_lines(headers: dict):
    """(name, value) per line: several Set-Cookie headers, and each cookie of a Cookie header, on lines of their own."""
    for name, value in headers.items():
        for item in value if isinstance(value, list) else [value]:
            if name == "Cookie":
                yield from ((name, cookie) for cookie in item.split("; "))
            else:
                yield name, item


def _slug(component: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in component.split(" ")[0].lower())
