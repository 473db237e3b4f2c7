"""What the worker tells Optuna for each way a trial ends (no training: a fake executor)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest

from ferablate import TrialOutcome
from ferablate.config import Trial, expand_sweep, parse_sweep
from ferablate.engine import TrialCallback
from ferablate.runner import QuietObserver, TrialReport, work_queue
from ferablate.search import ATTR, StudyQueue, StudySpec, enqueue_trials, open_storage, open_study
from ferablate.tracking import Claim

TINY: dict[str, Any] = {"data": {"source": "synthetic"}, "model": {"preset": "baseline-model1"}}


def test_diverged_is_told_fail_pruned_pruned_and_ctrl_c_fails_and_stops(tmp_path: Path) -> None:
    sweep = parse_sweep(
        {"name": "told", "base": TINY, "variants": [{"name": n, "set": {"train.seed": i}} for i, n in
                                                       enumerate(["nan", "pruned", "fine", "ctrl-c"])]}
    )  # fmt: skip
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study, spec = open_study(storage, "told", StudySpec(kind="grid", experiment="told"))
    enqueue_trials(study, expand_sweep(sweep))

    def execute(
        trial: Trial, callbacks: Sequence[TrialCallback], tags: Mapping[str, str]
    ) -> TrialReport:
        if trial.name == "nan":
            return TrialReport(
                trial, TrialOutcome.DIVERGED, message="diverged (fold 0, epoch 1): nan"
            )
        if trial.name == "pruned":
            raise optuna.TrialPruned("after epoch 1")
        if trial.name == "ctrl-c":
            raise KeyboardInterrupt
        return TrialReport(trial, TrialOutcome.FINISHED, summary={"val_accuracy_mean": 0.5})

    def train(claim: Claim, callbacks: Sequence[TrialCallback]) -> TrialReport:
        return execute(claim.trial, callbacks, claim.tags)

    def work(max_trials: int | None = None) -> list[TrialReport]:
        queue = StudyQueue(study, storage, spec, max_trials=max_trials)
        return list(work_queue(queue, train, QuietObserver()).values())

    worked = work(max_trials=3)
    assert [w.status for w in worked] == [
        TrialOutcome.DIVERGED,
        TrialOutcome.PRUNED,
        TrialOutcome.FINISHED,
    ]
    with pytest.raises(KeyboardInterrupt):
        work()
    trials = study.get_trials()
    state = optuna.trial.TrialState
    assert [t.state for t in trials] == [state.FAIL, state.PRUNED, state.COMPLETE, state.FAIL]
    assert trials[0].user_attrs[ATTR.FAILURE] == "diverged" and trials[2].value == 0.5
