"""Misbehaving systems become recorded failures with the right class; the suite completes."""

from __future__ import annotations

from pathlib import Path

from auditor.cli import main
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
