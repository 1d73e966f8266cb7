"""Misbehaving systems become recorded failures with the right class; the suite completes."""

from __future__ import annotations

from pathlib import Path

from adapters.contract import STARTUP_CAP_S
from auditor.cli import main
from auditor.execution.local import HANDBACK_S
from tests.conftest import runs

FAULTS = {
    "sleeper": ("tests.fault_adapters:Sleeper", "timeout"),
    "hog": ("tests.fault_adapters:Hog", "oom"),
    "crasher": ("tests.fault_adapters:Crasher", "crash"),
    "nan": ("tests.fault_adapters:NaNPredictor", "invalid-output"),
}


def test_faults_are_classified_and_the_suite_goes_on(tmp_path: Path, suite_factory) -> None:
    wall, grace = 15.0, 1.0
    suite = suite_factory(
        grace_seconds=grace,
        budget={"wall_seconds": wall, "cores": 1, "memory_mb": 700},
        systems=["constant",
                 *({"system": ref, "label": label} for label, (ref, _) in FAULTS.items())],
    )
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--workers", "2"]) == 0
    rows = {r.system: r for r in runs(out)}
    assert set(rows) == {"constant", *FAULTS}
    assert rows["constant"].status == "ok"
    for label, (_, failure) in FAULTS.items():
        assert rows[label].status == "failed", label
        assert rows[label].failure_class == failure, (label, rows[label].failure_message)
    sleeper = rows["sleeper"]
    assert wall + grace <= sleeper.wall_s <= wall + grace + 5  # slack for a loaded machine
    assert sleeper.overrun == 1
    assert rows["hog"].peak_rss_mb >= 650  # a cgroup holds it at the limit; psutil sees it pass
    assert "deliberate failure" in rows["crasher"].failure_message
    assert "NaN" in rows["nan"].failure_message
    assert (out / "report.html").is_file()
    report = (out / "report.html").read_text()
    for failure in ("timeout", "oom", "crash", "invalid-output"):
        assert failure in report


def test_start_up_is_not_charged_to_the_budget_and_a_lie_about_it_gains_nothing(
        tmp_path: Path, suite_factory) -> None:
    wall, grace, startup = 10.0, 1.0, 6.0
    suite = suite_factory(
        grace_seconds=grace, budget={"wall_seconds": wall, "cores": 1, "memory_mb": 700},
        systems=[{"system": "tests.fault_adapters:SlowStarter", "label": "slow-start",
                  "options": {"startup_s": startup}},
                 {"system": "tests.fault_adapters:StartupLiar", "label": "liar"}])
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--workers", "2"]) == 0
    rows = {r.system: r for r in runs(out)}
    slow = rows["slow-start"]
    assert slow.status == "ok" and not slow.overrun, slow.failure_message
    assert startup <= slow.startup_s < slow.wall_s
    # its whole budget was still ahead when it began (a second of slack for a busy machine)
    left = float(slow.reported_on.split(": ")[1].split()[0])
    assert left >= wall - HANDBACK_S - 1.0
    liar = rows["liar"]
    assert liar.failure_class == "timeout"
    # the harness counts start-up only until it sees it said (a day), far below the cap
    assert liar.startup_s <= 30 < STARTUP_CAP_S
    assert liar.wall_s <= wall + grace + liar.startup_s + 5  # slack for a loaded machine
