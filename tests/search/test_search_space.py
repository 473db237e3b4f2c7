"""Search spaces, grid queues, best-trial export and the pruning callback (no training)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import yaml

from ferablate.config import SearchDim, expand_sweep, load_sweep, parse_sweep, resolve_trial
from ferablate.engine import EpochMetrics
from ferablate.search import (
    ATTR,
    PruningCallback,
    StudySpec,
    base_params,
    best_trial_sweep,
    dims_from_json,
    dims_to_json,
    enqueue_trials,
    open_storage,
    open_study,
    params_to_patch,
    suggest_patch,
)
from ferablate.tracking import identify_trials

REPO = Path(__file__).resolve().parents[2]

TINY = {
    "name": "tiny",
    "base": {
        "data": {"source": "synthetic", "synthetic_size": 300},
        "model": {"preset": "baseline-model1"},
        "train": {"folds": 2, "epochs": 1},
    },
    "variants": [{"name": "a"}, {"name": "b", "set": {"model.batch_norm": False}}],
    "grid": {"train.lr": [0.001, 0.002, 0.003]},
    "search": {
        "model.dense": {"choices": [[32], [64, 32]]},
        "train.lr": {"low": 1e-4, "high": 1e-2, "log": True},
        "train.batch_size": {"low": 8, "high": 64},
    },
}


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"


def test_list_choices_round_trip_through_optuna() -> None:
    sweep = parse_sweep(TINY)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        patch = suggest_patch(trial, sweep.search)
        assert patch["model.dense"] in ([32], [64, 32])  # a list again, not its label
        assert isinstance(patch["train.batch_size"], int) and 8 <= patch["train.batch_size"] <= 64
        assert params_to_patch(trial.params, sweep.search) == patch
        config = resolve_trial(sweep.base, [("t", patch)])
        seen.add(config.model.dense)
        study.tell(trial, 0.5)
    assert seen == {(32,), (64, 32)}


def test_space_json_round_trip() -> None:
    dims = parse_sweep(TINY).search
    assert dims_from_json(dims_to_json(dims)) == dims
    assert SearchDim(key="train.batch_size", low=8, high=64).is_int


def test_shipped_optuna_sweeps_load_with_a_search_space() -> None:
    for name in ("model1_optuna.yaml", "model2_optuna.yaml"):
        sweep = load_sweep(REPO / "sweeps" / name)
        keys = {dim.key for dim in sweep.search}
        assert {
            "model.batch_norm",
            "model.activation",
            "model.dropout",
            "model.dense",
            "train.lr",
            "train.batch_size",
        } <= keys


def test_base_params_are_the_shipped_bases_own_values_or_none_outside_the_space() -> None:
    sweep = load_sweep(REPO / "sweeps" / "model1_optuna.yaml")
    base = resolve_trial(sweep.base, []).model_dump(mode="json")
    params = base_params(base, sweep.search)
    assert params is not None and set(params) == {dim.key for dim in sweep.search}
    assert params["model.dense"] == "[32]" and params["model.convs.2.pool"] is True
    assert params["train.lr"] == 0.002 and params["train.batch_size"] == 32
    # Its patch resolves back to the base itself.
    assert resolve_trial(
        sweep.base, [("base", params_to_patch(params, sweep.search))]
    ) == resolve_trial(sweep.base, [])

    narrow_lr = SearchDim(key="train.lr", low=1e-2, high=1e-1, log=True)
    assert base_params(base, [narrow_lr]) is None
    assert base_params(base, [SearchDim(key="model.dense", choices=([64],))]) is None
    assert base_params(base, [SearchDim(key="model.convs.7.pool", choices=(True, False))]) is None
    assert (
        base_params(base, [SearchDim(key="train.batch_size", low=8, high=64, step=16)]) is None
    )  # 32 is off the 8+16k grid
    assert base_params(base, [SearchDim(key="train.batch_size", low=16, high=64, step=16)]) == {
        "train.batch_size": 32
    }


def test_enqueue_skips_finished_queued_and_running(storage_url: str) -> None:
    sweep = parse_sweep(TINY)
    trials = identify_trials(expand_sweep(sweep))
    assert len(trials) == 6
    study, spec = open_study(
        open_storage(storage_url), "grid", StudySpec(kind="grid", experiment="tiny")
    )
    assert spec.kind == "grid"
    queued, skipped = enqueue_trials(study, trials, finished_hashes={trials[0].config_hash})
    assert queued == [t.name for t in trials[1:]] and skipped == [trials[0].name]
    again, skipped_again = enqueue_trials(study, trials, finished_hashes={trials[0].config_hash})
    assert again == [] and len(skipped_again) == 6  # 5 WAITING, 1 finished
    rerun, _ = enqueue_trials(study, trials, rerun=True)  # --rerun: only what is not queued
    assert rerun == [trials[0].name]
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.user_attrs[ATTR.TRIAL] for t in waiting] == [t.name for t in [*trials[1:], trials[0]]]


def test_study_refuses_another_space(storage_url: str) -> None:
    from ferablate._errors import SearchError

    sweep = parse_sweep(TINY)
    base = resolve_trial(sweep.base, []).model_dump(mode="json")
    storage = open_storage(storage_url)
    open_study(storage, "s", StudySpec(kind="search", experiment="s", base=base, dims=sweep.search))
    with pytest.raises(SearchError, match="search space"):
        open_study(
            storage, "s", StudySpec(kind="search", experiment="s", base=base, dims=sweep.search[:1])
        )


def test_best_trial_exports_a_runnable_sweep(storage_url: str, tmp_path: Path) -> None:
    sweep = parse_sweep(TINY)
    trials = identify_trials(expand_sweep(sweep))
    study, _ = open_study(
        open_storage(storage_url), "best", StudySpec(kind="grid", experiment="tiny")
    )
    for value, trial in zip((0.3, 0.7, 0.5), trials, strict=False):
        study.add_trial(
            optuna.trial.create_trial(
                value=value,
                user_attrs={
                    ATTR.CONFIG: trial.config.model_dump_json(),
                    ATTR.CONFIG_HASH: trial.config_hash,
                },
            )
        )
    path = tmp_path / "best.yaml"
    path.write_text(yaml.safe_dump(best_trial_sweep(study), sort_keys=False))
    exported = identify_trials(expand_sweep(load_sweep(path)))
    assert [t.name for t in exported] == ["best"]
    assert exported[0].config_hash == trials[1].config_hash


def _metrics(epoch: int, accuracy: float) -> list[EpochMetrics]:
    return [EpochMetrics(fold, epoch, 1.0, 1.0, accuracy, accuracy, accuracy) for fold in range(2)]


def test_pruning_callback_prunes_a_trial_below_the_median() -> None:
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2)
    )
    for _ in range(3):
        study.add_trial(optuna.trial.create_trial(value=0.9, intermediate_values={1: 0.9, 2: 0.9}))
    good, bad = study.ask(), study.ask()
    PruningCallback(good).on_epoch_end(1, _metrics(1, 0.95))  # above the median: goes on
    with pytest.raises(optuna.TrialPruned, match="epoch 1"):
        PruningCallback(bad).on_epoch_end(1, _metrics(1, 0.2))
    assert bad.study.trials[bad.number].intermediate_values == {1: pytest.approx(0.2)}


def test_ui_binds_to_localhost_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from ferablate.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["ui", "--dry-run", "--tracking-uri", "sqlite:///x/mlflow.db"])
    assert result.exit_code == 0, result.output
    argv = result.output.split()
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "_MLFLOW_SERVER_FILE_STORE=sqlite:///x/mlflow.db" in argv  # env of the server command
    assert list(tmp_path.iterdir()) == []  # a dry run creates nothing: no store, no folder
    assert any(arg.startswith("_MLFLOW_SERVER_ARTIFACT_ROOT=file://") for arg in argv)


@pytest.mark.parametrize(
    ("space", "expected"),
    [
        (
            {"train.lrr": {"low": 1e-4, "high": 1e-2}},
            "search: unknown key 'train.lrr'; did you mean 'train.lr'?",
        ),
        (
            {"model.activation": {"choices": ["relu", "swish"]}},
            "search: key 'model.activation': Input should be 'relu' or 'elu' (got 'swish')",
        ),
        (
            {"train.batch_size": {"low": 0, "high": 64}},
            "search: key 'train.batch_size': Input should be greater than 0 (got 0)",
        ),
        (
            {"model.convs.5.pool": {"choices": [True, False]}},
            "index 5 is out of range, the list has 3 item(s)",
        ),
    ],
)
def test_search_space_is_checked_against_the_config_at_load(
    space: dict[str, object], expected: str
) -> None:
    from ferablate._errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_sweep({**TINY, "search": space}, source="s.yaml")
    assert str(info.value).startswith("s.yaml: ") and expected in str(info.value)
    assert "\n" not in str(info.value)


def test_invalid_search_space_is_exit_2_before_any_study_exists(
    tmp_path: Path, ferablate_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        yaml.safe_dump({**TINY, "search": {"model.activation": {"choices": ["relu", "swish"]}}})
    )
    storage = tmp_path / "optuna.db"
    result = ferablate_cli("optuna", str(sweep), "--storage", f"sqlite:///{storage}", "-n", "1")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'swish'" in lines[0], (
        result.stderr
    )
    assert not storage.exists()  # no study was created
