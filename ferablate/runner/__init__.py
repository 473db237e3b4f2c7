"""Runner layer: sweeps of trials, each trained by the engine and logged by tracking; the same
sweeps (and Optuna searches) on a shared study storage that many workers work on; a finished
study's appendix (tables and figures) in one call.

Names are imported from their modules on first use: ``run_sweep`` must answer a fully skipped
sweep without importing torch (the final and study runners import the engine and Optuna).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferablate.runner._status import SweepStatus, TrialStatus, sweep_status
from ferablate.tracking import TrialReport

if TYPE_CHECKING:
    from ferablate.runner._appendix import Appendix, write_appendix
    from ferablate.runner._final import (
        FINAL_EXPERIMENT,
        FinalOutcome,
        check_final,
        final_trial,
        run_final,
        score_splits,
        test_usages,
    )
    from ferablate.runner._loop import DataCache, Trainer, with_figures, work_queue
    from ferablate.runner._observer import QuietObserver, StudyObserver, StudyReady, SweepObserver
    from ferablate.runner._options import RunOptions, SearchOptions
    from ferablate.runner._study import (
        BestTrial,
        StudyReport,
        run_search,
        run_sweep_on_storage,
        work_on_study,
    )
    from ferablate.runner._sweep import run_sweep
    from ferablate.runner._ui_server import UiPlan, UiServer, plan_ui, serve_ui
else:  # training imports the engine (torch); ``sweep_status`` does not
    from ferablate._lazy import lazy_exports

    __getattr__ = lazy_exports(__name__, {
        "_appendix": ("Appendix", "write_appendix"),
        "_final": ("FINAL_EXPERIMENT", "FinalOutcome", "check_final", "final_trial", "run_final",
                   "score_splits", "test_usages"),
        "_loop": ("DataCache", "Trainer", "work_queue", "with_figures"),
        "_observer": ("QuietObserver", "StudyObserver", "StudyReady", "SweepObserver"),
        "_options": ("RunOptions", "SearchOptions"),
        "_study": ("BestTrial", "StudyReport", "run_search", "run_sweep_on_storage", "work_on_study"),
        "_sweep": ("run_sweep",),
        "_ui_server": ("UiPlan", "UiServer", "plan_ui", "serve_ui"),
    })  # fmt: skip

__all__ = [
    "FINAL_EXPERIMENT",
    "Appendix",
    "BestTrial",
    "DataCache",
    "FinalOutcome",
    "QuietObserver",
    "RunOptions",
    "SearchOptions",
    "StudyObserver",
    "StudyReady",
    "StudyReport",
    "SweepObserver",
    "SweepStatus",
    "Trainer",
    "TrialReport",
    "TrialStatus",
    "UiPlan",
    "UiServer",
    "check_final",
    "final_trial",
    "plan_ui",
    "run_final",
    "run_search",
    "run_sweep",
    "run_sweep_on_storage",
    "score_splits",
    "serve_ui",
    "sweep_status",
    "test_usages",
    "with_figures",
    "work_on_study",
    "work_queue",
    "write_appendix",
]
