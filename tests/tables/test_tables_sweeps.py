"""The appendix sweep files expand to the report's rows, and their cells read like the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferablate.config import expand_sweep, load_sweep, resolve_preset, resolve_trial
from ferablate.models import count_parameters, create_model
from ferablate.tables import TableRow, build_tables
from ferablate.tracking import identify_trials

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"

# The report's appendix tables, architecture columns only (l1..d6, dropout, act.).
REPORT_MODEL1 = [
    ["3x3x8", "3x3x16", "3x3x32", "", "32", "7", "", "", "ReLU"],
    ["3x3x8", "3x3x16", "3x3x32", "", "32", "7", "", "yes", "ReLU"],
    ["3x3x8", "3x3x16", "3x3x32", "3x3x64", "32", "7", "", "", "ReLU"],
    ["3x3x8", "3x3x16", "3x3x32", "3x3x64", "32", "7", "", "no batch-n", "ReLU"],
    ["3x3x8 no mp", "3x3x16", "3x3x32", "3x3x64", "32", "7", "", "", "ReLU"],
    ["3x3x8 no mp", "3x3x16", "3x3x32", "3x3x64", "32", "7", "", "", "ReLU"],
    ["5x5x8 no mp", "3x3x16", "3x3x32", "3x3x64", "32", "7", "", "yes", "ReLU"],
    ["3x3x8 no mp", "3x3x16", "3x3x32", "1x1x64", "32", "7", "", "yes", "ReLU"],
    ["3x3x8 no mp", "3x3x16", "3x3x32", "3x3x64", "32", "7", "", "yes", "ELU"],
    ["3x3x8 no mp", "3x3x16, dil", "3x3x32", "3x3x64", "32", "7", "", "yes", "ELU"],
    ["3x3x8 no mp", "3x3x16, gc", "3x3x32", "3x3x64", "32", "7", "", "yes", "ELU"],
    ["3x3x8 no mp", "3x3x16, gc", "3x3x32", "3x3x64", "32", "7", "", "yes", "ELU"],
    ["3x3x8 no mp", "3x3x16", "3x3x32", "3x3x64", "32", "16", "7", "yes", "ELU"],
]
REPORT_MODEL2 = [
    ["inc", "inc", "inc", "no", "ReLU"],
    ["inc", "inc", "inc", "yes (0.2)", "ReLU"],
    ["inc", "inc", "inc", "yes (0.2)", "ELU batch=32"],
    ["inc", "inc", "inc", "yes (0.2)", "ELU batch=64"],
    ["inc", "inc", "inc", "yes (0.2)", "ELU lr=1e-5"],
    ["inc", "inc", "inc", "yes (0.2)", "ELU lr=1e-3"],
    ["inc", "inc", "inc", "yes (0.1)", "ReLU"],
    ["inc", "inc", "inc", "yes (0.1)", "ELU"],
    ["7x7 inc", "inc", "inc", "yes (0.1)", "ELU"],
    ["7x7 inc", "3x3 inc", "3x3 inc", "yes (0.1)", "ELU"],
    ["7x7 inc", "inc + sc", "inc", "yes (0.1)", "ELU"],
    ["7x7 inc", "inc", "inc", "yes (0.1)", "ELU, more dense"],
]


def _architecture_rows(path: Path, overrides: dict[str, object] | None = None) -> list[list[str]]:
    sweep = load_sweep(path)
    rows = [TableRow(t.name, t.config, "missing") for t in expand_sweep(sweep, overrides)]
    (table,) = build_tables(rows, title=sweep.name, base=resolve_trial(sweep.base, []))
    return table.frame.drop(columns=["acc.", "prec.", "recall"]).to_numpy().tolist()


def test_model1_grid_has_the_reports_13_rows_in_order() -> None:
    sweep = load_sweep(SWEEPS / "model1_grid.yaml")
    trials = identify_trials(expand_sweep(sweep), lambda data: "faces")
    assert len(trials) == 13
    assert len({t.config_hash for t in trials}) == 13  # the two re-runs are distinct trials
    assert _architecture_rows(SWEEPS / "model1_grid.yaml") == REPORT_MODEL1


def test_model2_grid_has_the_reports_12_rows_in_order() -> None:
    trials = identify_trials(
        expand_sweep(load_sweep(SWEEPS / "model2_grid.yaml")), lambda data: "faces"
    )
    assert len(trials) == 12
    assert len({t.config_hash for t in trials}) == 12
    assert _architecture_rows(SWEEPS / "model2_grid.yaml") == REPORT_MODEL2


def test_overrides_given_to_every_trial_make_no_note() -> None:
    rows = _architecture_rows(SWEEPS / "model2_grid.yaml", {"data.limit": 1500, "train.epochs": 1})
    assert rows == REPORT_MODEL2


@pytest.mark.parametrize(
    ("path", "variant", "params"),
    [
        # baseline: convs 80+16, 1168+32, 4640+64; dense 32*6*6*32+32 = 36896; out 231
        ("model1_grid.yaml", "baseline", 43_127),
        ("model1_grid.yaml", "conv4-no-bn", 43_079),  # 4th conv pooled to 64x3x3, no BN
        ("model1_grid.yaml", "conv4-no-mp-l1", 98_615),  # 64x6x6 = 2304 -> 32
        ("model1_grid.yaml", "conv4-1x1-no-mp-l1-dropout", 82_231),
        ("model1_grid.yaml", "more-dense", 99_031),
        ("model2_grid.yaml", "baseline", 1_713_863),  # 3x3 stem: 320 fewer than the 7x7
        ("model2_grid.yaml", "stem7", 1_714_183),  # = report-model2, Figure 7
        ("model2_grid.yaml", "stem7-inner3x3", 1_058_823),
        ("model2_grid.yaml", "stem7-shortcut2", 1_716_295),  # + 1x1 projection 32 -> 64
    ],
)
def test_rows_build_the_intended_networks(path: str, variant: str, params: int) -> None:
    trial = next(t for t in expand_sweep(load_sweep(SWEEPS / path)) if t.variant == variant)
    assert count_parameters(create_model(trial.config.model)) == params


def test_report_training_settings_and_real_data() -> None:
    for path in ("model1_grid.yaml", "model2_grid.yaml"):
        for trial in expand_sweep(load_sweep(SWEEPS / path)):
            config = trial.config
            assert config.data.source == "fer2013"
            assert config.data.balance != "none"
            assert (config.train.folds, config.train.epochs) == (5, 5)
            # batch 10 and lr 1e-4 unless the row is about them
            assert config.train.batch_size == 10 or "batch" in trial.name
            assert config.train.lr == 1e-4 or "lr" in trial.name


def test_model2_stem7_row_is_the_report_preset() -> None:
    trial = next(
        t for t in expand_sweep(load_sweep(SWEEPS / "model2_grid.yaml")) if t.variant == "stem7"
    )
    preset = resolve_trial(resolve_preset({"model": {"preset": "report-model2"}}, "test"), [])
    assert trial.config.model.model_dump(exclude={"preset"}) == preset.model.model_dump(
        exclude={"preset"}
    )
