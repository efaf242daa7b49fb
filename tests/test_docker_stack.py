"""The Docker stack for real: the image built, docker-compose.yml brought up, checked, taken down.

Needs a Docker engine that answers, Debian's docker-compose and (where no image
registry answers, as here) debootstrap: docker/build-images.sh builds the local
stand-ins for the public images and the app image, cached after the first run.
Without them the module is skipped with the reason; AUTHDEMO_REQUIRE_SERVICES=1
(`.ci/run`, `make docker-test`) turns that skip into a failure.

One stack for the module (a project of its own, ports on 127.0.0.1 picked free,
secrets in a temporary folder), taken down with its volumes at the end, also
when a test fails. The tests run in order and share the logged-in client.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.servers import REQUIRE_ENV, free_port, require
from tests.support import PASSWORDS
from tests.test_production_stack import TlsClient

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "authdemo-dockertest"
IMAGE = "authdemo:latest"
INSTANCE = re.compile(r'class="instance">([^<]+)<')

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]  # the first build takes minutes


def _missing(reason: str) -> None:
    """Skip with the reason, or fail when AUTHDEMO_REQUIRE_SERVICES=1."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} and {REQUIRE_ENV}=1")
    pytest.skip(reason)


def run(*command: str, env: dict | None = None, input: str | None = None, timeout: float = 300) -> str:
    """Run a command; its output, or a failure that shows the command and what it printed."""
    result = subprocess.run(
        command, cwd=ROOT, env=env, input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        printed = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        pytest.fail(f"{' '.join(command)} exited {result.returncode}:\n{printed}")
    return result.stdout


class Compose:
    """docker-compose on this repository's file, as one project with its own ports and secrets."""

    def __init__(self, secrets_dir: Path, https_port: int, http_port: int):
        self.secrets_dir = secrets_dir
        self.https_port = https_port
        self.env = {
            **os.environ,
            "COMPOSE_PROJECT_NAME": PROJECT,
            "AUTHDEMO_SECRETS_DIR": str(secrets_dir),
            "AUTHDEMO_HTTPS_PORT": str(https_port),
            "AUTHDEMO_HTTP_PORT": str(http_port),
            "AUTHDEMO_IMAGE": IMAGE,
        }
        if os.environ.get("AUTHDEMO_DOCKER_PUBLIC_IMAGES") != "1":
            self.env_file = ["--env-file", str(ROOT / "docker" / "stand-ins.env")]
        else:
            self.env_file = []

    def __call__(self, *arguments: str, timeout: float = 300, input: str | None = None) -> str:
        """One docker-compose command."""
        return run("docker-compose", *self.env_file, *arguments, env=self.env, timeout=timeout, input=input)

    def up(self) -> None:
        """Start the stack (images already built) and wait until nginx answers through TLS."""
        self("up", "-d", "--no-build", timeout=600)
        self.wait_until(lambda: self.https_status("/healthz") == 200, "nginx → app /healthz answers 200")

    def container(self, service: str) -> str:
        """The container id of a service."""
        return self("ps", "-q", service).strip()

    def health(self, service: str) -> str:
        """The container's health status (healthy, unhealthy, starting) or its state when it has no check."""
        state = json.loads(run("docker", "inspect", "--format", "{{json .State}}", self.container(service)))
        return state.get("Health", {}).get("Status") or state["Status"]

    def https_status(self, path: str) -> int | None:
        """The status of one GET through nginx, or None when nothing answers yet."""
        client = self.client()
        try:
            return client.get(path)[0]
        except OSError:
            return None
        finally:
            client.close()

    def client(self) -> TlsClient:
        """A new HTTPS client that trusts the stack's self-signed certificate."""
        stand_in = SimpleNamespace(
            nginx=SimpleNamespace(port=self.https_port), url=f"https://127.0.0.1:{self.https_port}"
        )
        return TlsClient(stand_in, self.secrets_dir / "tls_cert.pem")

    @staticmethod
    def wait_until(condition, what, timeout: float = 180) -> None:
        """Poll ``condition`` every half second until it holds, or fail naming ``what`` (text, or a callable)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"not within {timeout:.0f} s: {what() if callable(what) else what}")
            time.sleep(0.5)


def _make_secrets(folder: Path) -> None:
    """What `make docker-secrets` makes, in a folder of the test's own."""
    (folder / "secret_key").write_text(secrets.token_urlsafe(48) + "\n")
    (folder / "postgres_password").write_text(secrets.token_urlsafe(24) + "\n")
    run(
        "openssl", "req", "-x509", "-nodes", "-days", "2", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout", str(folder / "tls_key.pem"), "-out", str(folder / "tls_cert.pem"),
    )  # fmt: skip
    for path in folder.iterdir():
        path.chmod(0o644)  # the containers' users are not the test's user
    (folder / "tls_key.pem").chmod(0o600)  # nginx's master reads it as root


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> Compose:
    """The stack: images built (cached), compose up; down -v afterwards, whatever happened."""
    for binary, package in (("docker", "docker.io"), ("docker-compose", "docker-compose"), ("openssl", "openssl")):
        require(binary, package)
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        _missing("no Docker engine answers (start it: dockerd &, as root; .ci/run does)")
    base = ["docker", "image", "inspect", "authdemo-local/debian:bookworm"]
    if os.environ.get("AUTHDEMO_DOCKER_PUBLIC_IMAGES") != "1" and not shutil.which("debootstrap"):
        if subprocess.run(base, capture_output=True, check=False).returncode:  # not built yet: debootstrap needed
            require("debootstrap", "debootstrap")

    print(run(str(ROOT / "docker" / "build-images.sh"), timeout=1500))  # each step and how long it took

    secrets_dir = tmp_path_factory.mktemp("docker-secrets")
    _make_secrets(secrets_dir)
    stack = Compose(secrets_dir, free_port(), free_port())
    stack("down", "-v", "--remove-orphans")  # what a killed earlier run may have left
    try:
        stack.up()
        yield stack
    finally:
        logs = subprocess.run(
            ["docker-compose", *stack.env_file, "logs", "--no-color", "--tail", "200"],
            cwd=ROOT, env=stack.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        (secrets_dir.parent / "docker-compose.log").write_text(logs.stdout + logs.stderr)
        subprocess.run(
            ["docker-compose", *stack.env_file, "down", "-v", "--remove-orphans", "--timeout", "5"],
            cwd=ROOT, env=stack.env, capture_output=True, timeout=300, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def alice(compose):
    """alice, logged in through nginx over TLS once for the module."""
    client = compose.client()
    status, headers, _ = client.login("alice", PASSWORDS["alice"])
    assert status == 302, status
    yield client
    client.close()


def _account(client: TlsClient) -> tuple[int, str]:
    """GET /account on a new connection (nginx closes idle ones after 30 s): (status, page)."""
    client.close()
    status, _, page = client.get("/account")
    return status, page


def test_login_through_nginx_over_tls(compose, alice):
    """The session cookie is Secure, and /account shows alice, answered by one of the two containers."""
    assert any("__Host-" in header and "Secure" in header for header in alice.set_cookie_headers)
    status, page = _account(alice)
    assert status == 200 and "alice" in page
    status, _, home = alice.get("/")
    assert status == 200 and INSTANCE.search(home).group(1) in {"app1", "app2"}  # "Served by"
    assert compose.https_status("/static/does-not-exist.css") == 404  # nginx itself serves /static


def test_the_app_runs_as_a_non_root_user(compose):
    """The gunicorn processes inside both app containers belong to uid 10001, not root."""
    for service in ("app1", "app2"):
        assert compose("exec", "-T", service, "id", "-u").strip() == "10001"
        status = compose("exec", "-T", service, "cat", "/proc/1/status")
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert uids and all(uid == "10001" for uid in uids), uids


def _image_contains(image: str, needles: list[bytes]) -> list[bytes]:
    """Which of ``needles`` occur anywhere in `docker save` of the image (every layer, its history)."""
    found, tail = set(), b""
    overlap = max(len(needle) for needle in needles)
    with subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE) as save:
        while chunk := save.stdout.read(1 << 20):
            window = tail + chunk
            found.update(needle for needle in needles if needle in window)
            tail = window[-overlap:]
    assert save.returncode == 0
    return sorted(found)


def _certificates(text: bytes) -> set[bytes]:
    """The base64 bodies of the PEM certificates in ``text``, one line each."""
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.DOTALL)
    return {b"".join(block.split()) for block in blocks}


def _machine_only_certificates() -> list[bytes]:
    """Lines of the CA certificates this machine adds to the public ones (a proxy's): what the build's secret held."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.exists():
        return []
    import pip._vendor.certifi

    public = _certificates(Path(pip._vendor.certifi.where()).read_bytes())
    for path in Path("/usr/share/ca-certificates").glob("*/*.crt"):  # Debian's ca-certificates
        public |= _certificates(path.read_bytes())
    local = _certificates(bundle.read_bytes()) - public
    return [body[start : start + 64] for body in local for start in range(64, len(body) - 64, 640)]


def test_the_signing_key_comes_from_a_mounted_secret_and_is_in_no_layer(compose):
    """The key file is mounted at /run/secrets; neither it, the database password nor the build's CA is in the image."""
    key = (compose.secrets_dir / "secret_key").read_text().strip()
    password = (compose.secrets_dir / "postgres_password").read_text().strip()
    mounted = compose("exec", "-T", "app1", "cat", "/run/secrets/secret_key").strip()
    assert mounted == key
    environment = compose("exec", "-T", "app1", "env")
    assert "AUTHDEMO_SECRET_KEY_FILE=/run/secrets/secret_key" in environment
    assert key not in environment and password not in environment
    needles = [key.encode(), password.encode(), *_machine_only_certificates()]
    assert _image_contains(IMAGE, needles) == []
    assert _image_contains(IMAGE, [b"gunicorn.conf.py"]) == [b"gunicorn.conf.py"]  # the search does see the layers


def test_the_session_survives_a_restart_of_both_app_containers(compose, alice):
    """Sessions live in Redis and the key in a file: new processes read the same cookie."""
    before = {compose.container("app1"), compose.container("app2")}
    compose("restart", "--timeout", "5", "app1", "app2")
    compose.wait_until(lambda: compose.health("app1") == compose.health("app2") == "healthy", "both apps healthy")
    assert {compose.container("app1"), compose.container("app2")} == before  # the same containers, restarted
    seen = set()
    for _ in range(4):  # round-robin: both instances answer
        alice.close()  # a new connection: nginx may pick the other instance
        status, _, page = alice.get("/")
        assert status == 200 and "alice" in page
        seen.add(INSTANCE.search(page).group(1))
    assert seen == {"app1", "app2"}


def test_users_and_sessions_survive_down_and_up(compose, alice):
    """`down` removes the containers, not the volumes: users (PostgreSQL) and sessions (Redis) are still there."""
    password = secrets.token_urlsafe(12)
    compose("exec", "-T", "app1", "flask", "--app", "app", "users", "create", "dave", "--role", "viewer",
            "--password-stdin", input=password + "\n")  # fmt: skip
    compose("down", "--timeout", "5")
    assert compose("ps", "-q").strip() == ""
    compose.up()
    status, page = _account(alice)
    assert status == 200 and "alice" in page
    dave = compose.client()
    try:
        assert dave.login("dave", password)[0] == 302
        assert _account(dave)[0] == 200
    finally:
        dave.close()


class Load:
    """Logged-in clients sending GET / through nginx until stopped (bounded in time too).

    Bounded by time, not by a count of requests: a count ran dry while a killed
    container took its time to become healthy again, and the test then waited
    for requests nobody was sending.
    """

    def __init__(self, compose: Compose, cookies: dict[str, str], clients: int = 3, seconds: float = 900):
        self.statuses: Counter = Counter()
        self.answers: list[tuple[int, int, int | str]] = []  # (epoch at the start, at the end, status)
        self.epoch = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + seconds
        self.threads = [
            threading.Thread(target=self._run, args=(compose, cookies), daemon=True) for _ in range(clients)
        ]

    def _run(self, compose: Compose, cookies: dict[str, str]) -> None:
        client = compose.client()
        client.cookies = dict(cookies)
        try:
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                started = self.epoch
                try:
                    status = client.get("/")[0]
                except (OSError, http.client.HTTPException) as error:  # nginx never went away: counts against it
                    status = type(error).__name__
                    client.close()
                with self.lock:
                    self.statuses[status] += 1
                    self.answers.append((started, self.epoch, status))
                time.sleep(0.01)  # a steady load, not one that starves the health checks on two cores
        finally:
            client.close()

    def mark(self) -> int:
        """A new epoch begins: marks taken before and after a kill bound the time it took."""
        with self.lock:
            self.epoch += 1
            return self.epoch

    def in_flight_during(self, first: int, last: int) -> list[int | str]:
        """The statuses of the requests that were in flight at some time between marks ``first`` and ``last``."""
        with self.lock:
            return [status for started, ended, status in self.answers if started < last and ended >= first]

    def count(self) -> int:
        """Requests answered so far."""
        with self.lock:
            return sum(self.statuses.values())

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def run_for(self, compose: Compose, requests: int) -> None:
        """Let ``requests`` more requests through (bounded in time)."""
        target = self.count() + requests
        alive = lambda: sum(thread.is_alive() for thread in self.threads)  # noqa: E731
        compose.wait_until(
            lambda: self.count() >= target,
            lambda: f"{requests} more requests under load (so far {dict(self.statuses)}, {alive()} clients running)",
            timeout=120,
        )


@pytest.mark.parametrize("service", ["app1", "redis"])
def test_a_container_killed_under_load_gives_only_200s_and_503s(compose, alice, service):
    """SIGKILL an app container (nginx moves on to the other) or Redis (503 naming the store), then start it again."""
    with Load(compose, alice.cookies) as load:
        load.run_for(compose, 30)
        # `docker kill` takes a while to deliver its SIGKILL: the moment lies between these two marks.
        kill_sent = load.mark()
        run("docker", "kill", compose.container(service))
        kill_done = load.mark()
        load.run_for(compose, 60)
        compose("start", service)
        compose.wait_until(lambda: compose.health(service) == "healthy", f"{service} healthy again")
        compose.wait_until(lambda: load.statuses[200] > 0, "a 200")
        answered = load.count()
        compose.wait_until(lambda: _account(alice)[0] == 200, "alice's session answers again")
        load.run_for(compose, 30)
    statuses = dict(load.statuses)
    print(f"{service} killed under load: {statuses}")
    if service.startswith("app"):
        # A response whose headers nginx had passed on before gunicorn died cannot be saved by
        # anyone: a request in flight at the SIGKILL may end cut short, at most one per client.
        in_flight = load.in_flight_during(kill_sent, kill_done)
        cut = Counter(status for status in in_flight if status not in (200, 503))
        assert sum(cut.values()) <= len(load.threads), cut
        statuses = {status: count - cut[status] for status, count in statuses.items() if count > cut[status]}
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.get(200, 0) > 0 and answered > 0
    if service == "redis":
        assert statuses.get(503, 0) > 0, statuses  # the store really was away: the app said so
    status, page = _account(alice)
    assert status == 200 and "alice" in page  # Redis's append-only file kept the session
