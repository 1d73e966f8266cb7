"""AutoGluon Tabular in its own environment (`adapters/envs/autogluon.txt`)."""

from __future__ import annotations

from adapters.environments import EnvSpec
from adapters.external import ExternalSystem


class AutoGluon(ExternalSystem):
    """Options: `presets` (default "medium_quality")."""

    name = "autogluon"
    env = EnvSpec("autogluon", "", ("autogluon.txt",),
                  "import autogluon.tabular as ag; print(ag.__version__)")
    module = "adapters.autogluon_tabular"
