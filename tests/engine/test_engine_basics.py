"""Engine building blocks: precision selection, folds and balancing, metrics, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ferablate import ConfigError
from ferablate.engine import (
    COLLAPSE_LOSS_FRACTION,
    augment_batch,
    fold_metrics,
    fold_status,
    is_out_of_memory,
    mean_std,
    plan_folds,
    repeat_seed,
    select_device,
    select_precision,
)


def test_precision_auto_follows_the_hardware() -> None:
    cpu = torch.device("cpu")
    assert select_precision("auto", cpu, cpu_bf16=True) == "bf16"
    assert select_precision("auto", cpu, cpu_bf16=False) == "fp32"
    assert select_precision("fp32", cpu, cpu_bf16=True) == "fp32"
    assert select_precision("bf16", cpu, cpu_bf16=False) == "bf16"  # explicit wins


def test_device_auto_and_cuda_without_gpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"train\.device=cuda"):
            select_device("cuda")


def _labels(counts: list[int]) -> np.ndarray:
    return np.concatenate([np.full(n, c) for c, n in enumerate(counts)])


def test_fold_balancing_is_inside_training_folds_only() -> None:
    labels = _labels([50, 10, 40, 100, 60, 30, 55])
    images = np.zeros((len(labels), 48, 48), np.uint8)
    plan = plan_folds(images, labels, folds=5, balance="fold", seed=0)
    all_val = np.concatenate(plan.val_indices)
    assert sorted(all_val.tolist()) == list(range(len(labels)))  # every face validated exactly once
    for train, val in zip(plan.train_indices, plan.val_indices, strict=True):
        assert not set(train.tolist()) & set(val.tolist())  # no leakage
        counts = np.bincount(labels[train], minlength=7)
        assert counts.min() == counts.max() == 80  # every class up to the largest (100 * 4/5)
        val_counts = np.bincount(labels[val], minlength=7)
        assert val_counts[3] == 20 and val_counts[1] == 2  # stratified, unbalanced


def test_report_protocol_balances_before_splitting() -> None:
    labels = _labels([20, 5, 10, 40, 15, 12, 30])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (len(labels), 48, 48), dtype=np.uint8)
    plan = plan_folds(images, labels, folds=5, balance="report", seed=0)
    assert len(plan.labels) == 7 * 40  # like 7 x 7,215 = 50,505 on full FER2013
    assert np.bincount(plan.labels).tolist() == [40] * 7
    assert (plan.images[: len(labels)] == images).all()  # originals kept, copies appended
    assert not (plan.images[len(labels) :] == images[0]).all()


def test_too_few_faces_for_the_folds() -> None:
    from ferablate import DataError

    labels = _labels([10, 2, 10, 10, 10, 10, 10])
    with pytest.raises(DataError, match=r"train\.folds"):
        plan_folds(
            np.zeros((len(labels), 48, 48), np.uint8), labels, folds=5, balance="fold", seed=0
        )


def test_fold_metrics_are_macro_averages() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    scores = fold_metrics(y_true, y_pred)
    assert scores["val_accuracy"] == pytest.approx(4 / 6)
    assert scores["val_recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert scores["val_precision"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    summary = mean_std([{"a": 1.0}, {"a": 3.0}])
    assert summary == {"a_mean": 2.0, "a_std": 1.0}


def test_augmentation_is_per_image_seeded_and_in_range() -> None:
    faces = torch.rand(64, 1, 48, 48)
    out_a = augment_batch(faces, torch.Generator().manual_seed(1))
    out_b = augment_batch(faces, torch.Generator().manual_seed(1))
    out_c = augment_batch(faces, torch.Generator().manual_seed(2))
    assert out_a.shape == faces.shape
    assert torch.equal(out_a, out_b) and not torch.equal(out_a, out_c)
    assert out_a.min() >= 0 and out_a.max() <= 1
    same = torch.stack([faces[0]] * 32)  # one face, 32 copies: each gets its own parameters
    copies = augment_batch(same, torch.Generator().manual_seed(3))
    assert len({round(float(c.sum()), 3) for c in copies}) == 32


def test_separable_resampling_matches_grid_sample() -> None:
    """The two-matmul flip/zoom/crop is grid_sample (bilinear, border, align_corners=False)."""
    import torch.nn.functional as F

    from ferablate.engine._augment import _interpolation_matrix

    generator = torch.Generator().manual_seed(0)
    n = 32
    faces = torch.rand(n, 1, 48, 48, generator=generator)
    scale_x = torch.empty(n).uniform_(0.7, 1.3, generator=generator)
    scale_x[::2] *= -1  # mirrored faces
    scale_y = torch.empty(n).uniform_(0.7, 1.3, generator=generator)
    shift_x = torch.empty(n).uniform_(-0.3, 0.3, generator=generator)  # reaches the border
    shift_y = torch.empty(n).uniform_(-0.3, 0.3, generator=generator)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = scale_x, shift_x
    theta[:, 1, 1], theta[:, 1, 2] = scale_y, shift_y
    grid = F.affine_grid(theta, [n, 1, 48, 48], align_corners=False)
    expected = F.grid_sample(faces, grid, padding_mode="border", align_corners=False)
    rows = _interpolation_matrix(scale_y, shift_y, 48)
    columns = _interpolation_matrix(scale_x, shift_x, 48)
    resampled = rows @ faces.view(n, 48, 48) @ columns.transpose(1, 2)
    torch.testing.assert_close(resampled.view_as(expected), expected, atol=1e-5, rtol=0)


def test_out_of_memory_classification() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        )
    )
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


# -- repeated k-fold and fold sizes ------------------------------------------------------------


def test_repeats_are_distinct_stratified_splits_and_repeat_zero_is_the_plain_split() -> None:
    labels = _labels([50, 10, 40, 100, 60, 30, 55])
    images = np.zeros((len(labels), 48, 48), np.uint8)
    plain = plan_folds(images, labels, folds=5, balance="fold", seed=3)
    repeated = plan_folds(images, labels, folds=5, balance="fold", seed=3, repeats=3)
    assert repeated.folds == 15 and repeated.repeats == 3
    for a, b in zip(plain.val_indices + plain.train_indices,
                    repeated.val_indices[:5] + repeated.train_indices[:5], strict=True):  # fmt: skip
        assert np.array_equal(a, b)  # repeat 0 is today's split, balancing copies included
    for r in range(3):
        own = repeated.val_indices[5 * r : 5 * r + 5]
        assert sorted(np.concatenate(own).tolist()) == list(range(len(labels)))
    assert not np.array_equal(repeated.val_indices[0], repeated.val_indices[5])
    assert not np.array_equal(repeated.val_indices[5], repeated.val_indices[10])
    assert repeat_seed(3, 0) == 3 and len({repeat_seed(3, r) for r in range(3)}) == 3
    assert [s.name for s in repeated.specs[4:6]] == ["r0-f4", "r1-f0"]
    assert [s.name for s in plain.specs[:2]] == ["fold-0", "fold-1"]


def test_distinct_fold_sizes_ignore_balancing_copies() -> None:
    labels = _labels([20, 5, 10, 40, 15, 12, 30])  # 132 faces
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 48, 48), dtype=np.uint8)
    fold = plan_folds(images, labels, folds=4, balance="fold", seed=0)
    for train, val in zip(fold.train_indices, fold.val_indices, strict=True):
        assert len(train) > fold.distinct_faces(train) == 132 - len(val)  # copies not counted
        assert fold.distinct_faces(val) == len(val)
    report = plan_folds(images, labels, folds=4, balance="report", seed=0, repeats=2)
    assert len(report.labels) == 7 * 40 and report.originals == 132  # copies drawn once
    for train, val in zip(report.train_indices, report.val_indices, strict=True):
        assert report.distinct_faces(train) + report.distinct_faces(val) == 132
        assert report.distinct_faces(val) < len(val)  # the fold also validates copies
    for r in range(2):
        n_val = [report.distinct_faces(v) for v in report.val_indices[4 * r : 4 * r + 4]]
        assert sum(n_val) == 132  # each original face validated once per repeat


def test_fold_status_flags_chance_loss_or_one_predicted_class() -> None:
    y_true = np.array([0, 1, 2, 3, 4, 5, 6, 0])
    varied = np.array([0, 1, 2, 3, 4, 5, 0, 0])
    assert COLLAPSE_LOSS_FRACTION * np.log(7) == pytest.approx(1.8875, abs=1e-4)
    assert fold_status(1.50, y_true, varied) == "ok"
    assert fold_status(1.88, y_true, varied) == "ok"  # just below 0.97 ln 7
    assert fold_status(1.89, y_true, varied) == "collapsed"
    assert fold_status(1.946, y_true, varied) == "collapsed"  # the real FER2013 fold: ln 7
    assert fold_status(1.20, y_true, np.full(8, 3)) == "collapsed"  # one class for every face
    assert fold_status(1.20, np.full(4, 2), np.full(4, 2)) == "ok"  # one class is all there is
