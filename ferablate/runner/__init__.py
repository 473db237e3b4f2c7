"""Runner layer: sweeps of trials, each trained by the engine and logged by tracking."""

from __future__ import annotations

from ferablate.runner._final import (
    FINAL_EXPERIMENT,
    FinalOutcome,
    run_final,
    score_splits,
    test_usages,
)
from ferablate.runner._sweep import (
    DataCache,
    SweepObserver,
    TrialOutcome,
    execute_trial,
    run_sweep,
    with_figures,
)
from ferablate.runner._ui_server import UiPlan, UiServer, plan_ui, serve_ui

__all__ = [
    "FINAL_EXPERIMENT",
    "DataCache",
    "FinalOutcome",
    "SweepObserver",
    "TrialOutcome",
    "UiPlan",
    "UiServer",
    "execute_trial",
    "plan_ui",
    "run_final",
    "run_sweep",
    "score_splits",
    "serve_ui",
    "test_usages",
    "with_figures",
]
