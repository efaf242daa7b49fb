"""Behind nginx: believe X-Forwarded-* from exactly the proxies in front of the app, and no one else.

X-Forwarded-For is a list every hop appends to, and its first entries come
from the client, who can write anything there. With ``AUTHDEMO_PROXY_HOPS=N``
werkzeug's ProxyFix takes the Nth value from the right, the one the last
trusted proxy wrote. Set it to the number of proxies that really sit in front
(1 for nginx → gunicorn), and only when the app cannot be reached around them:
a client talking to gunicorn directly could otherwise claim any address and
HTTPS. The default, 0, trusts no header at all.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .settings import Settings


def init_app(app: Flask, settings: Settings) -> None:
    """Wrap the WSGI app in ProxyFix for the configured hop count (nothing when 0)."""
    hops = settings.proxy_hops
    if not hops:
        return
    # For: the client address (sessions page, login rate limits, access log).
    # Proto: https, so cookies are Secure and CSRF checks the Referer strictly.
    # Host: the host and port the browser used, for redirects and the CSRF origin check.
    # Port and Prefix stay untrusted: nginx does not send them.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=0, x_prefix=0)
