"""``ferablate optuna`` on a SQLite storage: resume adds trials, pruning, best-trial export."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from _tiny import tiny_base
from mlflow import MlflowClient
from typer.testing import CliRunner

from ferablate import ConfigError
from ferablate.cli import app
from ferablate.config import expand_sweep, load_sweep, resolve_trial
from ferablate.search import ATTR, StudySpec, open_storage, open_study, set_target_trials
from ferablate.tracking import TAG, identify_trials, resolve_tracking_uri

SEARCH_SWEEP = {
    "name": "tiny-search",
    "base": tiny_base(),
    "search": {
        "model.activation": {"choices": ["relu", "elu"]},
        "model.dense": {"choices": [[16], [32, 16]]},
        "train.lr": {"low": 1e-3, "high": 1e-2, "log": True},
    },
}


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_search.yaml"
    path.write_text(yaml.safe_dump(SEARCH_SWEEP))
    return path


def _optuna(*args: str) -> None:
    result = CliRunner().invoke(app, ["optuna", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.mark.slow  # 7 tiny trials
def test_optuna_twice_on_one_storage_resumes_and_exports_best(
    sweep_file: Path, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    _optuna(str(sweep_file), "--trials", "3", "--storage", storage, "--seed", "0")
    _optuna(str(sweep_file), "--more", "3", "--storage", storage, "--seed", "1")
    study = optuna.load_study(study_name="tiny-search", storage=storage)
    assert len(study.trials) == 6
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)

    client = MlflowClient(resolve_tracking_uri())
    experiment = client.get_experiment_by_name("tiny-search")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG.ROLE}` = 'trial'")
    assert sorted(int(r.data.tags[TAG.OPTUNA_TRIAL]) for r in runs) == list(range(6))
    assert {r.data.tags[TAG.STUDY] for r in runs} == {"tiny-search"}
    assert {r.info.status for r in runs} == {"FINISHED"}
    folds = client.search_runs([experiment.experiment_id], f"tags.`{TAG.ROLE}` = 'fold'")
    assert len(folds) == 6 * 2

    # A worker needs only the storage and the study: the space and base live in the study.
    set_target_trials(study, 1)
    result = CliRunner().invoke(
        app, ["worker", "--storage", storage, "--study", "tiny-search"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="tiny-search", storage=storage)
    assert len(study.trials) == 7 and study.trials[-1].state == optuna.trial.TrialState.COMPLETE

    exported = tmp_path / "best.yaml"
    _optuna(str(sweep_file), "--storage", storage, "--export", str(exported))
    best = max(study.trials, key=lambda t: t.value or 0.0)
    (trial,) = identify_trials(expand_sweep(load_sweep(exported)))
    assert trial.config_hash == best.user_attrs[ATTR.CONFIG_HASH]


def test_a_trial_below_the_median_is_pruned_and_its_run_says_so(
    sweep_file: Path, tmp_path: Path
) -> None:
    storage_url = f"sqlite:///{tmp_path / 'optuna.db'}"
    sweep = load_sweep(sweep_file)
    overrides = {"train.epochs": 3}
    base = resolve_trial(sweep.base, [("--set", overrides)]).model_dump(mode="json")
    spec = StudySpec(kind="search", experiment="pruning", base=base, dims=sweep.search)
    study, _ = open_study(open_storage(storage_url), "pruning", spec)
    for _ in range(4):  # MedianPruner's startup trials: every epoch at 99 % accuracy
        study.add_trial(
            optuna.trial.create_trial(value=0.99, intermediate_values={1: 0.99, 2: 0.99, 3: 0.99})
        )

    _optuna(
        str(sweep_file),
        "--more",  # one more than the four already there
        "1",
        "--storage",
        storage_url,
        "--study",
        "pruning",
        "--set",
        "train.epochs=3",
    )

    trial = optuna.load_study(study_name="pruning", storage=storage_url).trials[-1]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert sorted(trial.intermediate_values) == [1, 2]  # warm-up epoch 1, pruned after epoch 2 of 3
    client = MlflowClient(resolve_tracking_uri())
    experiment = client.get_experiment_by_name("pruning")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id], f"tags.`{TAG.ROLE}` = 'trial'")
    assert run.info.status == "KILLED"
    assert run.data.tags[TAG.FAILURE] == "pruned"
    assert run.data.tags[TAG.OPTUNA_TRIAL] == str(trial.number)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy_mean")] == [
        1,
        2,
    ]


def test_hyperband_pruner_is_kept_in_the_study_and_timeout_stops_new_trials(
    sweep_file: Path, tmp_path: Path
) -> None:
    from ferablate.search._study import _pruner

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    _optuna(str(sweep_file), "--trials", "8", "--storage", storage, "--pruner", "hyperband",
            "--timeout", "0.5", "--set", "train.epochs=2")  # fmt: skip
    study, spec = open_study(open_storage(storage), "tiny-search")
    # Trials started within the 0.5 s (plus claiming time), none after; 8 take well over 0.5 s.
    starts = [t.datetime_start for t in study.trials if t.datetime_start is not None]
    assert 1 <= len(study.trials) < 8 and len(starts) == len(study.trials)
    assert all((start - starts[0]).total_seconds() < 0.5 + 0.5 for start in starts)
    assert all(t.state.is_finished() for t in study.trials)
    assert spec.pruner == "hyperband"
    pruner = _pruner(spec)  # what every worker on this study prunes with
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert pruner._max_resource == spec.epochs() == 2

    bad = CliRunner().invoke(app, ["optuna", str(sweep_file), "--pruner", "asha"])
    assert isinstance(bad.exception, ConfigError)  # `ferablate` prints it as one line, exit 2
    assert "--pruner 'asha': use one of median, hyperband, none" in str(bad.exception)


def test_random_sampler_search_runs(sweep_file: Path, tmp_path: Path) -> None:
    # The random sampler reads no trials before suggesting, so Optuna's trial cache must
    # learn of a trial the worker created through the storage (it once raised KeyError).
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    _optuna(str(sweep_file), "--trials", "2", "--storage", storage, "--sampler", "random")
    study = optuna.load_study(study_name="tiny-search", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2


def test_a_new_search_trains_its_base_config_first_and_only_once(tmp_path: Path) -> None:
    inside = {
        **SEARCH_SWEEP,
        "search": {**SEARCH_SWEEP["search"], "model.dense": {"choices": [[32], [32, 16]]}},
    }
    sweep_file = tmp_path / "inside.yaml"
    sweep_file.write_text(yaml.safe_dump(inside))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    _optuna(str(sweep_file), "--trials", "2", "--storage", storage, "--seed", "0")
    _optuna(str(sweep_file), "--more", "1", "--storage", storage, "--seed", "1")
    study = optuna.load_study(study_name="tiny-search", storage=storage)
    assert len(study.trials) == 3  # --trials counts the base trial
    first = study.trials[0]
    assert (
        first.user_attrs[ATTR.ORIGIN] == "base" and first.state == optuna.trial.TrialState.COMPLETE
    )
    assert first.params == {"model.activation": "relu", "model.dense": "[32]", "train.lr": 0.003}
    assert [ATTR.ORIGIN in t.user_attrs for t in study.trials] == [True, False, False]
