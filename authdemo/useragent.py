"""Readable browser names ("Chrome 131 on Linux") from User-Agent strings, by the ua-parser library."""

from __future__ import annotations

from functools import lru_cache

from flask import Flask


@lru_cache(maxsize=1024)
def browser_name(user_agent: str | None) -> str:
    """ "Chrome 131 on Linux", "curl 8.5", or "unknown browser"; a page lists a few, each parsed once."""
    if not user_agent:
        return "unknown browser"
    from ua_parser import parse  # its rules load on first use: not on the request path of ordinary pages

    result = parse(user_agent[:500])
    agent, os = result.user_agent, result.os
    if agent is None or agent.family == "Other":
        name = user_agent.split("/", 1)[0][:40] or "unknown browser"
        if "/" in user_agent:
            version = user_agent.split("/", 1)[1].split(" ", 1)[0][:12]
            name = f"{name} {version}"
    else:
        name = agent.family + (f" {agent.major}" if agent.major else "")
    if os is not None and os.family != "Other":
        name += f" on {os.family}" + (f" {os.major}" if os.major and os.family not in ("Linux",) else "")
    return name


def init_app(app: Flask) -> None:
    """The ``browser`` template filter."""
    app.add_template_filter(browser_name, "browser")
