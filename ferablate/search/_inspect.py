"""A study read from outside its workers: its trials' states (``ferablate status``) and its best
trial written as a sweep file (``ferablate optuna --best``, for ``ferablate final``).

The one module of ferablate that asks SQLAlchemy itself: whether a storage holds Optuna's
tables, before Optuna would create them by opening it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ferablate._errors import SearchError
from ferablate.search._study import ATTR, best_study_sweep

__all__ = ["StudyTrialState", "export_best_trial", "study_trial_states"]


@dataclass(frozen=True)
class StudyTrialState:
    """One trial of an Optuna study, as plain values."""

    number: int
    name: str
    config_hash: str  # its ``config_hash`` user attribute, else ``#<number>``
    state: str  # WAITING | RUNNING | COMPLETE | PRUNED | FAIL
    value: float | None  # COMPLETE trials only
    reason: str  # why it failed, if it did


def study_trial_states(storage_url: str, study_name: str) -> dict[str, StudyTrialState]:
    """config hash (else ``#<number>``) -> the study's newest trial of it; read-only."""
    import optuna

    _existing_tables(storage_url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage_url)
    except KeyError:
        raise SearchError(
            f"no study '{study_name}' in --storage {storage_url}; check --study"
        ) from None
    found: dict[str, StudyTrialState] = {}
    for trial in study.get_trials(deepcopy=False):  # in number order: the newest retry wins
        attrs = trial.user_attrs
        key = str(attrs.get(ATTR.CONFIG_HASH) or f"#{trial.number}")
        found[key] = StudyTrialState(
            number=trial.number,
            name=str(attrs.get(ATTR.TRIAL) or f"optuna-{trial.number}"),
            config_hash=key,
            state=trial.state.name,
            value=trial.value if trial.state.name == "COMPLETE" else None,
            reason=str(attrs.get(ATTR.FAILURE_REASON, "")),
        )
    return found


def _existing_tables(storage_url: str) -> None:
    """Refuse a storage without Optuna's tables: opening it would create them."""
    import sqlalchemy

    if (
        storage_url.startswith("sqlite:///")
        and not Path(storage_url.removeprefix("sqlite:///")).is_file()
    ):
        raise SearchError(f"no Optuna storage at {storage_url}; check --storage")
    try:
        engine = sqlalchemy.create_engine(storage_url)
        try:
            present = sqlalchemy.inspect(engine).has_table("studies")
        finally:
            engine.dispose()
    except Exception as exc:
        raise SearchError(
            f"--storage {storage_url}: cannot open it: {str(exc).splitlines()[0]}"
        ) from exc
    if not present:
        raise SearchError(f"--storage {storage_url} holds no Optuna study; check the URL")


def export_best_trial(
    storage_url: str, study_name: str, path: Path | None = None
) -> tuple[Path, str]:
    """Write the study's best COMPLETE trial as a sweep file with one variant ``best`` (default:
    ``sweeps/<study>-best.yaml``); returns the file and its description."""
    import yaml

    sweep = best_study_sweep(storage_url, study_name)
    path = path or Path("sweeps") / f"{study_name}-best.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# {sweep['description']}\n# Train it on all of Training and score the test splits: ferablate final {path}\n"
    path.write_text(header + yaml.safe_dump(sweep, sort_keys=False), encoding="utf-8")
    return path, str(sweep["description"])
