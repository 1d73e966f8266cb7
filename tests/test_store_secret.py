"""The PostgreSQL password never reaches a command line, nor the environment of a process the
harness starts: `--store env:VAR` and $PGPASSWORD are read once and leave the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from auditor.config.errors import UsageError
from auditor.store.database import Store, take_secret_url
from tests.conftest import REPO

PASSWORD = "pw-never-on-a-command-line-7f3a"


def _watch(pid: int, stop: threading.Event, seen: dict[int, tuple[bytes, bytes]]) -> None:
    """Record the cmdline and environ of `pid` and of every descendant, until `stop`."""
    while not stop.wait(0.05):
        try:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                cmdline = Path(f"/proc/{p.pid}/cmdline").read_bytes()
                environ = Path(f"/proc/{p.pid}/environ").read_bytes()
            except OSError:
                continue
            seen[p.pid] = (cmdline, environ)


@pytest.mark.parametrize("route", ["env-var", "pgpassword"])
def test_password_is_on_no_command_line(route: str, tmp_path: Path, suite_factory,
                                        pg_url: str) -> None:
    # the test server trusts 127.0.0.1, so any password connects: what matters is where it goes
    scheme, rest = pg_url.split("://", 1)
    user, host = rest.split("@", 1)
    secret_url = f"{scheme}://{user}:{PASSWORD}@{host}"
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    if route == "env-var":
        env["AUDITOR_STORE"], store = secret_url, "env:AUDITOR_STORE"
    else:
        env["PGPASSWORD"], store = PASSWORD, pg_url
    # a job that lives a few seconds (killed at its wall), so that its process can be looked at
    suite = suite_factory(grace_seconds=1, budget={"wall_seconds": 3, "cores": 1,
                                                   "memory_mb": 1024},
                          systems=["constant", {"system": "tests.fault_adapters:Sleeper",
                                                "label": "sleeper"}])
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "run", str(suite), "--out",
                             str(tmp_path / "out"), "--store", store, "--workers", "1",
                             "--no-install"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seen: dict[int, tuple[bytes, bytes]] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(proc.pid, stop, seen))
    watcher.start()
    try:
        err = proc.communicate(timeout=600)[1]
    finally:
        stop.set()
        watcher.join()
    assert proc.returncode == 0, err
    assert PASSWORD not in err
    secret = PASSWORD.encode()
    children = {pid: v for pid, v in seen.items() if pid != proc.pid}
    assert len(children) >= 2, seen  # the fork server and the jobs were looked at
    assert all(secret not in cmdline for cmdline, _ in seen.values())
    assert all(secret not in environ for _, environ in children.values())
    recorded = Store(pg_url)
    try:
        assert {r.system for r in recorded.runs()} == {
            "constant", "sleeper"}
    finally:
        recorded.close()


def test_env_store_values(monkeypatch) -> None:
    monkeypatch.setenv("MY_STORE", "postgresql://u@h/db")
    monkeypatch.setenv("PGPASSWORD", "s3cret")
    url = take_secret_url("env:MY_STORE")
    assert url == "postgresql+psycopg://u:s3cret@h/db"
    assert "MY_STORE" not in os.environ and "PGPASSWORD" not in os.environ
    assert take_secret_url("sqlite:///x.sqlite") == "sqlite:///x.sqlite"
    with pytest.raises(UsageError, match=r"\$MY_STORE is not set"):
        take_secret_url("env:MY_STORE")
