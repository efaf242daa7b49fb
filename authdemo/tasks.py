"""The example resource behind /api/tasks: a short list kept inside the app process.

Demo data: tasks added through the API live as long as the process, are not
shared between app instances, and the list keeps at most MAX_ADDED of them
(the oldest added go first).
"""

from __future__ import annotations

import threading
import time
import unicodedata

MAX_ADDED = 100
TITLE_MAX = 200
SEED = (
    ("Rotate the JWT signing key", False),
    ("Run sessions purge from cron", True),
    ("Compare the stores with flask bench", False),
)


class TaskList:
    """The seed tasks plus the ones users added, behind one lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seed = [{"id": i, "title": title, "done": done} for i, (title, done) in enumerate(SEED, start=1)]
        self._added: list[dict] = []
        self._next_id = len(self._seed) + 1

    def all(self) -> list[dict]:
        """Every task, oldest first."""
        with self._lock:
            return [dict(task) for task in self._seed + self._added]

    def add(self, title: str, owner: str) -> dict:
        """Append a task (title already validated) and return it."""
        with self._lock:
            task = {"id": self._next_id, "title": title, "done": False, "owner": owner, "created": int(time.time())}
            self._next_id += 1
            self._added.append(task)
            del self._added[:-MAX_ADDED]
            return dict(task)


def clean_title(value: object) -> str | None:
    """The title to store (spaces collapsed, other unprintable characters shown as U+FFFD), or None.

    None when it is not a string, is over TITLE_MAX characters, holds a control
    character, or nothing but spaces: exactly what the OpenAPI document's
    pattern says (authdemo/openapi.py), so a title it allows is never refused.
    """
    if not isinstance(value, str) or len(value) > TITLE_MAX or any(unicodedata.category(c) == "Cc" for c in value):
        return None
    title = " ".join(value.split())
    title = "".join(char if char.isprintable() else "\ufffd" for char in title)
    return title or None
