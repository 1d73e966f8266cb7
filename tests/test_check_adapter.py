"""`adapters.testing.check_adapter`: every shipped reference searcher passes it, every shipped
system declares consistent capabilities, and broken adapters fail with a message naming the part."""

from __future__ import annotations

import pytest

from adapters import registry
from adapters.systems.external import ExternalSystem
from adapters.testing import AdapterCheckFailed, check_adapter, check_capabilities
from tests.conftest import WALL_CAP

CLASSES = {name: registry.adapter_class(name) for name in registry.SYSTEMS}
SEARCHERS = [n for n, cls in CLASSES.items() if not issubclass(cls, ExternalSystem)]


@pytest.mark.parametrize("system", SEARCHERS)
def test_reference_searchers_pass(system: str) -> None:
    try:
        registry.load(system)
    except registry.UnknownSystem as exc:  # gp without torch
        pytest.skip(str(exc))
    check_adapter(system, max_trials=1, wall_seconds=WALL_CAP)


@pytest.mark.parametrize("system", list(CLASSES))
def test_every_shipped_adapter_declares_consistent_capabilities(system: str) -> None:
    check_capabilities(CLASSES[system])


@pytest.mark.parametrize(("adapter", "message"), [
    ("tests.fault_adapters:Unmapped", "claims metric 'log_loss' but its metric_map does not"),
    ("tests.fault_adapters:BackwardTrial", r"fault on binary \(roc_auc\), trial 0: times"),
    ("tests.fault_adapters:WrongShape", "invalid predictions: predictions have shape"),
    ("tests.fault_adapters:Crasher", r"run\(\) raised"),
    ("tests.hostile_adapters:StringScore", "reported score '0.99' is not a finite"),
    ("tests.fault_adapters:NeedsOld",
     r"needs-old on binary \(roc_auc\): run\(\) raised SetupFailure"),
])
def test_broken_adapters_fail_naming_the_part(adapter: str, message: str) -> None:
    with pytest.raises(AdapterCheckFailed, match=message):
        check_adapter(adapter, max_trials=1, wall_seconds=WALL_CAP)


def test_a_non_adapter_is_refused() -> None:
    with pytest.raises(AdapterCheckFailed, match="is not an adapter"):
        check_adapter("adapters.contract:Budget")


def test_the_modules_a_suites_fork_server_preloads_are_its_adapters() -> None:
    """Each adapter's module once, import paths as given; a name that does not resolve is left
    to planning, which refuses it."""
    assert registry.modules(["tpe", "constant", "random", "tests.fault_adapters:Cheater",
                             "no-such-system"]) == (
        "adapters.searchers.baseline", "adapters.searchers.optuna_search", "tests.fault_adapters")
