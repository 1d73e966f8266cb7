"""Job leases: a runner leases a job before running it, so that runners sharing a store never run
the same job twice; a lease whose owner is gone is taken over (see `Store.lease`)."""

from __future__ import annotations

import socket

import psutil


def owner_id() -> str:
    """This process as a lease owner: host, pid and start time (pids are reused)."""
    me = psutil.Process()
    return f"{socket.gethostname()}/{me.pid}/{me.create_time():.2f}"


def dead_here(owner: str) -> bool:
    """True when `owner` ran on this host and that process is gone."""
    host, pid, started = owner.rsplit("/", 2)
    if host != socket.gethostname():
        return False
    try:
        return f"{psutil.Process(int(pid)).create_time():.2f}" != started
    except psutil.NoSuchProcess:
        return True
