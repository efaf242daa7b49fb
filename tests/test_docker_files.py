"""The Docker files, checked statically, without a Docker engine.

What a build or `docker compose up` would show late (a secret baked into a
layer, an app reading a file nothing mounts, data outside a volume) is
checked here from the files themselves; tests/test_docker_stack.py builds and
runs them for real where an engine answers.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from authdemo.harness.stack import PLACEHOLDER

ROOT = Path(__file__).resolve().parent.parent
SECRETISH = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|_KEY$", re.IGNORECASE)
APP_SERVICES = ("init", "app1", "app2")
NEVER_COPIED = ("instance", "secrets", ".venv", ".git", "tests")
VARIABLE = re.compile(r"\$\{(\w+):-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker-compose.yml as Compose reads it with no variable set (defaults filled in, merge keys resolved)."""
    return yaml.safe_load(VARIABLE.sub(r"\2", (ROOT / "docker-compose.yml").read_text()))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        logical.append(current.strip())
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in logical]


def test_image_is_python_slim_and_runs_gunicorn_as_a_non_root_user():
    """A small base (the public one unless BASE_IMAGE says otherwise), and the server never runs as root."""
    instructions = dockerfile_instructions()
    names = [name for name, _ in instructions]
    assert instructions[:2] == [("ARG", "BASE_IMAGE=python:3.11-slim"), ("FROM", "${BASE_IMAGE}")]
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert names.index("USER") < names.index("CMD")
    cmd = dict(instructions)["CMD"]
    assert "gunicorn" in cmd and "config/gunicorn.conf.py" in cmd and "app:app" in cmd
    assert "/healthz" in dict(instructions)["HEALTHCHECK"]


def test_no_secret_in_any_layer():
    """No ENV or ARG holds a secret, and nothing secret or local is copied in."""
    instructions = dockerfile_instructions()
    for name, args in instructions:
        if name in ("ENV", "ARG"):
            for assignment in shlex.split(args):
                variable = assignment.split("=", 1)[0]
                assert not SECRETISH.search(variable), f"{name} {assignment}"
        if name in ("COPY", "ADD"):
            sources = [part for part in shlex.split(args) if not part.startswith("--")][:-1]
            for source in sources:
                top = source.removeprefix("./").split("/")[0]
                assert top not in (".", "", *NEVER_COPIED), f"{name} {args}"
                assert (ROOT / source).exists(), f"COPY of a missing path: {source}"


def test_dockerignore_keeps_local_state_out_of_the_context():
    """Even a careless `COPY . .` later could not pick up the virtualenv, the instance folder or secrets."""
    entries = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", "instance", "secrets", ".git"} <= entries


def test_requirements_are_pinned():
    """The image installs exactly what the tests ran with."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line), line


def test_every_service_is_there(compose):
    """nginx, two app instances and the three stores the production shape needs."""
    assert {"nginx", "app1", "app2", "redis", "memcached", "postgres"} <= set(compose["services"])


def _mounted_secrets(service: dict) -> dict[str, str]:
    """Container path → secret name, for a service's secrets (short and long syntax)."""
    mounted = {}
    for entry in service.get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        mounted[target if target.startswith("/") else f"/run/secrets/{target}"] = source
    return mounted


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_read_their_secrets_from_mounted_files(compose, name):
    """Every *_FILE variable points at a secret this service mounts; no secret value sits in a variable."""
    service = compose["services"][name]
    environment = service["environment"]
    mounted = _mounted_secrets(service)
    files = {key: value for key, value in environment.items() if key.endswith("_FILE")}
    assert {"AUTHDEMO_SECRET_KEY_FILE", "AUTHDEMO_DATABASE_PASSWORD_FILE"} <= set(files)
    for key, path in files.items():
        assert path in mounted, f"{name}: {key}={path} but nothing is mounted there"
    for key in environment:
        assert key.endswith("_FILE") or not SECRETISH.search(key), f"{name}: {key} holds a secret in a variable"
    from sqlalchemy.engine import make_url

    assert make_url(environment["AUTHDEMO_DATABASE_URL"]).password is None
    assert environment["AUTHDEMO_ENV"] == "production"
    assert str(environment["AUTHDEMO_PROXY_HOPS"]) == "1" and "ports" not in service


def test_secrets_come_from_host_files_under_secrets(compose):
    """Each secret is a host file in ./secrets/, which git and the build context both ignore."""
    for name, secret in compose["secrets"].items():
        assert secret["file"].startswith("./secrets/"), name
    assert "secrets/" in (ROOT / ".gitignore").read_text().splitlines()
    used = {source for service in compose["services"].values() for source in _mounted_secrets(service).values()}
    assert used == set(compose["secrets"])


def test_postgres_reads_the_same_password_file(compose):
    """One password file serves both sides; the server never gets the password in a variable."""
    postgres = compose["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] in _mounted_secrets(postgres)
    assert "POSTGRES_PASSWORD" not in postgres["environment"]


def _named_volume(service: dict, target: str) -> str:
    """The volume source mounted at ``target`` (short syntax)."""
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            return source
    raise AssertionError(f"nothing mounted at {target}")


def test_data_lives_in_named_volumes(compose):
    """Redis (append-only) and PostgreSQL keep their data in named volumes, which outlive containers."""
    redis, postgres = compose["services"]["redis"], compose["services"]["postgres"]
    redis_volume = _named_volume(redis, "/data")
    postgres_volume = _named_volume(postgres, "/var/lib/postgresql/data")
    assert {redis_volume, postgres_volume} <= set(compose["volumes"])
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_nginx_gets_every_template_value_and_the_tls_pair(compose):
    """The image's envsubst fills only variables it is given: each ${NGINX_*} must have one."""
    nginx = compose["services"]["nginx"]
    environment = nginx["environment"]
    placeholders = set(PLACEHOLDER.findall((ROOT / "config" / "nginx.conf").read_text()))
    assert placeholders <= set(environment), placeholders - set(environment)
    assert "./config/nginx.conf:/etc/nginx/templates/nginx.conf.template:ro" in nginx["volumes"]
    assert environment["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"
    mounted = _mounted_secrets(nginx)
    assert environment["NGINX_TLS_CERT"] in mounted and environment["NGINX_TLS_KEY"] in mounted
    app_port = compose["x-app-environment"]["GUNICORN_BIND"].rsplit(":", 1)[1]
    assert {environment["NGINX_UPSTREAM_1"], environment["NGINX_UPSTREAM_2"]} == {
        f"app1:{app_port}",
        f"app2:{app_port}",
    }
    addresses = {port.split(":")[0] for port in nginx["ports"]}
    assert addresses == {"127.0.0.1"}, "published on loopback only"
    published = {port.rsplit(":", 1)[1] for port in nginx["ports"]}
    assert published == {environment["NGINX_HTTPS_PORT"], environment["NGINX_HTTP_PORT"]}
    assert any(port.split(":")[1] == environment["NGINX_PUBLIC_HTTPS_PORT"] for port in nginx["ports"])
    assert [name for name, service in compose["services"].items() if "ports" in service] == ["nginx"]


def test_pip_gets_the_ca_bundle_only_as_a_build_secret():
    """The one pip install mounts the CA bundle as a BuildKit secret: nothing copies it into a layer."""
    runs = [args for name, args in dockerfile_instructions() if name == "RUN" and "pip install" in args]
    assert len(runs) == 1 and runs[0].startswith("--mount=type=secret,id=pip_ca ")
    assert "PIP_CERT=/run/secrets/pip_ca" in runs[0]
    kept = [args for name, args in dockerfile_instructions() if name in ("COPY", "ADD", "ENV", "ARG")]
    assert not [args for args in kept if "cert" in args.lower() or ".crt" in args or ".pem" in args]


def test_every_image_has_a_local_stand_in_and_defaults_to_the_public_one():
    """Each image the compose file names is a variable; docker/stand-ins.env names the local build of each."""
    text = (ROOT / "docker-compose.yml").read_text()
    images = dict(VARIABLE.findall(" ".join(re.findall(r"(?:image|BASE_IMAGE): (\S+)", text))))
    stand_ins = dict(
        line.split("=", 1) for line in (ROOT / "docker" / "stand-ins.env").read_text().splitlines() if "=" in line
    )
    assert images == {
        "AUTHDEMO_PYTHON_IMAGE": "python:3.11-slim",
        "AUTHDEMO_IMAGE": "authdemo:latest",
        "AUTHDEMO_NGINX_IMAGE": "nginx:1.27-alpine",
        "AUTHDEMO_REDIS_IMAGE": "redis:7.4-alpine",
        "AUTHDEMO_MEMCACHED_IMAGE": "memcached:1.6-alpine",
        "AUTHDEMO_POSTGRES_IMAGE": "postgres:16-alpine",
    }
    assert set(images) - {"AUTHDEMO_IMAGE"} <= set(stand_ins)
    for name in ("python", "nginx", "redis", "memcached", "postgres"):
        assert (ROOT / "docker" / "stand-ins" / name / "Dockerfile").exists(), name
