"""What the app keeps between requests to save work (authdemo.AuthdemoFlask) gives the answers Flask would."""

from __future__ import annotations

from flask import url_for

from tests.support import Browser


def test_a_kept_path_follows_the_script_root(make_app):
    """An app mounted under a prefix (SCRIPT_NAME) links under that prefix, and another prefix gets its own."""
    app = make_app("memory")
    for root in ("", "/demo", "/other", "/demo"):
        with app.test_request_context("/", base_url=f"http://localhost{root}/"):
            assert url_for("main.reports") == f"{root}/reports"


def test_arguments_relative_endpoints_and_external_urls_are_built_every_time(make_app):
    """Only an endpoint with no arguments is kept: ``?page=2``, ``.index`` and ``_external`` are Flask's own."""
    app = make_app("memory")
    with app.test_request_context("/account/", base_url="http://site.test/"):
        assert url_for("main.reports") == "/reports"
        assert url_for("main.reports", page=2) == "/reports?page=2"
        assert url_for("main.reports", _external=True) == "http://site.test/reports"
        assert url_for("main.reports", _anchor="top") == "/reports#top"
    with app.test_request_context("/admin", base_url="http://site.test/"):
        assert url_for(".index") == "/admin"
    with app.test_request_context("/"):
        assert url_for(".index") == "/"


def test_the_table_of_kept_paths_is_bounded(make_app):
    """A proxy could send any number of prefixes: past the bound, paths are built and not kept, and still right."""
    app = make_app("memory")
    app.PATHS_KEPT = 3
    for number in range(10):
        with app.test_request_context("/", base_url=f"http://localhost/p{number}/"):
            assert url_for("main.index") == f"/p{number}/"
    assert len(app._paths) == 3


def test_a_page_under_a_prefix_links_under_it(make_app):
    """A whole page through the test client: every navigation link carries the prefix."""
    app = make_app("cookie")
    browser = Browser(app)
    assert browser.login("carol").status_code == 302
    plain = browser.client.get("/reports").get_data(as_text=True)
    prefixed = browser.client.get("/reports", base_url="http://localhost/demo/").get_data(as_text=True)
    assert 'href="/reports"' in plain and 'href="/demo/reports"' not in plain
    assert 'href="/demo/reports"' in prefixed and 'href="/demo/account/sessions"' in prefixed
    assert 'href="/reports"' not in prefixed
