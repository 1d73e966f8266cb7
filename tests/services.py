"""Throwaway services for the scale and fault tests, on 127.0.0.1 only: a local Ray cluster
(`ray start --head`) and a PostgreSQL server (Debian's `postgresql`, installed by .ci/services).

Each is started once per test session by whichever test needs it first and stopped at the end.
When one cannot start, its tests are skipped, or fail when CI is set.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

# Ray binds to loopback only when told it is not forming a multi-machine cluster
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_USAGE_STATS_ENABLED": "0"}


def unavailable(what: str, why: str) -> None:
    """Skip, or fail under CI, when a service cannot be had."""
    message = f"{what} unavailable: {why}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_tree(marker: str) -> None:
    """Stop the processes whose command line holds `marker`, and their descendants."""
    everyone = list(psutil.process_iter(["cmdline", "ppid"]))
    procs = {p for p in everyone if any(marker in a for a in p.info["cmdline"] or ())}
    pids = {p.pid for p in procs}
    grown = True
    while grown:
        kids = {p for p in everyone if p.info["ppid"] in pids and p.pid not in pids}
        procs |= kids
        pids |= {p.pid for p in kids}
        grown = bool(kids)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(list(procs), timeout=10)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


class _Services:
    """Started on first use; `stop_all` at the end of the session."""

    def __init__(self) -> None:
        self.ray: str | None = None
        self.postgres: str | None = None
        self.stops: list[Callable[[], None]] = []

    def stop_all(self) -> None:
        while self.stops:
            self.stops.pop()()


SERVICES = _Services()


def _session_finalizer(request: pytest.FixtureRequest) -> None:
    if not SERVICES.stops:
        request.session.addfinalizer(SERVICES.stop_all)


def start_ray(request: pytest.FixtureRequest) -> str:
    if SERVICES.ray:
        return SERVICES.ray
    os.environ.update(RAY_ENV)  # for this session's drivers too: Ray reads them on import
    try:
        import ray  # noqa: F401
    except ImportError:
        unavailable("Ray", "the ray package is not installed (pip install -e '.[test]')")
    ray_cli = Path(sys.executable).parent / "ray"
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit
    address = f"127.0.0.1:{port}"
    done = subprocess.run(
        [str(ray_cli), "start", "--head", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--node-ip-address=127.0.0.1",
         "--ray-client-server-port", str(free_port()), f"--temp-dir={temp}",
         "--disable-usage-stats"],
        env={**os.environ, **RAY_ENV}, capture_output=True, text=True, timeout=300)

    def stop() -> None:
        _stop_tree(temp)
        _stop_tree(address)
        shutil.rmtree(temp, ignore_errors=True)

    _session_finalizer(request)
    SERVICES.stops.append(stop)
    if done.returncode != 0:
        unavailable("Ray", f"`ray start` failed: {(done.stderr or done.stdout)[-500:]}")
    SERVICES.ray = address
    return address


def start_postgres(request: pytest.FixtureRequest) -> str:
    """A PostgreSQL server on 127.0.0.1 in a temporary folder; returns its base URL."""
    if SERVICES.postgres:
        return SERVICES.postgres
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("PostgreSQL", "psycopg is not installed (pip install -e '.[test]')")
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        unavailable("PostgreSQL", "no initdb under /usr/lib/postgresql (run .ci/services)")
    bindir = Path(found[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="pg"))
    data = folder / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as Debian's postgres user
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=120,
                              cwd=folder)

    def stop() -> None:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)

    _session_finalizer(request)
    SERVICES.stops.append(stop)
    for step in ([str(bindir / "initdb"), "-D", str(data), "-U", "auditor", "-A", "trust",
                  "-E", "UTF8", "--no-sync"],
                 [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
                  "-w", "-t", "60", "-o",
                  f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]):
        done = run(*step)
        if done.returncode != 0:
            unavailable("PostgreSQL", f"{Path(step[0]).name} failed: "
                        f"{(done.stderr or done.stdout).strip()[-300:]}")
    SERVICES.postgres = f"postgresql://auditor@127.0.0.1:{port}"
    return SERVICES.postgres


def new_database(base: str) -> str:
    """A fresh, empty database on the server at `base`; its URL."""
    import psycopg

    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"
