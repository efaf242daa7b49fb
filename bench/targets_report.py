"""Print the bench's figures from results.json as Markdown: the targets, then CPU per request, p99 at a fixed rate.

    .venv/bin/python bench/targets_report.py [instance/results/results.json]

The same tables `make docs-figures` writes into docs/performance.md
(authdemo/lab/docs_figures.py), for a look at a run before filling the docs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from authdemo.lab.docs_figures import figure  # noqa: E402


def main() -> None:
    """Read results.json, print its date and four Markdown tables."""
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "instance/results/results.json")
    data = json.loads(path.read_text())
    print(figure(data, "bench-date") + "\n")
    for key in ("targets", "bench", "fixed-rate", "django"):
        print(figure(data, key))


if __name__ == "__main__":
    main()
