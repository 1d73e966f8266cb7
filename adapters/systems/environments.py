"""One virtual environment per third-party system, from pinned requirement files in this repo.

An environment is built in a temporary folder and renamed into place only after every install
step and the import check have passed, so a half-made environment never exists under its real
name. The folder's `auditor-env.json` records the interpreter, the system's version and the sha256
of its `pip freeze`; runs copy it into the store.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adapters.contract import SetupFailure
from adapters.failures import ENVS_VAR

MARKER = "auditor-env.json"
REQUIREMENTS = Path(__file__).parent  # each system's folder holds its requirement files


@dataclass(frozen=True)
class EnvSpec:
    """How to build a system's environment.

    `steps` are requirement files relative to `adapters/systems/` (`NAME/requirements.txt`),
    installed in order; a file whose name contains `no-build-isolation` or `no-deps` is installed
    with that pip flag. `check` is Python code that imports the system and prints its version.
    """

    name: str
    python: str  # "MAJOR.MINOR" the system needs, or "" for the harness's own version
    steps: tuple[str, ...]
    check: str
    programs: tuple[tuple[str, str], ...] = ()  # (program on PATH, how to get it) it runs with

    def files(self) -> list[Path]:
        """Requirement files: paths relative to `adapters/systems/`, or absolute paths."""
        return [REQUIREMENTS / step for step in self.steps]

    def requirements_sha256(self) -> str:
        h = hashlib.sha256()
        for f in self.files():
            h.update(f.read_bytes())
        return h.hexdigest()


def envs_root(override: Path | None = None) -> Path:
    if override is not None:
        return override
    if os.environ.get(ENVS_VAR):
        return Path(os.environ[ENVS_VAR])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "automl-auditor" / "envs"


def _version_of(python: str) -> str:
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def find_python(version: str) -> str | None:
    """An interpreter of `version` on PATH or under pyenv, or None."""
    if not version or version == "{}.{}".format(*sys.version_info[:2]):
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python"), reverse=True)
    for c in candidates:
        if c and os.access(c, os.X_OK) and _version_of(c) == version:
            return c
    return None


def unavailable(spec: EnvSpec) -> str | None:
    """Why this machine cannot build or run the environment (a missing interpreter or program,
    with how to get it), or None when it can."""
    if find_python(spec.python) is None:
        return (f"{spec.name} needs CPython {spec.python}, not found on PATH or under pyenv; "
                f"install one (e.g. `pyenv install {spec.python}`)")
    for program, how in spec.programs:
        if shutil.which(program) is None:
            return f"{spec.name} needs `{program}` on PATH; install {how}"
    return None


def _python_for(spec: EnvSpec, python: str | None) -> str:
    if python is not None:
        if not (os.access(python, os.X_OK) and Path(python).is_file()):
            raise SetupFailure(f"--python {python} is not an executable file; give the path to "
                               f"a Python {spec.python or 'interpreter'}")
        found = _version_of(python)
        if spec.python and found != spec.python:
            raise SetupFailure(f"{spec.name} needs Python {spec.python} but {python} is "
                               f"{found or 'not a working interpreter'}; pass a {spec.python} "
                               "interpreter with --python")
        return python
    interpreter = find_python(spec.python)
    if interpreter is None:
        raise SetupFailure(
            f"{spec.name} needs Python {spec.python} and none was found on PATH or under pyenv; "
            f"install one (e.g. `pyenv install {spec.python}`) and pass it with --python PATH")
    return interpreter


def env_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def _failed_note(spec: EnvSpec, root: Path | None) -> Path:
    return envs_root(root) / f"{spec.name}.install-failed"


def ready(spec: EnvSpec, root: Path | None = None) -> dict:
    """The marker of a finished, up-to-date environment; SetupFailure with the fix otherwise."""
    folder = envs_root(root) / spec.name
    marker = folder / MARKER
    fix = f"run `auditor systems install {spec.name}`"
    if not marker.is_file() or not env_python(folder).exists():
        failed = _failed_note(spec, root)
        if failed.is_file():
            raise SetupFailure(f"the {spec.name} environment failed to install: "
                               f"{failed.read_text().strip()}")
        raise SetupFailure(f"the {spec.name} environment is not installed in {folder.parent}; "
                           f"{fix}")
    info = json.loads(marker.read_text())
    if info.get("requirements_sha256") != spec.requirements_sha256():
        raise SetupFailure(f"the {spec.name} environment is out of date with its requirement "
                           f"files; {fix}")
    info["python_path"] = str(env_python(folder))
    return info


def _run_step(cmd: list, log: Path, what: str) -> None:
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = [line for line in log.read_text().splitlines() if line.strip()][-1:]
        reason = tail[0].strip()[:300] if tail else f"exit code {done.returncode}"
        raise SetupFailure(f"{what} failed: {reason} (full log: {log})")


def install(spec: EnvSpec, root: Path | None = None, python: str | None = None,
            say: Callable[[str], None] = print) -> dict:
    """Build the environment from scratch; returns its marker."""
    interpreter = _python_for(spec, python)
    base = envs_root(root)
    base.mkdir(parents=True, exist_ok=True)
    final = base / spec.name
    building = base / f".{spec.name}.building"
    log = base / f"{spec.name}.install.log"
    shutil.rmtree(building, ignore_errors=True)
    log.write_text("")
    try:
        say(f"{spec.name}: creating a virtual environment with {interpreter}")
        _run_step([interpreter, "-m", "venv", str(building)], log, "creating the venv")
        pip = [str(env_python(building)), "-m", "pip", "install", "--no-cache-dir",
               "--disable-pip-version-check", "-q"]
        for step in spec.steps:
            say(f"{spec.name}: pip install -r {step}")
            flags = [f"--{flag}" for flag in ("no-build-isolation", "no-deps") if flag in step]
            _run_step(pip + flags + ["-r", str(REQUIREMENTS / step)], log,
                      f"installing {Path(step).name}")
        say(f"{spec.name}: checking the import")
        check = subprocess.run([str(env_python(building)), "-c", spec.check],
                               capture_output=True, text=True, timeout=300)
        if check.returncode != 0:
            last = (check.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise SetupFailure(f"import check of {spec.name} failed: {last}")
        freeze = subprocess.run([str(env_python(building)), "-m", "pip", "freeze"],
                                capture_output=True, text=True, timeout=120).stdout
        marker = {
            "system": spec.name,
            "version": check.stdout.strip().splitlines()[-1],
            "python": _version_of(str(env_python(building))),
            "freeze_sha256": hashlib.sha256(freeze.encode()).hexdigest(),
            "requirements_sha256": spec.requirements_sha256(),
            "freeze": freeze.splitlines(),
        }
        (building / MARKER).write_text(json.dumps(marker, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(building, final)  # the harness only ever calls `bin/python`, which moves along
    except SetupFailure as exc:
        shutil.rmtree(building, ignore_errors=True)
        _failed_note(spec, root).write_text(str(exc))
        raise
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _failed_note(spec, root).unlink(missing_ok=True)
    say(f"{spec.name}: ready ({marker['version']}, python {marker['python']}) in {final}")
    return marker
