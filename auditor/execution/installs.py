"""`auditor systems list | install | check`: the systems and their environments."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from adapters import registry
from adapters.contract import SetupFailure
from adapters.systems import environments
from adapters.systems.environments import EnvSpec
from adapters.systems.external import ExternalSystem
from auditor.config.errors import UsageError


def env_spec(system: str) -> EnvSpec | None:
    """The environment spec of a system that runs in its own environment, else None."""
    try:
        cls = registry.adapter_class(system)
    except registry.UnknownSystem as exc:
        raise UsageError(str(exc)) from None
    return cls.env if issubclass(cls, ExternalSystem) else None


def status(spec: EnvSpec | None, root: Path | None = None) -> str:
    if spec is None:
        return "ready (runs in the harness's environment)"
    try:
        marker = environments.ready(spec, root)
    except SetupFailure as exc:
        return str(exc)
    return f"ready: {spec.name} {marker['version']}, python {marker['python']}"


def list_systems(root: Path | None = None) -> list[tuple[str, str, str]]:
    """(name, python it needs, status) for every registered system."""
    rows = []
    for name in registry.SYSTEMS:
        spec = env_spec(name)
        python = "harness" if spec is None else (spec.python or "harness version")
        rows.append((name, python, status(spec, root)))
    return rows


def install(system: str, root: Path | None = None, python: str | None = None,
            say: Callable[[str], None] = print, force: bool = False,
            skip_unavailable: bool = False) -> None:
    """Build the system's environment unless an up-to-date one is there (or `force`); with
    `skip_unavailable`, say why and go on when the machine lacks what the system needs."""
    spec = env_spec(system)
    if spec is None:
        say(f"{system}: runs in the harness's environment; nothing to install")
        return
    why = environments.unavailable(spec) if skip_unavailable and python is None else None
    if why:
        say(f"{system}: skipped: {why}")
        return
    if not force:
        try:
            marker = environments.ready(spec, root)
        except SetupFailure:
            pass
        else:
            say(f"{system}: already installed ({marker['version']}); --force rebuilds it")
            return
    environments.install(spec, root, python, say)


def check(system: str, root: Path | None = None) -> str:
    """Run the import check again inside the installed environment; raise SetupFailure if bad."""
    spec = env_spec(system)
    if spec is None:
        return f"{system}: runs in the harness's environment (python {sys.version.split()[0]})"
    marker = environments.ready(spec, root)
    done = subprocess.run([marker["python_path"], "-c", spec.check], capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise SetupFailure(f"import check of {spec.name} failed: {last}; "
                           f"run `auditor systems install {system}`")
    return (f"{system}: {spec.name} {done.stdout.strip()}, python {marker['python']}, "
            f"pip freeze sha256 {marker['freeze_sha256'][:16]}…")


def ensure_installed(systems: list[str], root: Path | None,
                     say: Callable[[str], None]) -> None:
    """Before a run: build missing environments. A failure is only said here; the run records
    it as a `setup` failure of each of that system's jobs."""
    for system in dict.fromkeys(systems):
        spec = env_spec(system)
        if spec is None:
            continue
        try:
            environments.ready(spec, root)
        except SetupFailure:
            try:
                environments.install(spec, root, None, say)
            except SetupFailure as exc:
                say(f"{system}: setup failed: {exc}")
