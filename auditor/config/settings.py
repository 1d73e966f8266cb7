"""The harness's own settings: command-line options over `AUDITOR_*` environment variables.

One `Settings` is made per command and passed down; job processes get `child_env()` through
their job file, since a system's own environment is found there through `AUDITOR_ENVS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.failures import ENVS_VAR

CACHE_VAR = "AUDITOR_OPENML_CACHE"
OFFLINE_VAR = "AUDITOR_OFFLINE"
SERVER_VAR = "AUDITOR_OPENML_SERVER"
TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """System environments folder and OpenML client settings (None: the tool's own default)."""

    envs: Path | None = None
    openml_cache: Path | None = None
    openml_server: str | None = None
    offline: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls(envs=Path(environ[ENVS_VAR]) if environ.get(ENVS_VAR) else None,
                   openml_cache=Path(environ[CACHE_VAR]) if environ.get(CACHE_VAR) else None,
                   openml_server=environ.get(SERVER_VAR) or None,
                   offline=environ.get(OFFLINE_VAR, "").strip().lower() in TRUE)

    @classmethod
    def from_args(cls, args: Any, environ: Mapping[str, str] = os.environ) -> Settings:
        """The options a command was given (`--envs`, `--openml-cache`, `--openml-server`,
        `--offline`), each over its environment variable."""
        base = cls.from_environ(environ)
        envs = getattr(args, "envs", None)
        return cls(envs=envs.resolve() if envs else base.envs,
                   openml_cache=getattr(args, "openml_cache", None) or base.openml_cache,
                   openml_server=getattr(args, "openml_server", None) or base.openml_server,
                   offline=bool(getattr(args, "offline", False)) or base.offline)

    def child_env(self) -> dict[str, str]:
        """The environment variables that carry these settings to a job's process."""
        env = {ENVS_VAR: self.envs, CACHE_VAR: self.openml_cache, SERVER_VAR: self.openml_server,
               OFFLINE_VAR: "1" if self.offline else None}
        return {k: str(v) for k, v in env.items() if v is not None}
