"""Runner layer: sweeps of trials, each trained by the engine and logged by tracking; the same
sweeps (and Optuna searches) on a shared study storage that many workers work on.

Names are imported from their modules on first use: ``run_sweep`` must answer a fully skipped
sweep without importing torch (the final and study runners import the engine and Optuna).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ferablate.runner._final import (
        FINAL_EXPERIMENT,
        FinalOutcome,
        run_final,
        score_splits,
        test_usages,
    )
    from ferablate.runner._study import (
        BestTrial,
        StudyObserver,
        StudyReady,
        StudyReport,
        run_search,
        run_sweep_on_storage,
        work_on_study,
    )
    from ferablate.runner._sweep import (
        DataCache,
        QuietObserver,
        SweepObserver,
        TrialReport,
        execute_trial,
        run_sweep,
        with_figures,
    )

_MODULES = {
    "_final": ("FINAL_EXPERIMENT", "FinalOutcome", "run_final", "score_splits", "test_usages"),
    "_study": (
        "BestTrial",
        "StudyObserver",
        "StudyReady",
        "StudyReport",
        "run_search",
        "run_sweep_on_storage",
        "work_on_study",
    ),
    "_sweep": (
        "DataCache",
        "QuietObserver",
        "SweepObserver",
        "TrialReport",
        "execute_trial",
        "run_sweep",
        "with_figures",
    ),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "FINAL_EXPERIMENT",
    "BestTrial",
    "DataCache",
    "FinalOutcome",
    "QuietObserver",
    "StudyObserver",
    "StudyReady",
    "StudyReport",
    "SweepObserver",
    "TrialReport",
    "execute_trial",
    "run_final",
    "run_search",
    "run_sweep",
    "run_sweep_on_storage",
    "score_splits",
    "test_usages",
    "with_figures",
    "work_on_study",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"ferablate.runner.{_HOME[name]}"), name)
