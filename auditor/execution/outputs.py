"""What a system hands back, checked in the harness before any of it reaches the store.

Predictions are what the audit scores: a file of the wrong shape or dtype, or far too large, is
`invalid-output`, judged from its .npy header before it is loaded. The system's account of its
search is kept where it is well formed and dropped, with a note on the run, where it is not: a
reported score that is not a finite real number, a count that is not an integer (an integral
float is taken as the integer), a search space that does not fit its schema, a trial with
unusable fields, JSON too large to keep. Text is cut at `TEXT_CAP` characters, with a note.
Runs stored before these checks existed are cleaned when their store is upgraded.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, overload

from adapters import protocol
from adapters.contract import (
    FailureClass,
    RunResult,
    Trial,
    prediction_problem,
    prediction_shape,
)

TEXT_CAP = 10_000  # characters of a text field
JSON_CAP = 200_000  # characters of a JSON field (best config, search space, environment)
RESULT_CAP = 64 * 2**20  # bytes of a result or error file
DETAIL_LINES = 100  # lines of traceback / stderr kept for a failed run
DISK_FULL_MB = 64  # less free than this on a job folder's file system: the disk is full
MAX_COUNT = 2**31 - 1  # the largest count every store's INTEGER column holds
HP_TYPES = ("float", "int", "categorical")
SPACE_COUNTS = ("conditional", "unconditional", "conditions", "forbidden")
EXTRA_REALS = ("search_s", "cpu_s", "maxrss_mb")


def _repr(value: object) -> str:
    try:
        return repr(value)
    except (ValueError, RecursionError):  # an int past Python's digit limit, deep nesting
        return f"<{type(value).__name__}>"


def shown(value: object) -> str:
    """A value as a note quotes it: its repr, cut at 40 characters."""
    text = _repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def real(value: object) -> float | None:
    """`value` as a finite float, or None when it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def count(value: object) -> int | None:
    """`value` as an integer from 0 to `MAX_COUNT` (an integral float too), or None."""
    number = real(value)
    if number is None or not number.is_integer() or not 0 <= number <= MAX_COUNT:
        return None
    return int(number)


def storable(value: str) -> str:
    """`value` without what a store's TEXT cannot hold (NUL, lone surrogates): replaced."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


@overload
def text(value: str, what: str, notes: list[str], limit: int = TEXT_CAP) -> str: ...
@overload
def text(value: object, what: str, notes: list[str], limit: int = TEXT_CAP) -> str | None: ...
def text(value: object, what: str, notes: list[str], limit: int = TEXT_CAP) -> str | None:
    """`value` as text of at most `limit` characters; a note says what was changed."""
    if value is None:
        return None
    if not isinstance(value, str):
        notes.append(f"{what} was {type(value).__name__}, not text; kept as text")
        value = _repr(value)[:limit + 1]
    if len(value) > limit:
        notes.append(f"{what} cut to {limit:,} of {len(value):,} characters")
        value = value[:limit]
    return storable(value)


def _json_size(value: object) -> int | None:
    try:
        return len(json.dumps(value, default=str))
    except (ValueError, TypeError, RecursionError):
        return None


def _too_large(value: object) -> str | None:
    size = _json_size(value)
    if size is not None and size <= JSON_CAP:
        return None
    return f"it is not JSON of at most {JSON_CAP:,} characters"


def space_problem(space: object) -> str | None:
    """Why a search-space description does not fit the schema (`SearchSpace.as_dict()`, or a
    system's summary: name, dimension and optional counts), or None when it fits."""
    if not isinstance(space, dict):
        return f"it is {type(space).__name__}, not an object"
    if not isinstance(space.get("name"), str):
        return "it has no 'name' text"
    if count(space.get("dimension")) is None:
        return "its 'dimension' is not an integer ≥ 0"
    if not isinstance(space.get("description", ""), str):
        return "its 'description' is not text"
    for key in SPACE_COUNTS:
        if key in space and count(space[key]) is None:
            return f"its {key!r} is not an integer ≥ 0"
    hps = space.get("hyperparameters")
    if hps is None:
        return None
    if not isinstance(hps, list) or len(hps) != space["dimension"]:
        return "its 'hyperparameters' is not a list of 'dimension' entries"
    for hp in hps:
        if problem := _hp_problem(hp):
            name = hp.get("name") if isinstance(hp, dict) else hp
            return f"hyperparameter {shown(name)}: {problem}"
    return None


def _hp_problem(hp: object) -> str | None:
    if not isinstance(hp, dict) or not isinstance(hp.get("name"), str):
        return "not an object with a 'name'"
    if hp.get("type") not in HP_TYPES:
        return f"'type' is not one of {', '.join(HP_TYPES)}"
    if hp["type"] == "categorical":
        choices = hp.get("choices")
        if not isinstance(choices, list) or not choices:
            return "'choices' is not a non-empty list"
    else:
        bounds = hp.get("range")
        if (not isinstance(bounds, list) or len(bounds) != 2
                or (low := real(bounds[0])) is None or (high := real(bounds[1])) is None
                or low > high):
            return "'range' is not [low, high] with finite low ≤ high"
    if not isinstance(hp.get("log", False), bool):
        return "'log' is not true or false"
    condition = hp.get("condition")
    if condition is not None and not (isinstance(condition, dict)
                                      and isinstance(condition.get("parent"), str)
                                      and isinstance(condition.get("values"), list)):
        return "'condition' is not {parent, values}"
    return None


def _trial(t: Trial) -> Trial | None:
    """The trial with its fields checked, or None when one is unusable."""
    number, start, end = count(t.number), real(t.start), real(t.end)
    fidelity = real(t.fidelity)
    if (number is None or start is None or end is None or fidelity is None
            or not isinstance(t.config, dict)
            or not isinstance(t.status, str) or len(t.status) > 40
            or (t.score is not None and real(t.score) is None)
            or (t.cpu_s is not None and real(t.cpu_s) is None)
            or _too_large(t.config)):
        return None
    return replace(t, number=number, start=start, end=end, fidelity=fidelity,
                   status=storable(t.status), score=real(t.score), cpu_s=real(t.cpu_s))


def _json_field(value: object, what: str, empty: Any, notes: list[str]) -> Any:
    if not isinstance(value, dict):
        notes.append(f"{what} was {type(value).__name__}, not an object; dropped")
        return empty
    if why := _too_large(value):
        notes.append(f"{what} dropped: {why}")
        return empty
    return value


def check_result(result: RunResult, extra: dict[str, Any]
                 ) -> tuple[RunResult, dict[str, Any], list[str]]:
    """The result and extra fields fit for the store, and notes on what was changed."""
    notes: list[str] = []
    score = real(result.reported_score)
    if score is None and result.reported_score is not None:
        notes.append(f"reported score {shown(result.reported_score)} is not a finite real "
                     "number; recorded without a reported score")
    n_configs = count(result.n_configs)
    if n_configs is None and result.n_configs is not None:
        notes.append(f"n_configs {shown(result.n_configs)} is not an integer from 0 to "
                     f"{MAX_COUNT:,}; dropped")
    space = result.search_space
    if space is not None and (why := space_problem(space) or _too_large(space)):
        notes.append(f"search space dropped: {why}")
        space = None
    trials = [t for t in map(_trial, result.trials if isinstance(result.trials, list) else [])
              if t is not None]
    if len(trials) != (len(result.trials) if isinstance(result.trials, list) else 0):
        notes.append(f"{len(result.trials) - len(trials)} trial(s) with unusable fields dropped")
    checked = replace(
        result, reported_score=score, search_space=space, trials=trials,
        n_configs=n_configs,  # type: ignore[arg-type]  # None: count dropped
        reported_on=text(result.reported_on, "reported_on", notes),
        model_description=text(result.model_description, "model description", notes),
        best_config=_json_field(result.best_config, "best config", {}, notes),
        environment=_json_field(result.environment, "environment", {}, notes))
    kept: dict[str, Any] = {k: real(extra.get(k)) for k in EXTRA_REALS if k in extra}
    if "system_version" in extra:
        kept["system_version"] = text(extra["system_version"], "system version", notes, 200)
    return checked, {k: v for k, v in kept.items() if v is not None}, notes


def read_checked(folder: Path, shape: tuple[int, ...]
                 ) -> tuple[RunResult, dict[str, Any], list[str]]:
    """The job's result, read with its size and predictions header checked first, then checked
    field by field; raises ValueError when it is unusable as a whole."""
    size = (folder / protocol.RESULT).stat().st_size
    if size > RESULT_CAP:
        raise ValueError(f"{protocol.RESULT} holds {size:,} bytes (at most {RESULT_CAP:,})")
    try:
        result, extra = protocol.read_result(folder, shape)
    except RecursionError:
        raise ValueError(f"{protocol.RESULT} is nested too deeply") from None
    return check_result(result, extra)


def read_job_error(folder: Path) -> tuple[str, str, str] | None:
    """(failure class, message, detail) of the job's error file, checked; None without one."""
    path = folder / protocol.ERROR
    if not path.exists():
        return None
    try:
        if path.stat().st_size > RESULT_CAP:
            raise ValueError("too large")
        error = protocol.read_error(folder)
    except (ValueError, OSError, RecursionError) as exc:
        return FailureClass.CRASH, f"unreadable {protocol.ERROR}: {str(exc)[:200]}", ""
    if not isinstance(error, dict):
        return FailureClass.CRASH, f"{protocol.ERROR} is not an object", ""
    failure = error.get("failure_class")
    notes: list[str] = []
    message = text(error.get("message"), "message", notes, 500) or "no message"
    known = failure in tuple(FailureClass)  # any other class the job names becomes a crash
    return (FailureClass(failure) if known else FailureClass.CRASH, message,
            tail(text(error.get("detail"), "detail", notes, 200_000) or ""))


def read_outcome(folder: Path, n_holdout: int, task_type: str, n_classes: int,
                 exitcode: int | None) -> tuple[str | None, str | None, str, RunResult | None,
                                                dict[str, Any], list[str]]:
    """What a job that was not killed left in its folder: (failure class or None, message,
    detail, result, extra, notes). A job's claim that the machinery failed stands only when the
    harness sees the job folder's file system full."""
    if (error := read_job_error(folder)) is not None:
        failure, message, detail = error
        if failure == FailureClass.INFRASTRUCTURE and not disk_full(folder):
            failure = FailureClass.CRASH  # a system's word is not the machinery's fault
            message = f"{message} (said to be the machinery's fault; the disk is not full)"
        return failure, message, detail, None, {}, []
    if not (folder / protocol.RESULT).exists():
        message = (f"process killed by signal {-exitcode}" if exitcode and exitcode < 0
                   else f"process exited with code {exitcode} and no result")
        if disk_full(folder):  # not even an error file could be written
            return (FailureClass.INFRASTRUCTURE,
                    f"no space left on the job folder's file system ({message})", "", None, {}, [])
        return FailureClass.CRASH, message, "", None, {}, []
    try:
        result, extra, notes = read_checked(folder, prediction_shape(n_holdout, task_type,
                                                                     n_classes))
    except Exception as exc:  # whatever the job wrote, it must not crash the harness
        why = storable(str(exc)[:500]) or type(exc).__name__
        return FailureClass.INVALID_OUTPUT, why, "", None, {}, []
    problem = prediction_problem(result.predictions, n_holdout, task_type, n_classes)
    return (FailureClass.INVALID_OUTPUT if problem else None), problem, "", result, extra, notes


def disk_full(folder: Path, spare_mb: float = DISK_FULL_MB) -> bool:
    """True when the file system of a job's folder has less than `spare_mb` left for a job's
    user: only then is a job's "no space left" the machinery's fault, not a system's claim."""
    try:
        return shutil.disk_usage(folder).free < spare_mb * 2**20
    except OSError:
        return False


def tail(detail: str, lines: int = DETAIL_LINES) -> str:
    """The last `lines` lines of `detail`, each cut at 500 characters."""
    return storable("\n".join(line[:500] for line in detail.splitlines()[-lines:]))


def stderr_tail(path: Path, size: int = 1 << 16) -> str:
    """The last lines of a job's stderr file (read from its last `size` bytes), headed, or ""."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            text = f.read().decode(errors="replace").strip()
    except OSError:
        return ""
    return f"-- stderr --\n{tail(text)}" if text else ""


def drop_links(folder: Path) -> None:
    """Remove what is not a plain file or folder at the top of an ended job's folder: the
    harness reads its files as itself, and a link could point it at any file it may read."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
                entry.unlink()
