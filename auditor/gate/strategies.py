"""Search strategies as regression-test candidates, and running one on a table task.

A strategy is written as one of

- `module.Class(key=value, ...)` — an Optuna sampler: any `optuna.samplers.BaseSampler` subclass,
  Optuna's or your own, with keyword arguments written as Python literals; a bare class name is
  looked up in `optuna.samplers` (`TPESampler(multivariate=True)`). Each run constructs it anew
  with `seed=` added, so leave `seed` out.
- `SAMPLER, PRUNER` — a sampler and an `optuna.pruners.BasePruner` (e.g. `RandomSampler(),
  HyperbandPruner(min_resource=1, max_resource=9)`): each trial climbs the table's fidelities
  1/9, 1/3, 1 (steps 1, 3, 9), reporting every rung and stopping when pruned, as the project's
  multi-fidelity searchers do; every rung adds its recorded time to the simulated clock.
- `module:function` — a function `propose(space, history, rng) -> config`, called once per trial:
  `space` is the `adapters.contract.SearchSpace`, `history` the list of earlier `PastTrial`s
  (the tabulated config that was evaluated, its validation score and its loss = the score turned
  into a quantity to minimise, NaN when the fit failed), `rng` a `numpy.random.Generator` seeded
  by the run's seed; it returns a dict of hyperparameter values (inactive conditionals left out).

Every suggested configuration is mapped to the nearest tabulated one
(`auditor.gate.benchmark_tables`) and its recorded scores are looked up: no model is trained. The
simulated clock of a run is the sum of the recorded evaluation times of everything it evaluated. A
run records its incumbent (the table row with the best full-fidelity validation score so far) after
every trial.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from adapters.contract import SearchSpace
from adapters.searchers.fidelity import climb
from adapters.spaces import suggest
from auditor.config.errors import UsageError
from auditor.gate.benchmark_tables import TableTask

FORMS = "`module.Class(key=value, ...)`, `SAMPLER, PRUNER` or `module:function`"


@dataclass(frozen=True)
class PastTrial:
    """One evaluated trial as a `propose` function sees it."""

    config: dict[str, Any]
    score: float
    loss: float


Propose = Callable[[SearchSpace, list[PastTrial], np.random.Generator], dict[str, Any]]


@dataclass(frozen=True)
class Strategy:
    """A parsed strategy: a sampler factory (and optionally a pruner factory), or a function."""

    spec: str
    sampler: Callable[[int], BaseSampler] | None = None
    pruner: Callable[[], BasePruner] | None = None
    propose: Propose | None = None


@dataclass
class RunRecord:
    """One run: `incumbents[i]` is the table row of the best full-fidelity score after trial i
    (-1 while none), `seconds` the simulated training time."""

    task: str
    seed: int
    incumbents: list[int]
    seconds: float


def parse_strategy(spec: str) -> Strategy:
    """Resolve a strategy string; every problem is a one-line UsageError."""
    text = spec.strip()
    if ":" in text and "(" not in text:
        return Strategy(text, propose=_function(text))
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise UsageError(f"strategy {text!r} is not one of {FORMS}") from None
    parts = tree.elts if isinstance(tree, ast.Tuple) else [tree]
    if len(parts) not in (1, 2):
        raise UsageError(f"strategy {text!r} has {len(parts)} parts — give a sampler and at most "
                         "one pruner")
    sampler = _factory(parts[0], BaseSampler, optuna.samplers, text)
    pruner = _factory(parts[1], BasePruner, optuna.pruners, text) if len(parts) == 2 else None
    return Strategy(text, lambda seed: sampler(seed=seed), pruner)


def _function(text: str) -> Propose:
    module, _, name = text.partition(":")
    fn = getattr(_import(module, text), name, None)
    if not callable(fn):
        raise UsageError(f"strategy {text!r}: module {module!r} has no function {name!r} — "
                         "check the name after the colon")
    try:
        inspect.signature(fn).bind(None, [], None)
    except (TypeError, ValueError):
        raise UsageError(f"strategy {text!r}: {name} must take (space, history, rng) — fix its "
                         "signature") from None
    return fn


def _import(module: str, text: str) -> Any:
    """Import `module` from the environment or, as `python -m` would, the current folder."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise UsageError(f"strategy {text!r}: cannot import {module!r} ({err}) — give an "
                         "importable module, e.g. optuna.samplers") from None


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (head := _dotted(node.value)):
        return f"{head}.{node.attr}"
    return None


def _factory(node: ast.expr, base: type, home: Any, text: str) -> Callable[..., Any]:
    """A factory for the class `node` names, checked by constructing one."""
    call = node if isinstance(node, ast.Call) else None
    path = _dotted(call.func if call else node)
    if path is None:
        raise UsageError(f"strategy {text!r} is not one of {FORMS}")
    if call and call.args:
        raise UsageError(f"strategy {text!r}: {path} takes keyword arguments only — write "
                         "key=value")
    kwargs: dict[str, Any] = {}
    for kw in call.keywords if call else []:
        if kw.arg is None:
            raise UsageError(f"strategy {text!r}: ** is not supported — write key=value")
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError):
            raise UsageError(f"strategy {text!r}: {kw.arg}= must be a Python literal (number, "
                             "string, True/False/None, list, dict)") from None
    module, _, name = path.rpartition(".")
    cls = getattr(_import(module, text) if module else home, name, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise UsageError(f"strategy {text!r}: {path} is not a subclass of {home.__name__}."
                         f"{base.__name__} — give such a class, or module:function")
    is_sampler = base is BaseSampler
    if is_sampler and "seed" in kwargs:
        raise UsageError(f"strategy {text!r}: leave out seed=; every run gets its own seed")

    def make(**extra: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(**kwargs, **extra)

    try:
        make(**({"seed": 0} if is_sampler else {}))
    except Exception as err:  # any failure of the user's class is a problem with the spec
        detail = " ".join(str(err).split())
        raise UsageError(f"strategy {text!r}: {path}(...) fails with {type(err).__name__}: "
                         f"{detail} — fix its keyword arguments"
                         + (" (each run adds seed=)" if is_sampler else "")) from None
    return make


def run(strategy: Strategy, task: TableTask, trials: int, seed: int) -> RunRecord:
    """Run `strategy` for `trials` trials on `task` with `seed`."""
    if strategy.propose is not None:
        return _run_function(strategy.propose, task, trials, seed)
    assert strategy.sampler is not None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        study_name=f"regress-{seed}", sampler=strategy.sampler(seed),
        pruner=strategy.pruner() if strategy.pruner else None,
        direction="maximize" if task.sign > 0 else "minimize")
    fidelities = task.table.fidelities
    first = 0 if strategy.pruner else len(fidelities) - 1  # without a pruner: full fidelity only
    incumbent, best, seconds, incumbents = -1, -np.inf, 0.0, []
    for _ in range(trials):
        trial = study.ask()
        row = int(task.table.nearest([suggest(trial, task.table.space)])[0])

        def look_up(rung: int, row: int = row) -> float | None:
            nonlocal seconds
            seconds += task.seconds[row, first + rung]
            value = float(task.valid[row, first + rung])
            return None if np.isnan(value) else value

        value = climb(study, trial, fidelities[first:], look_up)
        if value is not None and task.sign * value > best:
            incumbent, best = row, task.sign * value
        incumbents.append(incumbent)
    return RunRecord(task.name, seed, incumbents, seconds)


def _run_function(propose: Propose, task: TableTask, trials: int, seed: int) -> RunRecord:
    rng = np.random.default_rng(seed)
    space = task.table.space
    names = {hp.name for hp in space.hyperparameters}
    history: list[PastTrial] = []
    incumbent, best, seconds, incumbents = -1, -np.inf, 0.0, []
    for _ in range(trials):
        config = propose(space, list(history), rng)
        if not isinstance(config, dict) or not set(config) <= names:
            unknown = sorted(set(config) - names) if isinstance(config, dict) else []
            raise UsageError(f"the propose function returned {_what(config, unknown)} — return a "
                             f"dict with keys of {space.name}: {', '.join(sorted(names))}")
        row = int(task.table.nearest([config])[0])
        seconds += task.seconds[row, -1]
        score = float(task.valid[row, -1])
        history.append(PastTrial(task.table.configs[row], score, -task.sign * score))
        if task.sign * score > best:
            incumbent, best = row, task.sign * score
        incumbents.append(incumbent)
    return RunRecord(task.name, seed, incumbents, seconds)


def _what(config: Any, unknown: list[str]) -> str:
    if unknown:
        return f"the unknown hyperparameter {unknown[0]!r}"
    return f"a {type(config).__name__}, not a dict"
