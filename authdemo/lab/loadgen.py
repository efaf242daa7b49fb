"""Load generators for the bench: wrk where installed, otherwise a threaded Python client; loopback only.

Every run is bounded in time. A request counts as an error when it fails or
answers anything but the expected status: a logged-in request sent to a
process that does not know the session comes back as a redirect to /login,
and that is exactly the failure the two-process run must show.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from urllib.parse import urlsplit

from ..harness.processes import LabError
from .visitor import DEMO_USER, Visitor, csrf_token

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class LoadResult:
    """One timed run against one URL."""

    requests: int
    errors: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    tool: str

    @property
    def requests_per_s(self) -> float:
        """Answers per second, errors included (the errors column says how many were wrong)."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    def as_dict(self) -> dict:
        """For results.json."""
        return {**asdict(self), "requests_per_s": self.requests_per_s}


def wrk_available() -> bool:
    """Whether the wrk binary is on PATH (apt-get install wrk)."""
    return shutil.which("wrk") is not None


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"the bench only loads this machine's loopback interface, not {host!r}")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted values lie (nearest rank)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def run_wrk(url: str, headers: dict[str, str], expected: int, duration: float, connections: int) -> LoadResult:
    """wrk with one thread and ``connections`` keep-alive connections, for ``duration`` seconds."""
    _loopback_only(url)
    if len(headers) > 1:
        raise ValueError("the wrk script sends one credentials header")
    header = "".join(f"{name}: {value}" for name, value in headers.items())
    seconds = max(1, round(duration))
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        header,
        str(expected),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 30)
    line = next((row for row in result.stdout.splitlines() if row.startswith("AUTHDEMO-RESULT ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {result.returncode}): {result.stderr.strip() or result.stdout[-500:]}")
    figures = json.loads(line.removeprefix("AUTHDEMO-RESULT "))
    return LoadResult(
        requests=figures["requests"],
        errors=figures["socket_errors"] + figures["unexpected_status"],
        duration_s=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        tool="wrk",
    )


class _Tally:
    """Latencies and errors gathered by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors = 0
        self.requests = 0

    def add(self, latencies: list[float], requests: int, errors: int) -> None:
        with self.lock:
            self.latencies.extend(latencies)
            self.requests += requests
            self.errors += errors

    def result(self, elapsed: float, tool: str) -> LoadResult:
        ordered = sorted(self.latencies)
        return LoadResult(
            requests=self.requests,
            errors=self.errors,
            duration_s=elapsed,
            p50_ms=percentile(ordered, 0.50) * 1000,
            p99_ms=percentile(ordered, 0.99) * 1000,
            tool=tool,
        )


def _run_threads(worker, connections: int, duration: float, tool: str) -> LoadResult:
    """Run ``worker(deadline, tally)`` on ``connections`` threads until the deadline."""
    tally = _Tally()
    start = time.perf_counter()
    deadline = start + duration
    threads = [threading.Thread(target=worker, args=(deadline, tally), daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally.result(time.perf_counter() - start, tool)


def run_python(url: str, headers: dict[str, str], expected: int, duration: float, connections: int) -> LoadResult:
    """The same measurement as run_wrk, with keep-alive http.client connections on threads."""
    _loopback_only(url)
    parts = urlsplit(url)

    def worker(deadline: float, tally: _Tally) -> None:
        latencies, requests, errors = [], 0, 0
        connection = HTTPConnection(parts.netloc, timeout=10)
        try:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    connection.request("GET", parts.path or "/", headers=headers)
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == expected
                except (OSError, HTTPException):
                    connection.close()  # reconnects on the next request
                    ok = False
                latencies.append(time.perf_counter() - began)
                requests += 1
                errors += not ok
        finally:
            connection.close()
            tally.add(latencies, requests, errors)

    return _run_threads(worker, connections, duration, "python")


def run_fixed_rate(url: str, headers: dict[str, str], expected: int, rate: float, duration: float) -> LoadResult:
    """``rate`` requests a second, evenly spaced, for ``duration`` seconds: latency at a moderate load.

    Four connections share the schedule. Each latency counts from when the
    request was due, not from when it was sent, so a server that falls
    behind shows it (no "coordinated omission").
    """
    _loopback_only(url)
    parts = urlsplit(url)
    connections = 4
    interval = connections / rate

    def worker(deadline: float, tally: _Tally, offset: float) -> None:
        latencies, requests, errors = [], 0, 0
        connection = HTTPConnection(parts.netloc, timeout=10)
        due = time.perf_counter() + offset
        try:
            while due < deadline:
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                try:
                    connection.request("GET", parts.path or "/", headers=headers)
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == expected
                except (OSError, HTTPException):
                    connection.close()
                    ok = False
                latencies.append(time.perf_counter() - due)
                requests += 1
                errors += not ok
                due += interval
        finally:
            connection.close()
            tally.add(latencies, requests, errors)

    tally = _Tally()
    start = time.perf_counter()
    threads = [
        threading.Thread(target=worker, args=(start + duration, tally, index * interval / connections), daemon=True)
        for index in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally.result(time.perf_counter() - start, "python-fixed-rate")


def run_logins(base_url: str, duration: float, connections: int) -> LoadResult:
    """Logins through the form: each one GETs /login for its CSRF token, then POSTs; the POST is timed.

    Always the Python client: a login needs the token from the page it just
    fetched, and at scrypt's pace the client's own cost does not show.
    """
    _loopback_only(base_url)

    def worker(deadline: float, tally: _Tally) -> None:
        latencies, requests, errors = [], 0, 0
        try:
            while time.perf_counter() < deadline:
                visitor = Visitor()
                try:
                    form = visitor.request(base_url, "GET", "/login")
                    fields = {"username": DEMO_USER[0], "password": DEMO_USER[1], "csrf_token": csrf_token(form.body)}
                    began = time.perf_counter()
                    answer = visitor.request(base_url, "POST", "/login", fields)
                    latencies.append(time.perf_counter() - began)
                    ok = answer.status == 302 and "/login" not in answer.location
                except (LabError, HTTPException):
                    ok = False
                requests += 1
                errors += not ok
        finally:
            tally.add(latencies, requests, errors)

    return _run_threads(worker, connections, duration, "python")


def run_load(
    url: str, headers: dict[str, str], expected: int, duration: float, connections: int, tool: str = "auto"
) -> LoadResult:
    """wrk when available (or asked for), else the Python client."""
    use_wrk = wrk_available() if tool == "auto" else tool == "wrk"
    runner = run_wrk if use_wrk else run_python
    return runner(url, headers, expected, duration, connections)


def median_result(results: list[LoadResult]) -> dict:
    """The median of each figure over repeated runs; errors are summed, so none hides."""
    return {
        "requests_per_s": statistics.median(r.requests_per_s for r in results),
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "errors": sum(r.errors for r in results),
        "requests": sum(r.requests for r in results),
        "runs": len(results),
        "tool": results[0].tool if results else "",
    }
