"""Peak resident memory of one process image: the kernel's high-water mark of its own address
space (`VmHWM`), which an `exec` starts afresh. `ru_maxrss` does not: a child keeps the RSS its
parent had when it was spawned, so a big benchmark process would inflate every child's figure."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

LOOK_S = 0.02  # between looks at a running child's high-water mark


def hwm_mb(pid: int | str = "self") -> float:
    """`VmHWM` of process `pid` in MB (0.0 once it has gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) / 1024


def wait_peak(proc: subprocess.Popen[bytes]) -> tuple[int, float]:
    """Wait for `proc`; its exit status and the last high-water mark seen before it ended
    (looked at every `LOOK_S`: a rise in its last moment may be missed)."""
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, hwm_mb(proc.pid))
        time.sleep(LOOK_S)
    return proc.returncode, peak
