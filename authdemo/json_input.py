"""JSON request bodies held to what every part of authdemo can store and answer: no 500 from a body.

Python's json module accepts what UTF-8, SQLite, PostgreSQL and Redis refuse
(a lone surrogate such as "\\ud800") and recurses once per nesting level (a
body 3,000 arrays deep raised RecursionError). Both now fail parsing with a
ValueError, so ``get_json(silent=True)`` gives None and ``get_json()`` a 400
saying why.
"""

from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 32  # a login body is 1 deep; no API body of authdemo is deeper than 3


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing bodies nested deeper than MAX_DEPTH or holding text that is not valid Unicode."""

    def loads(self, s, **kwargs):
        """Parse, then check depth and strings without recursion."""
        if isinstance(s, bytes | bytearray):
            s = s.decode("utf-8")  # a UnicodeDecodeError is a ValueError: 400
        if _opening_depth(s) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        value = super().loads(s, **kwargs)
        _check_strings(value)
        return value


def _opening_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings, found before the recursive parser sees it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                break
        elif char in "]}":
            depth -= 1
    return deepest


def _check_strings(value) -> None:
    """ValueError if a key or string holds a lone surrogate, which UTF-8 cannot encode."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds a lone UTF-16 surrogate, which is not text") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def init_app(app: Flask) -> None:
    """Use the strict provider for every request body this app reads."""
    app.json = StrictJSONProvider(app)
