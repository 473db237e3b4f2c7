"""Resuming a search: a repeated --seed draws new configs; a config that FINISHED is reused."""

from __future__ import annotations

from pathlib import Path

import optuna
import yaml
from _tiny import tiny_base
from mlflow import MlflowClient
from typer.testing import CliRunner

from ferablate.cli import app
from ferablate.search import ATTR, sampler_seed, set_target_trials
from ferablate.tracking import TAG, resolve_tracking_uri

SWEEP = {
    "name": "resume-search",
    "base": tiny_base(),
    "search": {"train.lr": {"low": 1e-3, "high": 1e-2, "log": True}},
}


def _optuna(*args: str) -> None:
    result = CliRunner().invoke(app, ["optuna", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _trial_runs() -> list[object]:
    client = MlflowClient(resolve_tracking_uri())
    experiment = client.get_experiment_by_name("resume-search")
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id], f"tags.`{TAG.ROLE}` = 'trial'"))


def test_sampler_seed_depends_on_the_trials_already_in_the_study() -> None:
    assert sampler_seed(None, 5) is None
    assert sampler_seed(0, 3) == sampler_seed(0, 3)
    assert len({sampler_seed(0, n) for n in range(10)}) == 10


def test_resume_with_the_same_seed_samples_new_configs_and_reuses_finished_ones(
    tmp_path: Path,
) -> None:
    sweep = tmp_path / "search.yaml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = (str(sweep), "--storage", storage, "--seed", "0", "--sampler", "random")
    _optuna(*args, "--trials", "3")  # base + 2 sampled
    _optuna(*args, "--more", "2")  # resumed with the same seed: 2 new samples
    study = optuna.load_study(study_name="resume-search", storage=storage)
    lrs = [t.params["train.lr"] for t in study.trials]
    assert len(lrs) == 5 and len(set(lrs)) == 5  # no replay of trials 1 and 2
    assert len(_trial_runs()) == 5

    # A config whose hash already FINISHED is not trained again: Optuna gets the stored value.
    earlier = study.trials[1]
    set_target_trials(study, 1)
    study.enqueue_trial(params=earlier.params)
    result = CliRunner().invoke(
        app, ["worker", "--storage", storage, "--study", "resume-search"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    trials = optuna.load_study(study_name="resume-search", storage=storage).trials
    assert len(trials) == 6
    reused = trials[5]
    assert reused.state == optuna.trial.TrialState.COMPLETE
    assert reused.value == earlier.value
    assert reused.user_attrs[ATTR.ORIGIN] == "reused"
    assert reused.user_attrs[ATTR.RUN_ID] == earlier.user_attrs[ATTR.RUN_ID]
    assert len(_trial_runs()) == 5  # no new MLflow run
