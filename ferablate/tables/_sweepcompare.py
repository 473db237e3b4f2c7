"""``ferablate compare``: a sweep's trials against a baseline, from the fold runs in MLflow.

Each expanded trial (under the ``--set`` overrides) is matched to the newest FINISHED run with
its identity (``tracking.match_sweep``) in the sweep's experiment (``config.experiment_name``);
its fold runs give the last-epoch score of every fold, its resolved config and data hash the
split key (``stats.split_key``), the fold runs' ``n_train_distinct`` / ``n_val_distinct`` params
the Nadeau–Bengio ratio. A trial without a finished run becomes a row that says why (failed,
diverged, running, missing), never an error; only an unusable baseline is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any, cast

from ferablate._errors import ConfigError
from ferablate._logging import get_logger
from ferablate.config import Sweep, Trial, expand_sweep, experiment_name, parent_trials
from ferablate.stats import Comparison, StatOptions, TrialScores, compare_all, split_key
from ferablate.tables._build import _METRICS, _slug, choose_run
from ferablate.tables._compare import comparison_caption, comparison_doc
from ferablate.tables._provenance import RowOrigin, sweep_footer
from ferablate.tables._render import render_tables
from ferablate.tracking import TAG, RunStore, StoredTrial, match_sweep

__all__ = [
    "SweepComparison",
    "compare_sweep",
    "render_sweep_comparison",
    "sweep_scores",
    "trial_scores",
]

_log = get_logger(__name__)


@dataclass(frozen=True)
class SweepComparison:
    """What ``ferablate compare`` shows: the rows, what they are, where they come from."""

    name: str  # sweep name (the LaTeX label)
    comparisons: list[Comparison]  # one per trial other than the baseline, in sweep order
    caption: str  # metric, baseline, test (tables.comparison_caption)
    footer: str  # provenance sentences (data, protocol, commit, shared overrides)


def _distinct(run: StoredTrial, key: str) -> int | None:
    values = [params.get(key) for params in run.fold_params.values()]
    if not values or any(value is None or not value.isdigit() for value in values):
        return None  # runs logged before the fold params existed: the 1/(k - 1) default
    return round(fmean(int(value) for value in values if value is not None))


def trial_scores(name: str, run: StoredTrial) -> TrialScores:
    """The stored trial ``run`` as a comparison reads it (see the module docstring)."""
    scores = {
        metric: {
            fold: values[metric] for fold, values in run.fold_metrics.items() if metric in values
        }
        for metric in _METRICS
    }
    collapsed = set(run.collapsed_folds)
    collapsed.update(filter(None, run.tags.get(TAG.COLLAPSED_FOLDS, "").split(",")))
    return TrialScores(
        variant=name,
        scores=scores,
        split_key=split_key(run.config, run.data_hash),
        n_train=_distinct(run, "n_train_distinct"),
        n_val=_distinct(run, "n_val_distinct"),
        collapsed=frozenset(collapsed),
    )


def sweep_scores(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None = None,
    *,
    tracking_uri: str | None = None,
    announce: bool = True,
) -> tuple[list[TrialScores], list[RowOrigin]]:
    """Every trial of ``sweep`` as :class:`TrialScores` (sweep order) and the origins of those
    that finished (for provenance). A trial's runs are those with its identity
    (``tracking.match_sweep``, as ``table`` and ``status``); with ``announce`` one warning
    line names the ``--set`` pairs its variants ran with otherwise."""
    scores, origins, notes = _scores(sweep, overrides, tracking_uri)
    if announce:
        for line in notes:
            _log.warning("%s", line)
    return scores, origins


def _scores(
    sweep: Sweep, overrides: Mapping[str, Any] | None, tracking_uri: str | None
) -> tuple[list[TrialScores], list[RowOrigin], list[str]]:
    stored = RunStore(tracking_uri).load_trials(experiment_name(sweep, overrides), finished=False)
    matched = match_sweep(expand_sweep(sweep, overrides), stored)
    scores, origins = [], []
    for trial in matched.trials:
        run, status = choose_run(cast("list[StoredTrial]", matched.runs_of(trial)))
        if run is None or status != "finished":
            scores.append(TrialScores(trial.name, {}, None, status=status))
            continue
        scores.append(trial_scores(trial.name, run))
        precision = run.tags.get(TAG.PRECISION, "")
        origins.append(RowOrigin(trial.name, run.config, run.data_hash, run.git_commit, precision))
    return scores, origins, matched.notes


def _baseline_name(requested: str | None, sweep: Sweep, trials: Sequence[Trial]) -> str | None:
    """A trial name: ``requested`` as given, or the one trial of a variant of that name."""
    if requested is None or any(trial.name == requested for trial in trials):
        return requested
    of_variant = [trial.name for trial in trials if trial.variant == requested]
    if len(of_variant) > 1:
        raise ConfigError(
            f"variant {requested!r} of sweep {sweep.name!r} has {len(of_variant)} trials (a grid); "
            f"choose one as --baseline: {', '.join(of_variant)}"
        )
    return of_variant[0] if of_variant else requested


def compare_sweep(
    sweep: Sweep,
    overrides: Mapping[str, Any] | None = None,
    *,
    baseline: str | None = None,
    metric: str = "val_accuracy",
    options: StatOptions | None = None,
    tracking_uri: str | None = None,
    announce: bool = True,
) -> SweepComparison:
    """Every trial of ``sweep`` against ``baseline`` (a trial or variant name) on ``metric``;
    without one, each trial against its declared parent (``parent:`` in the sweep file; the
    same grid point) and a trial without a parent against the first trial, by the test, rope,
    alpha and family adjustment of ``options`` (default ``StatOptions()``; see ``stats.compare``)."""
    options = options or StatOptions()
    if metric not in _METRICS:
        raise ConfigError(f"unknown metric {metric!r}; choose one of: {', '.join(_METRICS)}")
    trials = expand_sweep(sweep, overrides)
    chosen = _baseline_name(baseline, sweep, trials)
    scores, origins, notes = _scores(sweep, overrides, tracking_uri)
    by_name = {score.variant: score for score in scores}
    first = chosen if chosen is not None else (scores[0].variant if scores else None)
    other_settings = next((line for line in notes if "also ran with" in line), "")
    if first in by_name and by_name[first].status == "missing" and other_settings:
        # the baseline ran, under other settings: say which instead of "run it first"
        raise ConfigError(f"baseline {first!r} has no run under these settings; {other_settings}")
    if announce:
        for line in notes:
            _log.warning("%s", line)
    comparisons = compare_all(
        scores, chosen, parents=parent_trials(sweep, trials), metric=metric, test=options.test,
        rope=options.rope, alpha=options.alpha, adjust=options.adjust,
    )  # fmt: skip
    return SweepComparison(
        name=sweep.name,
        comparisons=comparisons,
        caption=f"{sweep.name}: {comparison_caption(comparisons)}",
        footer=sweep_footer(sweep, origins),
    )


def render_sweep_comparison(
    result: SweepComparison, fmt: str = "text", *, standalone: bool = False
) -> str:
    """``result`` as ``fmt`` (``TableFormat``): text or Markdown (provenance as a footer),
    LaTeX (provenance as a table note) or CSV (exactly ``stats.COMPARISON_COLUMNS``)."""
    footers = [result.footer] if result.footer else []
    doc = comparison_doc(
        result.comparisons, caption=result.caption, label=f"tab:compare-{_slug(result.name)}",
        notes=footers, after=footers,
    )  # fmt: skip
    return render_tables([doc], fmt, standalone=standalone, kind="comparison")
