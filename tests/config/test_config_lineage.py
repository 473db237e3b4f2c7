"""Lineage and claims in sweep files: parents per grid point, the report grids' declarations,
the dry run's differences from the parent; parent/claims never change a trial's identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ferablate import ConfigError
from ferablate.cli import app
from ferablate.config import (
    Sweep,
    expand_sweep,
    load_sweep,
    parent_trials,
    parse_sweep,
    trial_identity,
)

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"
TINY: dict[str, Any] = {
    "data": {"source": "synthetic", "synthetic_size": 210},
    "model": {"family": "sequential", "convs": [{"channels": 4}, {"channels": 8}], "dense": [16]},
    "train": {"folds": 2, "epochs": 1},
}


def _identities(sweep: Sweep) -> list[str]:
    """Each trial's identity (on the same data and precision for every trial)."""
    return [
        trial_identity(t.config, data_fingerprint="faces", precision="fp32")
        for t in expand_sweep(sweep)
    ]


def _sweep(variants: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": "t", "base": TINY, "variants": variants, **extra}


def test_a_grid_trials_parent_is_the_parents_trial_at_the_same_point() -> None:
    sweep = parse_sweep(
        _sweep(
            [{"name": "a"}, {"name": "b", "parent": "a", "set": {"model.activation": "elu"}}],
            grid={"train.lr": [0.001, 0.01]},
        )
    )
    trials = expand_sweep(sweep)
    assert parent_trials(sweep, trials) == {
        "b[lr=0.001]": "a[lr=0.001]",
        "b[lr=0.01]": "a[lr=0.01]",
    }


def test_parent_and_claims_do_not_change_any_config_hash() -> None:
    plain = parse_sweep(_sweep([{"name": "a"}, {"name": "b", "set": {"train.lr": 0.01}}]))
    declared = parse_sweep(
        _sweep(
            [{"name": "a"}, {"name": "b", "parent": "a", "set": {"train.lr": 0.01}}],
            claims=[{"says": "b helps", "variant": "b", "versus": "a", "expect": "better"}],
        )
    )
    assert _identities(plain) == _identities(declared)
    (claim,) = declared.claims
    assert (claim.variant, claim.versus, claim.expect, claim.metric) == (
        "b", "a", "better", "val_accuracy",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([{"name": "a", "parent": "a"}], "variant 'a': parent is the variant itself"),
        ([{"name": "a"}, {"name": "b", "parent": "c"}], "variant 'b': parent 'c' is no variant"),
        (
            [
                {"name": "a", "parent": "c"},
                {"name": "b", "parent": "a"},
                {"name": "c", "parent": "b"},
            ],
            r"variant 'a': parents form a cycle \(a -> c -> b -> a\)",
        ),
    ],
)
def test_lineage_errors_name_file_and_variant(variants: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^t\.yaml: {message}"):
        parse_sweep(_sweep(variants), source="t.yaml")


REPORT_CLAIMS = {
    "model1_grid.yaml": [
        ("conv4", "conv4-no-bn", "better"),
        ("conv4", "baseline", "better"),
        ("conv4-no-mp-l1", "conv4", "better"),
        ("conv4-no-mp-l1-5x5-dropout", "conv4-no-mp-l1", "equivalent"),
        ("conv4-1x1-no-mp-l1-dropout", "conv4-no-mp-l1", "equivalent"),
        ("conv4-no-mp-l1-dropout-elu", "conv4-no-mp-l1", "better"),
        ("conv4-no-mp-l1-dropout-elu", "conv4-no-mp-l1", "better"),
        ("conv4-no-mp-l1-dropout-elu", "conv4-no-mp-l1", "better"),
        ("dil-l2", "conv4-no-mp-l1-dropout-elu", "not-better"),
        ("gc-l2", "conv4-no-mp-l1-dropout-elu", "not-better"),
        ("more-dense", "conv4-no-mp-l1-dropout-elu", "better"),
    ],
    "model2_grid.yaml": [
        ("dropout-0.1-elu", "dropout-0.1", "better"),
        ("stem7", "dropout-0.1-elu", "better"),
        ("stem7-inner3x3", "stem7", "worse"),
        ("stem7-shortcut2", "stem7", "not-better"),
        ("dropout-0.2-elu-batch32", "dropout-0.2", "not-better"),
        ("dropout-0.2-elu-lr1e-3", "dropout-0.2", "not-better"),
        ("dropout-0.2-elu-lr1e-5", "dropout-0.2", "not-better"),
    ],
}


@pytest.mark.parametrize("name", sorted(REPORT_CLAIMS))
def test_report_grids_declare_lineage_and_the_reports_claims(name: str) -> None:
    sweep = load_sweep(SWEEPS / name)
    assert [(c.variant, c.versus, c.expect) for c in sweep.claims] == REPORT_CLAIMS[name]
    roots = [variant.name for variant in sweep.variants if variant.parent is None]
    assert roots == ["baseline"]  # every other row names the row it changes
    # each claim's pair is a parent and its child: the test is paired on shared folds
    parents = {variant.name: variant.parent for variant in sweep.variants}
    assert all(
        parents[c.variant] == c.versus or parents[c.versus] == c.variant for c in sweep.claims
    )
    metrics = {c.metric for c in sweep.claims}
    assert metrics == (
        {"val_accuracy", "val_precision", "val_recall"} if "1" in name else {"val_accuracy"}
    )


def test_dry_run_shows_each_trials_differences_from_its_parent(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", str(SWEEPS / "model1_grid.yaml"), "--dry-run"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    (line,) = [row for row in result.output.splitlines() if "│ conv4-no-bn " in row]
    assert "conv4: model.batch_norm=False" in line
    (line,) = [row for row in result.output.splitlines() if "│ gc-l2-rerun " in row]
    assert "gc-l2: train.seed=1" in line
