"""``ferablate optuna``: Optuna search over a sweep's ``search:`` space, with pruning (issue 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ferablate.cli._app import app
from ferablate.cli._console import console
from ferablate.cli._options import GraceOpt, HeartbeatOpt, OverridesOpt, StudyOpt, TrackingUriOpt

__all__ = ["DEFAULT_SEARCH_SWEEP", "optuna_command"]

DEFAULT_SEARCH_SWEEP = Path("sweeps/model1_optuna.yaml")
_SAMPLERS = ("tpe", "random")
_PRUNERS = ("median", "hyperband", "none")


@app.command("optuna")
def optuna_command(
    sweep: Annotated[
        Path | None,
        typer.Argument(help=f"Sweep file with a 'search:' mapping \\[default: {DEFAULT_SEARCH_SWEEP}].", metavar="[SWEEP]"),
    ] = None,
    trials: Annotated[int, typer.Option("--trials", "-n", min=1, help="Trials to add to the study.")] = 20,
    storage: Annotated[
        str | None, typer.Option("--storage", metavar="URL", help="Optuna storage \\[default: sqlite:///mlruns/optuna.db].")
    ] = None,
    study: StudyOpt = None,
    sampler: Annotated[str, typer.Option("--sampler", help="tpe | random.")] = "tpe",
    pruner: Annotated[str, typer.Option("--pruner", help="median | hyperband | none.")] = "median",
    timeout: Annotated[float | None, typer.Option("--timeout", metavar="S", help="Start no trial after S seconds.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampler seed.")] = None,
    overrides: OverridesOpt = None,
    max_parameters: Annotated[
        int, typer.Option("--max-params", help="Reject sampled models with more parameters.")
    ] = 2_000_000,
    best: Annotated[bool, typer.Option("--best", help="Write the best trial as a sweep file; train nothing.")] = False,
    export: Annotated[
        Path | None, typer.Option("--export", metavar="FILE", help="With --best: where to write it \\[default: sweeps/<study>-best.yaml].")
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    heartbeat: HeartbeatOpt = 10,
    grace: GraceOpt = None,
) -> None:
    """Search SWEEP's space with Optuna (pruning on the per-epoch mean over folds); resumable."""
    import time

    import optuna

    from ferablate._errors import ConfigError
    from ferablate.config import load_sweep, parse_overrides, resolve_trial
    from ferablate.search import DEFAULT_STORAGE, StudySpec, enqueue_base_trial, set_target_trials

    if sampler not in _SAMPLERS:
        raise ConfigError(f"--sampler '{sampler}': use one of {', '.join(_SAMPLERS)}")
    if pruner not in _PRUNERS:
        raise ConfigError(f"--pruner '{pruner}': use one of {', '.join(_PRUNERS)}")
    sweep_path = sweep or DEFAULT_SEARCH_SWEEP
    loaded = load_sweep(sweep_path)
    study_name = study or loaded.name
    storage_url = storage or DEFAULT_STORAGE
    if best or export is not None:
        _export_best(storage_url, study_name, export)
        return
    if not loaded.search:
        raise ConfigError(f"{sweep_path}: no 'search:' mapping; add dotted keys with {{low, high}} or {{choices}}")
    patch = parse_overrides(overrides or [])
    base = resolve_trial(loaded.base, [("--set", patch)] if patch else []).model_dump(mode="json")
    spec = StudySpec(
        kind="search",
        experiment=study_name,
        base=base,
        dims=loaded.search,
        sampler=sampler,  # type: ignore[arg-type]
        pruner=pruner,  # type: ignore[arg-type]
        max_parameters=max_parameters,
    )

    from ferablate.cli._worker import print_worked, work_on_study

    def prepare(opened: optuna.Study, held: StudySpec) -> None:
        set_target_trials(opened, trials)
        if enqueue_base_trial(opened, held):  # one of the `trials`: the target is set first
            console.print("trial 0 is the base config, queued; the sampler picks the rest")

    started = time.monotonic()
    worked = work_on_study(
        storage_url,
        study_name,
        spec=spec,
        prepare=prepare,
        tracking_uri=tracking_uri,
        timeout=timeout,
        heartbeat=heartbeat,
        grace=grace,
        seed=seed,
    )
    print_worked(f"study '{study_name}'", worked, time.monotonic() - started)
    _print_best(storage_url, study_name)


def _print_best(storage_url: str, study_name: str) -> None:
    import optuna
    from optuna.trial import TrialState

    from ferablate.search import ATTR, open_storage

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url))
    trials = study.get_trials(deepcopy=False)
    counts = {state.name: sum(1 for t in trials if t.state == state) for state in TrialState}
    console.print("study totals: " + ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n))
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if complete:
        top = max(complete, key=lambda t: t.value or 0.0)
        console.print(
            f"best: trial {top.number} ({top.user_attrs.get(ATTR.TRIAL, '')}) mean val accuracy {top.value:.4f}; "
            f"write it with 'ferablate optuna SWEEP --best'"
        )


def _export_best(storage_url: str, study_name: str, export: Path | None) -> None:
    import yaml

    from ferablate.search import best_trial_sweep, open_storage, open_study

    study, _ = open_study(open_storage(storage_url), study_name)
    sweep = best_trial_sweep(study)
    path = export or Path("sweeps") / f"{study_name}-best.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# {sweep['description']}\n# Train it on all of Training and score the test splits: ferablate final {path}\n"
    path.write_text(header + yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    console.print(f"wrote {path} ({sweep['description']})")
