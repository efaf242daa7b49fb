"""Entry point: ``flask --app app …`` and ``gunicorn app:app``."""

import sys

from authdemo import ConfigError, create_app

try:
    app = create_app()
except ConfigError as error:
    # One line naming the variable, exit status 2, no traceback.
    print(f"authdemo: configuration error: {error}", file=sys.stderr)
    raise SystemExit(2) from None
