"""Tracking layer: the only package that talks to MLflow.

Writing: :class:`TrialTracker` (an experiment) starts :class:`TrialRun` s (a trial's parent run
with one nested run per fold). Reading: :class:`RunStore` hands out :class:`StoredRun` /
:class:`StoredTrial` records and :class:`RunArtifacts`. The artifact layout, the run tags and
the mapping of a :class:`~ferablate.TrialOutcome` to an MLflow status live here only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferablate.tracking._artifacts import (
    CONFUSION_DIR,
    FIGURES_DIR,
    FINAL_WEIGHTS,
    RunArtifacts,
    StoredPredictions,
    fold_weights,
)
from ferablate.tracking._claims import finished_hashes, owner_alive
from ferablate.tracking._identity import (
    identify_trials,
    identity_of,
    is_legacy_run,
    machine_precision,
    run_identity,
)
from ferablate.tracking._lookup import SweepRuns, match_sweep, trial_run_id
from ferablate.tracking._queue import WAIT, Claim, StoreQueue, TrialQueue, TrialReport
from ferablate.tracking._runs import RunStore, StoredRun, StoredTrial, config_from_run
from ferablate.tracking._store import (
    DEFAULT_TRACKING_URI,
    TAG,
    artifact_root_for,
    git_commit,
    mlflow_ending,
    open_experiment,
    outcome_for_failure_tag,
    outcome_of_run,
    resolve_tracking_uri,
)
from ferablate.tracking._ui import (
    RunsView,
    UiServerCommand,
    experiment_name_for,
    runs_page_url,
    save_runs_view,
    ui_server_command,
)

if TYPE_CHECKING:
    from ferablate.tracking._tracker import TrialRun, TrialTracker
else:  # writing imports the engine (torch); reading the store does not
    from ferablate._lazy import lazy_exports

    __getattr__ = lazy_exports(__name__, {"_tracker": ("TrialRun", "TrialTracker")})

__all__ = [
    "CONFUSION_DIR",
    "DEFAULT_TRACKING_URI",
    "FIGURES_DIR",
    "FINAL_WEIGHTS",
    "TAG",
    "WAIT",
    "Claim",
    "RunArtifacts",
    "RunStore",
    "RunsView",
    "StoreQueue",
    "StoredPredictions",
    "StoredRun",
    "StoredTrial",
    "SweepRuns",
    "TrialQueue",
    "TrialReport",
    "TrialRun",
    "TrialTracker",
    "UiServerCommand",
    "artifact_root_for",
    "config_from_run",
    "experiment_name_for",
    "finished_hashes",
    "fold_weights",
    "git_commit",
    "identify_trials",
    "identity_of",
    "is_legacy_run",
    "machine_precision",
    "match_sweep",
    "mlflow_ending",
    "open_experiment",
    "outcome_for_failure_tag",
    "outcome_of_run",
    "owner_alive",
    "resolve_tracking_uri",
    "run_identity",
    "runs_page_url",
    "save_runs_view",
    "trial_run_id",
    "ui_server_command",
]
