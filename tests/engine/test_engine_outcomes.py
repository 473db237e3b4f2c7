"""How a trial can end besides "it learned": divergence, folds stuck at chance, PublicTest scores."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from ferablate import DataError, DivergedError
from ferablate.config import TrialConfig, resolve_preset, validate_trial
from ferablate.engine import fold_metrics, plan_folds, run_trial
from ferablate.engine._trainer import _raise_if_diverged

Faces = tuple[np.ndarray, np.ndarray]


def _config(model: dict[str, Any] | None = None, **train: Any) -> TrialConfig:
    raw = {
        "data": {"source": "synthetic"},
        # The quickstart sweep's model: model 1 without batch norm, with ELU.
        "model": {
            "preset": "baseline-model1",
            "batch_norm": False,
            "activation": "elu",
            **(model or {}),
        },
        "train": {"folds": 2, "epochs": 2, "batch_size": 16, "lr": 2e-3, "device": "cpu", **train},
    }
    return validate_trial(resolve_preset(raw, "test"), "test")


@pytest.mark.parametrize(("repeats", "fold"), [(1, "fold-0"), (2, "r0-f0")])
def test_a_diverged_loss_ends_the_trial_naming_fold_and_epoch(
    make_faces: Callable[[int, int], Faces], repeats: int, fold: str
) -> None:
    # Issue 13's reproduction: dropout p ~ 1 scales the kept activations by ~1e11.
    config = _config(
        {"dropout": 0.99999999999, "dense_dropout": True}, batch_size=4, repeats=repeats
    )
    with pytest.raises(
        DivergedError, match=r"training loss became NaN in fold (0|r0-f0) at epoch 1"
    ) as caught:
        run_trial(config, make_faces(140, 1))
    assert caught.value.fold == fold and caught.value.epoch == 1


def test_the_first_diverged_fold_of_a_packed_group_is_named(
    make_faces: Callable[[int, int], Faces],
) -> None:
    images, labels = make_faces(70, 2)
    plan = plan_folds(images, labels, folds=2, balance="none", seed=0, repeats=2)
    _raise_if_diverged(plan, 3, {0: 1.9, 1: 1.2, 2: 0.8, 3: 1.0}, "training")  # all finite
    with pytest.raises(
        DivergedError, match=r"validation loss became infinite in fold r1-f0 at epoch 3"
    ) as caught:
        _raise_if_diverged(
            plan, 3, {3: float("nan"), 0: 1.9, 2: float("inf"), 1: 1.2}, "validation"
        )
    assert (caught.value.fold, caught.value.epoch) == ("r1-f0", 3)


def test_a_loss_above_train_diverge_loss_is_diverged_like_nan(
    make_faces: Callable[[int, int], Faces],
) -> None:
    images, labels = make_faces(70, 2)
    plan = plan_folds(images, labels, folds=2, balance="none", seed=0)
    _raise_if_diverged(plan, 1, {0: 99.0, 1: 1.9}, "training", 100.0)  # below: trains on
    with pytest.raises(
        DivergedError,
        match=r"training loss exploded to 1.9e\+21 \(above train.diverge_loss=100\) in fold 1 at epoch 2",
    ) as caught:
        _raise_if_diverged(plan, 2, {0: 1.9, 1: 1.9e21}, "training", 100.0)
    assert (caught.value.fold, caught.value.epoch) == ("fold-1", 2)
    # the advice is the named fold's: fold 0 exploded (finite), not fold 1's NaN
    asked: list[int] = []

    def advice(fold: int, loss: float) -> str:
        asked.append(fold)
        return "numerical fault" if math.isnan(loss) else "lower train.lr"

    with pytest.raises(DivergedError, match=r"in fold 0 at epoch 1 \(lower train.lr\)$"):
        _raise_if_diverged(plan, 1, {0: 500.0, 1: float("nan")}, "training", 100.0, advice)
    assert asked == [0]
    # a tiny threshold: a real trial's first epoch (loss ~ ln 7) ends it as diverged
    with pytest.raises(
        DivergedError, match=r"above train.diverge_loss=0.01\) in fold 0 at epoch 1"
    ):
        run_trial(_config(epochs=1, diverge_loss=0.01), make_faces(140, 5))


def test_folds_that_never_learned_are_marked_collapsed(
    faces: Faces, make_faces: Callable[[int, int], Faces]
) -> None:
    stuck = run_trial(_config(lr=1e-9, epochs=1), make_faces(140, 3))
    assert [f.status for f in stuck.folds] == ["collapsed", "collapsed"]
    assert stuck.collapsed_folds == stuck.folds
    learned = run_trial(_config(epochs=3), faces)
    assert learned.summary()["val_accuracy_mean"] > 0.5
    assert [f.status for f in learned.folds] == ["ok", "ok"] and learned.collapsed_folds == []


def test_every_fold_model_scores_publictest(
    faces: Faces, make_faces: Callable[[int, int], Faces]
) -> None:
    images, labels = faces
    publictest = make_faces(140, 4)
    training = (images[:420], labels[:420])
    result = run_trial(_config(epochs=3, score_publictest=True), training, publictest=publictest)
    scores = [f.publictest for f in result.folds]
    assert all(
        s is not None
        and set(s) == {"publictest_accuracy", "publictest_precision", "publictest_recall"}
        for s in scores
    )
    summary = result.publictest_summary()
    assert set(summary) == {
        "publictest_accuracy_mean",
        "publictest_precision_mean",
        "publictest_recall_mean",
    }
    accuracies = [s["publictest_accuracy"] for s in scores if s is not None]
    assert summary["publictest_accuracy_mean"] == pytest.approx(np.mean(accuracies))
    assert summary["publictest_accuracy_mean"] > 0.4  # held-out faces of the same templates
    # Validation scores are untouched by the extra scoring.
    final = result.folds[0]
    assert (
        fold_metrics(final.val_labels, final.val_predictions)["val_accuracy"]
        == final.final.val_accuracy
    )
    assert [(f.n_train_distinct, f.n_val_distinct) for f in result.folds] == [(210, 210)] * 2
    assert run_trial(_config(epochs=1), training).publictest_summary() == {}
    with pytest.raises(DataError, match=r"train\.score_publictest"):
        run_trial(_config(score_publictest=True), training)
