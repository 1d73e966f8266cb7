"""The fork server every local job is forked from, started ahead: `start` right after the suite
is read spawns it without waiting, so its heavy imports run beside the harness's own imports and
planning; `context` (when the runner opens) waits for what is left of them."""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
from collections.abc import Callable
from typing import Any

from auditor.execution import sandbox
from auditor.execution.confinement import thread_env

# what the fork server imports for every job, and for the adapters of a suite that names none
PRELOAD = ["auditor.execution.child", "pandas", "pyarrow.parquet", "threadpoolctl"]
SEARCHERS = ("adapters.searchers.baseline", "adapters.searchers.lgbm_default",
             "adapters.searchers.optuna_search")

# the server started ahead: its arguments, its sandbox, what it was started with there
# (`sandbox.server_key`), and what to call once it is up
_started: list[tuple[tuple[int, str, tuple[str, ...]], sandbox.Isolation, Any,
                     Callable[[], None]]] = []


def start(cores: int, level: str = "auto", adapters: tuple[str, ...] = (),
          found: sandbox.Isolation | None = None) -> None:
    """Spawn the fork server with the thread caps and the imports of the `adapters` modules
    (default every built-in searcher's: a suite of `constant` alone need not wait for LightGBM
    and Optuna), in the sandbox `level` gets on this machine (`found`, when probed already),
    without waiting for its imports."""
    from multiprocessing import forkserver

    mp.get_context("forkserver").set_forkserver_preload([*PRELOAD, *(adapters or SEARCHERS)])

    def spawn() -> None:
        os.environ.update(thread_env(cores))  # inherited by the fork server
        with sandbox.main_hidden():
            forkserver.ensure_running()

    found = found or sandbox.probe(level)
    key = sandbox.server_key(found)
    started = sandbox.start_server(found, spawn)
    atexit.register(started)  # when the run stops before `context`
    _started[:] = [((cores, level, adapters), found, key, started)]


def context(cores: int, level: str = "auto", adapters: tuple[str, ...] = ()) -> Any:
    """The fork server's context, its imports done: the one `start`ed ahead when it has the same
    arguments and would see the same folders, else one started now."""
    os.environ.update(thread_env(cores))
    if not (_started and _started[0][0] == (cores, level, adapters)
            and sandbox.server_key(_started[0][1]) == _started[0][2]):
        start(cores, level, adapters)
    (*_, started), = _started
    _started.clear()
    sandbox.await_imports(started)
    return mp.get_context("forkserver")
