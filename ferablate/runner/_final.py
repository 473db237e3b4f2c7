"""Final training: one model on all of Training, scored on the test splits, logged to MLflow.

The run (tag ``ferablate.role=final``) holds per-epoch ``train_loss``/``test_loss``/
``test_accuracy``/``test_precision``/``test_recall`` on all test faces together, then the
final scores of every test split on its own and of all together (accuracy, macro precision
and recall, per-class recall), the confusion matrices (CSV + PNG), the predictions and the
weights ``weights/final.pt`` (a plain state dict: ``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ferablate._errors import DataError
from ferablate._logging import get_logger
from ferablate._outcome import TrialOutcome
from ferablate.config import CLASS_NAMES, Trial, TrialConfig, preset_trial, sweep_target
from ferablate.data import ALL_USAGES, FaceData
from ferablate.engine import (
    EpochMetrics,
    TrialCallback,
    TrialResult,
    check_model_size,
    check_trial,
    confusion,
    fold_metrics,
    train_final,
)
from ferablate.runner._loop import DataCache, with_figures
from ferablate.tracking import FINAL_WEIGHTS, TAG, TrialRun, TrialTracker

__all__ = [
    "FINAL_EXPERIMENT",
    "FinalOutcome",
    "check_final",
    "final_trial",
    "run_final",
    "score_splits",
    "test_usages",
]

_log = get_logger(__name__)

FINAL_EXPERIMENT = "final"  # experiment of final runs started from a preset (no sweep)
WEIGHTS_ARTIFACT = FINAL_WEIGHTS
_PER_EPOCH = frozenset({"test_accuracy", "test_precision", "test_recall"})


@dataclass
class FinalOutcome:
    trial: Trial
    run_id: str
    metrics: dict[str, float]  # test_* (all test faces), <split>_* per split, per-class recall
    splits: tuple[str, ...]  # the test splits scored, e.g. ("PublicTest", "PrivateTest")
    result: TrialResult
    confusions: dict[str, np.ndarray] = field(default_factory=dict)  # "test" / split key -> (7, 7)


def final_trial(
    target: str, variant: str | None, overrides: Mapping[str, object]
) -> tuple[Trial, str]:
    """The trial to train and its experiment: a sweep file's variant (the sweep's experiment)
    or a preset name (experiment :data:`FINAL_EXPERIMENT`); ``overrides`` apply last."""
    found = sweep_target(target, variant, overrides)
    if found is None:
        return preset_trial(target, overrides), FINAL_EXPERIMENT
    return found[1], found[0].name


def test_usages(faces: FaceData) -> tuple[str, ...]:
    """The test splits ``faces`` holds (FER2013: PublicTest, PrivateTest; a folder: Test)."""
    found = tuple(usage for usage in ALL_USAGES if usage != "Training" and usage in faces.usages)
    if not found:
        raise DataError(
            f"{faces.source}: no test faces (splits present: {', '.join(faces.usages) or 'none'}); "
            "final training scores PublicTest/PrivateTest (CSV) or test/ (image folder)"
        )
    return found


def _split_key(usage: str) -> str:
    return usage.lower()  # "PublicTest" -> "publictest"


def score_splits(
    labels: np.ndarray, predictions: np.ndarray, usage: np.ndarray, splits: Sequence[str]
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Scores of every split alone and of all together (``test``): accuracy, macro precision
    and recall, recall per class; plus each one's 7x7 confusion matrix (rows = true class)."""
    metrics: dict[str, float] = {}
    confusions: dict[str, np.ndarray] = {}
    groups = [("test", np.ones(labels.shape[0], dtype=bool))]
    if len(splits) > 1:
        groups += [(_split_key(split), usage == split) for split in splits]
    for key, mask in groups:
        y_true, y_pred = labels[mask], predictions[mask]
        for name, value in fold_metrics(y_true, y_pred).items():
            metrics[f"{key}_{name.removeprefix('val_')}"] = value
        matrix = confusion(y_true, y_pred)
        confusions[key] = matrix
        totals = matrix.sum(axis=1)
        for index, class_name in enumerate(CLASS_NAMES):
            if totals[index]:
                metrics[f"{key}_recall_{class_name}"] = float(matrix[index, index] / totals[index])
    return metrics, confusions


class _FinalMetrics(TrialCallback):
    """Logs the per-epoch curves of the final run (the evaluation set is the test faces)."""

    def __init__(self, run: TrialRun) -> None:
        self.run = run

    def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
        entry = metrics[0]
        values = {
            "train_loss": entry.train_loss,
            "test_loss": entry.val_loss,
            "test_accuracy": entry.val_accuracy,
            "test_precision": entry.val_precision,
            "test_recall": entry.val_recall,
        }
        self.run.log_metrics(values, step=epoch)


def _write_confusion(directory: Path, key: str, matrix: np.ndarray, title: str) -> None:
    import pandas as pd
    from matplotlib.figure import Figure  # no pyplot: no global figure state
    from sklearn.metrics import ConfusionMatrixDisplay

    frame = pd.DataFrame(matrix, index=list(CLASS_NAMES), columns=list(CLASS_NAMES))
    frame.index.name = "true \\ predicted"
    frame.to_csv(directory / f"confusion_{key}.csv")
    figure = Figure(figsize=(6.4, 5.6), layout="constrained")
    axes = figure.add_subplot()
    ConfusionMatrixDisplay(matrix, display_labels=list(CLASS_NAMES)).plot(
        ax=axes, colorbar=False, cmap="Blues", xticks_rotation=45
    )
    axes.set_title(title)
    figure.savefig(directory / f"confusion_{key}.png", dpi=120)


def _log_final(
    run: TrialRun,
    result: TrialResult,
    metrics: Mapping[str, float],
    confusions: Mapping[str, np.ndarray],
    usage: np.ndarray,
) -> None:
    summary = {
        **metrics,
        "train_seconds": result.seconds,
        "faces_per_second": result.faces_per_second,
    }
    # The per-epoch scores are already logged at the last epoch by _FinalMetrics.
    last = {key: value for key, value in summary.items() if key not in _PER_EPOCH}
    run.log_metrics(last, step=len(result.folds[0].history))

    def write_confusion(directory: Path) -> None:
        for key, matrix in confusions.items():
            _write_confusion(directory, key, matrix, f"{run.name}: {key}")

    run.log_final_artifacts(result, metrics, usage, write_confusion)


def check_final(trial: Trial, data: DataCache) -> tuple[FaceData, tuple[str, ...]]:
    """Load ``trial``'s faces and check it can train and be scored, before anything starts.

    Returns the faces and their test splits; raises DataError (no test split, no Training
    faces, a missing file) or ConfigError (a network that cannot train on them or is too big
    for this machine's memory). Nothing is tracked.
    """
    faces = data(trial.config.data)
    splits = test_usages(faces)
    labels = faces.split("Training")[1]
    if labels.size == 0:
        raise DataError(f"{faces.source}: no Training faces to train the final model on")
    where = f"final {trial.name}"
    check_trial(trial.config, labels, cross_validated=False, where=where)
    check_model_size(_single_model(trial.config), where=where)
    return faces, splits


def _single_model(config: TrialConfig) -> TrialConfig:
    """``config`` as final training builds it: one model (no folds to pack)."""
    return config.model_copy(
        update={"train": config.train.model_copy(update={"pack_folds": False})}
    )


def run_final(
    trial: Trial,
    experiment: str,
    *,
    tracking_uri: str | None = None,
    data: DataCache | None = None,
    callbacks: Sequence[TrialCallback] = (),
    on_result: Callable[[TrialRun, TrialResult], None] | None = None,
    figures: bool = True,
) -> FinalOutcome:
    """Train ``trial``'s config on all Training faces and score every test split.

    Logs one run tagged ``ferablate.role=final`` into ``experiment`` (the sweep's, or
    :data:`FINAL_EXPERIMENT` for a preset). ``on_result`` runs after training, before the run
    is marked FINISHED; with ``figures`` the report's six figures (confusion matrix on the test
    faces) are logged under ``figures/`` first. A failure ends the run as ``outcome_of`` says
    (FAILED with ``oom``, ``diverged`` or ``error``; KILLED on Ctrl-C) and is raised: a final
    model that did not train is no result to go on from.
    """
    data = data or DataCache()
    config = trial.config
    faces, splits = check_final(trial, data)
    if figures:
        split_label = "test split" if len(splits) == 1 else f"test splits ({' + '.join(splits)})"
        on_result = with_figures(on_result, split=split_label)
    evaluation_mask = np.isin(faces.usage, splits)
    usage = faces.usage[evaluation_mask]  # the evaluation faces' splits, in split() order
    training, evaluation = faces.split("Training"), faces.split(list(splits))
    tracker = TrialTracker(experiment, tracking_uri)
    run = tracker.start(
        # identity None: from the faces loaded here and this machine
        replace(trial, name=f"final/{trial.name}", identity=None),
        data_hash=faces.content_hash,
        extra_tags={TAG.ROLE: "final", TAG.SWEEP: experiment},
    )
    try:
        result = train_final(config, training, evaluation, [_FinalMetrics(run), *callbacks])
        fold = result.folds[0]
        metrics, confusions = score_splits(fold.val_labels, fold.val_predictions, usage, splits)
        if on_result is not None:
            on_result(run, result)
        _log_final(run, result, metrics, confusions, usage)
        run.end(TrialOutcome.FINISHED)
    except BaseException as exc:
        run.end_from(exc)
        raise
    _log.info("final run %s: test accuracy %.3f", run.run_id, metrics["test_accuracy"])
    return FinalOutcome(trial, run.run_id, metrics, splits, result, confusions)
