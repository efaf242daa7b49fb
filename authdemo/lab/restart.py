"""The restart experiment: log in over HTTP, do what operators do (restart, rotate, scale out), see who is still in.

Each row is a deployment from ``deployments.py``; each event is one function
here that returns whether the visitor is still logged in and what was
observed. Every event starts from a fresh login that is checked first, so
one event's outcome never leaks into the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..harness.processes import AppProcess, LabError, in_process_app, serve_in_thread
from ..harness.servers import MissingBinary
from . import deployments
from .deployments import ROTATED_SECRET_KEY, Deployment, Lab
from .visitor import Visitor

#: --backends name → the rows it stands for (a JWT row is one more entry).
ROWS: dict[str, tuple[Callable[[Lab], Deployment], ...]] = {
    "memory": (deployments.memory,),
    "redis": (deployments.redis_aof, deployments.redis_volatile),
    "memcached": (deployments.memcached,),
    "sqlalchemy": (deployments.sqlalchemy_server,),
    "cookie": (deployments.cookie,),
    "jwt": (deployments.jwt_memory, deployments.jwt_redis, deployments.jwt_memcached, deployments.jwt_sqlalchemy),
}

Outcome = tuple[bool | None, str]  # survived (None: does not apply), what was observed


@dataclass
class Trial:
    """One deployment under test: its running app, and the lab for anything more it needs."""

    lab: Lab
    deployment: Deployment
    app: AppProcess

    def fresh_login(self, url: str | None = None) -> Visitor:
        """A visitor who has just logged in, checked to be logged in before anything happens."""
        visitor = self.deployment.client()
        url = url or self.app.url
        visitor.login(url)
        logged_in, answer = visitor.logged_in(url)
        if not logged_in:
            raise LabError(f"{self.deployment.label}: not logged in right after logging in ({answer})")
        return visitor


def app_restart(trial: Trial) -> Outcome:
    """The app process stops and starts again with the same configuration."""
    visitor = trial.fresh_login()
    before = trial.app.pid
    trial.app.restart()
    survived, answer = visitor.logged_in(trial.app.url)
    return survived, f"gunicorn stopped and started again (pid {before} → {trial.app.pid}); {answer}"


def store_restart(trial: Trial) -> Outcome:
    """The store's own server stops (gracefully) and starts again."""
    server = trial.deployment.server
    if server is None:
        return None, trial.deployment.no_server
    visitor = trial.fresh_login()
    server.restart()
    survived, answer = visitor.logged_in(trial.app.url)
    return survived, f"{server.name} stopped and started again on port {server.port}; {answer}"


def secret_rotation(trial: Trial) -> Outcome:
    """The app comes back with a different secret key."""
    if trial.deployment.in_process:
        return _rotate_in_place(trial)
    visitor = trial.fresh_login()
    trial.app.restart(AUTHDEMO_SECRET_KEY=ROTATED_SECRET_KEY)
    survived, answer = visitor.logged_in(trial.app.url)
    return survived, f"gunicorn restarted with a new AUTHDEMO_SECRET_KEY; {answer}"


def _rotate_in_place(trial: Trial) -> Outcome:
    """For a store inside the process: change the key in the running app, since a restart alone empties it."""
    with in_process_app(trial.deployment.env) as app, serve_in_thread(app) as url:
        visitor = trial.fresh_login(url)
        app.secret_key = ROTATED_SECRET_KEY
        survived, answer = visitor.logged_in(url)
    return survived, (
        "the secret key was changed inside one running app process (restarting it would empty the store "
        f"whatever the key: see app_restart); {answer}"
    )


def second_instance(trial: Trial) -> Outcome:
    """The next request is served by another app process with the same configuration."""
    visitor = trial.fresh_login()
    other = trial.lab.app(trial.app.env)
    try:
        survived, answer = visitor.logged_in(other.url)
    finally:
        other.stop()
    return survived, f"a second gunicorn with the same variables (port {other.port}) served the request; {answer}"


def revocation_after_restart(trial: Trial) -> Outcome:
    """Log out, keep a copy of the cookies taken before, restart the app: is the copy still refused?

    Here "kept" means the revocation was kept. A session store ends the login
    by deleting the session; a JWT is ended only by the deny list, and a deny
    list in the app's memory is gone after a restart: the stolen token works
    again until it expires.
    """
    visitor = trial.fresh_login()
    stolen = dict(visitor.cookies)
    visitor.logout(trial.app.url)
    thief = trial.deployment.client()
    thief.cookies = dict(stolen)
    refused_before, _ = thief.logged_in(trial.app.url)
    if refused_before:
        raise LabError(f"{trial.deployment.label}: a copy of the cookies still worked right after logout")
    thief.cookies = dict(stolen)
    trial.app.restart()
    still_in, answer = thief.logged_in(trial.app.url)
    return not still_in, f"logged out, app restarted, the pre-logout cookies replayed: {answer}"


#: event name → what it does, in the order the experiment applies them.
EVENTS: dict[str, Callable[[Trial], Outcome]] = {
    "app_restart": app_restart,
    "store_restart": store_restart,
    "secret_rotation": secret_rotation,
    "second_instance": second_instance,
    "revocation_after_restart": revocation_after_restart,
}


def step_count(backends: Iterable[str]) -> int:
    """How many (row, event) steps the experiment takes (for progress bars)."""
    return sum(len(ROWS[name]) for name in backends) * len(EVENTS)


def run(
    lab: Lab,
    backends: Iterable[str],
    on_step: Callable[[str, int], None] = lambda text, done: None,
    on_skip: Callable[[str, str], None] = lambda backend, reason: None,
) -> list[dict]:
    """Apply every event to every row of the chosen backends; one result dict per (row, event).

    ``on_step(text, done)`` reports progress: what runs now, and how many of
    the ``step_count`` steps just finished.
    """
    results: list[dict] = []
    for name in backends:
        for build in ROWS[name]:
            try:
                deployment = build(lab)
            except MissingBinary as missing:
                on_skip(name, str(missing))
                on_step(f"{name}: skipped", len(EVENTS))
                continue
            results.extend(_run_row(lab, deployment, on_step))
    return results


def _run_row(lab: Lab, deployment: Deployment, on_step: Callable[[str, int], None]) -> list[dict]:
    """The events, one after the other, on one deployment's app."""
    on_step(f"{deployment.label}: starting the app", 0)
    trial = Trial(lab, deployment, lab.app(deployment.env))
    rows = []
    try:
        for event, apply in EVENTS.items():
            on_step(f"{deployment.label}: {event}", 0)
            survived, detail = apply(trial)
            on_step(f"{deployment.label}: {event} done", 1)
            rows.append(
                {
                    "mode": deployment.mode,
                    "store": deployment.store,
                    "variant": deployment.variant,
                    "event": event,
                    "survived": survived,
                    "detail": detail,
                }
            )
    finally:
        trial.app.stop()
    return rows
