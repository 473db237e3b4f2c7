"""One way to classify how a trial ended, mapped once to MLflow and once to Optuna."""

from __future__ import annotations

import optuna
import pytest

from ferablate import (
    ConfigError,
    DivergedError,
    OutOfMemoryError,
    TrialOutcome,
    outcome_of,
)
from ferablate.search import optuna_state
from ferablate.tracking import mlflow_ending, outcome_for_failure_tag, outcome_of_run


@pytest.mark.parametrize(
    ("exc", "outcome", "reason"),
    [
        (
            DivergedError("loss is nan", fold="r1-f2", epoch=3),
            TrialOutcome.DIVERGED,
            "diverged (fold r1-f2, epoch 3): loss is nan",
        ),
        (OutOfMemoryError("CUDA out of memory"), TrialOutcome.OOM, "CUDA out of memory"),
        (ConfigError("train.folds: too many"), TrialOutcome.FAILED, "train.folds: too many"),
        (optuna.TrialPruned("after epoch 2"), TrialOutcome.PRUNED, "TrialPruned: after epoch 2"),
        (KeyboardInterrupt(), TrialOutcome.KILLED, "interrupted by the user (SIGINT)"),
        (SystemExit(3), TrialOutcome.KILLED, "SystemExit: 3"),
        (ValueError("boom"), TrialOutcome.FAILED, "ValueError: boom"),
    ],
)
def test_outcome_of_classifies_each_ending(
    exc: BaseException, outcome: TrialOutcome, reason: str
) -> None:
    ending = outcome_of(exc)
    assert (ending.outcome, ending.reason) == (outcome, reason)
    unexpected = isinstance(exc, ValueError) and not isinstance(exc, ConfigError)
    assert bool(ending.detail) == unexpected  # a traceback only for errors ferablate did not raise


def test_pruning_is_recognised_by_type_not_by_name() -> None:
    class TrialPruned(Exception):  # noqa: N818  (same name as Optuna's, another class)
        pass

    assert outcome_of(TrialPruned("x")).outcome is TrialOutcome.FAILED


def test_each_outcome_maps_once_to_mlflow_and_optuna_and_reads_back() -> None:
    fail = optuna.trial.TrialState.FAIL
    assert mlflow_ending(TrialOutcome.DIVERGED) == ("FAILED", "diverged")
    assert mlflow_ending(TrialOutcome.OOM) == ("FAILED", "oom")
    assert mlflow_ending(TrialOutcome.FAILED) == ("FAILED", "error")
    assert mlflow_ending(TrialOutcome.KILLED) == ("KILLED", "killed")
    assert mlflow_ending(TrialOutcome.FINISHED) == ("FINISHED", None)
    with pytest.raises(ValueError, match="cannot end as 'skipped'"):
        mlflow_ending(TrialOutcome.SKIPPED)
    for outcome in (TrialOutcome.FINISHED, TrialOutcome.FAILED, TrialOutcome.OOM, TrialOutcome.DIVERGED,
                    TrialOutcome.PRUNED, TrialOutcome.KILLED):  # fmt: skip
        status, failure = mlflow_ending(outcome)
        assert outcome_of_run(status, failure or "") is outcome
    assert outcome_of_run("RUNNING", "") is None
    assert outcome_for_failure_tag("error") is TrialOutcome.FAILED
    assert [
        optuna_state(o) for o in (TrialOutcome.DIVERGED, TrialOutcome.OOM, TrialOutcome.FAILED)
    ] == [fail] * 3
    assert optuna_state(TrialOutcome.FINISHED) == optuna.trial.TrialState.COMPLETE
    assert optuna_state(TrialOutcome.REJECTED) == optuna.trial.TrialState.PRUNED
    assert optuna_state(TrialOutcome.LOST) is None
