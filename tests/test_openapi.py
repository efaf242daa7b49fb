"""The OpenAPI 3.1 documents, machine-checked: schemathesis against the app's JSON API and the tasks service.

Each service is served for real on a loopback port and `st run` (the
schemathesis CLI) runs every phase (examples, coverage, fuzzing, stateful:
the links from a token answer to the operations that take its tokens) with
every check: no 5xx, no status, header, content type or body outside the
document, schema-valid requests accepted, invalid ones refused, auth not
ignored. A fixed seed and a bounded number of examples keep it to a couple
of minutes on two cores; ``AUTHDEMO_SCHEMATHESIS_EXAMPLES`` raises the count.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from authdemo import tasks_api
from authdemo.openapi import api_document, tasks_document
from tests.support import PASSWORDS

ST = Path(sys.executable).with_name("st")
EXAMPLES = os.environ.get("AUTHDEMO_SCHEMATHESIS_EXAMPLES", "20")
JWT_SECRET = "openapi-test-jwt-secret-of-at-least-32-bytes"


def _schemathesis(url: str, config: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`st run` with every check and phase; returns the finished process (output captured)."""
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(config)
    command = [
        str(ST),
        "--config-file",
        str(config_file),
        "run",
        url,
        "--checks",
        "all",
        "--max-examples",
        EXAMPLES,
        "--seed",
        "20261130",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
    ]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def _assert_clean(result: subprocess.CompletedProcess) -> None:
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, summary


def test_the_documents_are_served_and_name_every_api_route(make_app):
    """Every /api route of the app (and the JWKS) is in the document, with the bearer scheme and RFC 6750 errors."""
    app = make_app("jwt:memory")
    served = app.test_client().get("/api/openapi.json").get_json()
    assert served == json.loads(json.dumps(api_document()))
    assert served["openapi"] == "3.1.0"
    assert served["components"]["securitySchemes"]["bearer"] == {
        **served["components"]["securitySchemes"]["bearer"],
        "type": "http",
        "scheme": "bearer",
    }
    documented = {(path, method.upper()) for path, item in served["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/", "/.well-known/")) and not rule.rule.endswith("/"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (rule.rule, method) in documented, (rule.rule, method)
    tasks = served["paths"]["/api/tasks"]["get"]["responses"]
    assert "WWW-Authenticate" in tasks["401"]["headers"] and "WWW-Authenticate" in tasks["403"]["headers"]
    tasks_app = tasks_api.create_app({"AUTHDEMO_SECRET_KEY": "x" * 48})
    assert tasks_app.test_client().get("/openapi.json").get_json() == json.loads(json.dumps(tasks_document()))


def test_schemathesis_finds_nothing_in_the_json_api(make_app, serve, tmp_path):
    """All phases and checks against the app in jwt mode; tokens fetched from /api/token as alice (every permission)."""
    app = make_app("jwt:memory")
    base = serve(app)
    config = f"""
[auth.dynamic.openapi.bearer]
path = "/api/token"
payload = {{ username = "alice", password = "{PASSWORDS["alice"]}" }}
extract_selector = "/access_token"

# Half the generated logins use alice's real credentials, so the stateful phase gets 200s
# and follows the document's links from the token answer to /api/me, /api/tasks, refresh and revoke.
[dictionaries.username]
values = ["alice"]
[dictionaries.password]
values = ["{PASSWORDS["alice"]}"]

[[operations]]
include-operation-id = "issueToken"
parameters = {{ "body.username" = {{ dictionary = "username", probability = 0.5 }}, \
"body.password" = {{ dictionary = "password", probability = 0.5 }} }}
"""
    result = _schemathesis(f"{base}/api/openapi.json", config, tmp_path)
    _assert_clean(result)
    links = re.search(r"API Links:\s+(\d+) covered", result.stdout)
    assert links and int(links.group(1)) > 0, result.stdout[-3000:]


def test_schemathesis_finds_nothing_in_the_tasks_service(make_app, serve, tmp_path):
    """The tasks service with the shared key, and an access token the app issued for alice."""
    app = make_app("jwt:memory", AUTHDEMO_JWT_SECRET=JWT_SECRET, AUTHDEMO_JWT_ACCESS_TTL="3600")
    token = app.test_client().post("/api/token", json={"username": "alice", "password": PASSWORDS["alice"]})
    access_token = token.get_json()["access_token"]
    service = tasks_api.create_app({"AUTHDEMO_SECRET_KEY": "x" * 48, "AUTHDEMO_JWT_SECRET": JWT_SECRET})
    base = serve(service)
    config = f"""
[auth.openapi.bearer]
bearer = "{access_token}"
"""
    _assert_clean(_schemathesis(f"{base}/openapi.json", config, tmp_path))


@pytest.mark.parametrize(
    "body",
    ['{"username": "\\ud800", "password": "x"}', '{"title": "\\udfff"}', "[" * 3000 + "]" * 3000],
    ids=["lone-surrogate-login", "lone-surrogate-task", "nested-3000"],
)
def test_the_bodies_schemathesis_cannot_send_are_refused_too(make_app, body):
    """Its generator keeps to text UTF-8 can encode and to shallow JSON: these two reviewed cases are sent by hand."""
    app = make_app("jwt:memory")
    client = app.test_client()
    token = client.post("/api/token", json={"username": "alice", "password": PASSWORDS["alice"]}).get_json()
    for path in ("/api/token", "/api/tasks"):
        response = client.post(
            path,
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_request", (path, body[:40])
