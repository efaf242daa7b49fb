"""The app as the lab runs it: gunicorn processes on loopback ports, stopped whatever happens.

Each AppProcess is a real ``gunicorn app:app`` in its own process group with
the variables of one deployment, so a restart, a new secret or a second
instance is exactly what an operator would do. Every start has its stop:
callers hold processes in an ExitStack, and SIGTERM is turned into an
exception while a lab command runs so that those stops happen then too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from http.client import HTTPConnection
from pathlib import Path

from .servers import HOST, free_port

ROOT = Path(__file__).resolve().parent.parent.parent


class LabError(Exception):
    """An experiment could not be carried out (a process did not start, a login failed)."""


def clean_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any AUTHDEMO_* variable of the caller's, plus ``overrides``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AUTHDEMO_")}
    env.update(overrides)
    return env


def run_command(command: list[str], cwd: Path, env: Mapping[str, str], name: str) -> str:
    """Run a set-up command in a clean environment; its output, or LabError with the end of its stderr."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=clean_environment(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise LabError(f"{name} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def run_flask(env: Mapping[str, str], *args: str) -> str:
    """Run ``flask --app app ARGS`` for a deployment (init-db, seed-demo) and return its output."""
    return run_command([sys.executable, "-m", "flask", "--app", "app", *args], ROOT, env, f"flask {' '.join(args)}")


def http_status(url: str, path: str = "/healthz", timeout: float = 2.0) -> int | None:
    """The status of one GET, or None when nothing answers."""
    connection = HTTPConnection(url.removeprefix("http://"), timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


class AppProcess:
    """``gunicorn app:app`` with one deployment's variables: start, stop, restart, on a fixed loopback port."""

    ready_timeout = 60.0
    stop_timeout = 10.0

    def __init__(self, env: Mapping[str, str], log_dir: str | Path, *, workers: int = 1, threads: int = 4):
        self.env = dict(env)
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.log_path = Path(log_dir) / f"gunicorn-{self.port}.log"
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Where the app answers."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The gunicorn master's pid while it runs."""
        return self._proc.pid if self.is_running() else None

    def is_running(self) -> bool:
        """Whether the gunicorn master is alive."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """One gunicorn with thread workers; the same settings for every deployment."""
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "app:app",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(self.threads),
            "--graceful-timeout",
            "5",
            "--log-level",
            "warning",
            "--error-logfile",
            "-",
        ]

    def start(self, **env_changes: str) -> AppProcess:
        """Start gunicorn (with some variables changed, e.g. a new secret) and wait until it answers."""
        if self.is_running():
            raise LabError(f"the app on port {self.port} is already running")
        self.env.update(env_changes)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=clean_environment(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: Ctrl-C reaches us, and we stop it
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise LabError(f"gunicorn on port {self.port} exited at start-up:\n{self.log_tail()}")
            if http_status(self.url) is not None:
                return
            time.sleep(0.05)
        raise LabError(f"gunicorn on port {self.port} did not answer within {self.ready_timeout:.0f} s")

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL to the whole group if it lingers; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # Workers left in the group after the master died (never seen; cheap to make sure).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def restart(self, **env_changes: str) -> AppProcess:
        """Stop, then start again on the same port (with some variables changed)."""
        self.stop()
        return self.start(**env_changes)

    def log_tail(self, lines: int = 20) -> str:
        """The end of gunicorn's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> AppProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


@contextlib.contextmanager
def in_process_app(env: Mapping[str, str]) -> Iterator:
    """The app built in this process from a deployment's variables, its connections released afterwards."""
    from .. import create_app
    from ..extensions import db

    app = create_app(clean_environment(env))
    try:
        yield app
    finally:
        for name in ("authdemo_login", "authdemo_tokens"):
            holder = app.extensions.get(name)
            if holder is not None:
                holder.store.close()
        with app.app_context():
            db.engine.dispose()


@contextlib.contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """Serve a Flask app built in this process over loopback HTTP; yields its base URL."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log(self, *args) -> None:
            """The lab prints its own progress; no access log."""

    server = make_server(HOST, 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="lab-server", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """While a lab command runs, SIGTERM unwinds like Ctrl-C so every process it started is stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
