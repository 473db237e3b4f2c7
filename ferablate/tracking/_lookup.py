"""The one lookup rule of every reader (``table``, ``compare``, ``status``): a trial's runs are
the stored trial runs with its identity, nothing else.

Runs of the sweep's trials (by trial or variant name) made under other settings are never
shown as current; :func:`match_sweep` sums them up in one line that names the ``--set``
pairs they ran with. When the data file is not on this machine (tables read on a laptop),
a trial's data fingerprint is taken from the store: the data hash of its stored runs whose
identity it then matches, said in one line as well.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ferablate._errors import DataError, TrackingError
from ferablate._logging import get_logger
from ferablate.config import (
    DataConfig,
    Trial,
    experiment_name,
    flatten_config,
    identity_differences,
    identity_fields,
    sweep_target,
)
from ferablate.tracking._identity import (
    Fingerprint,
    identify_trials,
    identity_of,
    machine_precision,
    run_identity_fields,
)
from ferablate.tracking._runs import RunStore, StoredRun

__all__ = ["SweepRuns", "match_sweep", "trial_run_id"]

_log = get_logger(__name__)

_DATA = "data.fingerprint"
_ABSENT = object()


@dataclass(frozen=True)
class SweepRuns:
    """A sweep's identified trials and the stored runs of each (newest first)."""

    trials: list[Trial]
    by_identity: dict[str, list[StoredRun]]
    note: str = ""  # one line: runs of these trials under other settings (or "")
    # every line to tell (data taken from the store, note)
    notes: list[str] = field(default_factory=list)

    def runs_of(self, trial: Trial) -> list[StoredRun]:
        return self.by_identity.get(trial.config_hash, [])


def match_sweep(
    trials: Sequence[Trial], runs: Sequence[StoredRun], fingerprint: Fingerprint | None = None
) -> SweepRuns:
    """Identify ``trials`` and give each its runs among ``runs`` (trial runs, newest first)."""
    if fingerprint is None:
        from ferablate.data import data_fingerprint

        fingerprint = data_fingerprint
    by_identity: dict[str, list[StoredRun]] = {}
    for run in runs:
        by_identity.setdefault(run.identity, []).append(run)
    notes: list[str] = []
    from_store = _StoreFingerprint(fingerprint, trials, runs, set(by_identity), notes)
    identified = identify_trials(trials, from_store)
    known = {trial.config_hash for trial in identified}
    others = [run for run in runs if run.identity not in known]
    note = _other_settings_note(identified, others, from_store.found)
    if note:
        notes.append(note)
    return SweepRuns(
        identified, {key: value for key, value in by_identity.items() if key in known}, note, notes
    )


def trial_run_id(store: RunStore, target: str, variant: str | None) -> str:
    """A run id as given, or the newest FINISHED trial run of ``variant`` (default: the first)
    in a sweep file's experiment, found by the lookup rule of :func:`match_sweep`."""
    found = sweep_target(target, variant, otherwise="a run id")
    if found is None:
        return target
    sweep, trial = found
    experiment = experiment_name(sweep)
    if store.experiment_id(experiment) is None:
        raise TrackingError(
            f"{target}: no MLflow experiment '{experiment}' in this store; run `ferablate run {target}` first"
        )
    matched = match_sweep([trial], store.trial_runs(experiment))
    newest = store.newest_finished(experiment, config_hash=matched.trials[0].config_hash)
    if newest is None:
        advice = matched.note or f"run `ferablate run {target}` first"
        raise TrackingError(
            f"{target}: no FINISHED trial of variant '{trial.variant}' in experiment "
            f"'{experiment}' under these settings; {advice}"
        )
    return newest.run_id


class _StoreFingerprint:
    """The data fingerprint from the data, else (file not here) the stored data hash under
    which the trials' identities match stored runs."""

    def __init__(
        self,
        fingerprint: Fingerprint,
        trials: Sequence[Trial],
        runs: Sequence[StoredRun],
        identities: set[str],
        notes: list[str],
    ) -> None:
        self._fingerprint = fingerprint
        self._trials = trials
        self._stored = list(dict.fromkeys(run.data_hash for run in runs if run.data_hash))
        self._identities = identities
        self._notes = notes
        self.found: dict[DataConfig, str] = {}

    def __call__(self, data: DataConfig) -> str:
        self.found[data] = self._find(data)
        return self.found[data]

    def _find(self, data: DataConfig) -> str:
        try:
            return self._fingerprint(data)
        except DataError as exc:
            configs = [trial.config for trial in self._trials if trial.config.data == data]
            for stored in self._stored:  # newest first
                if any(identity_of(c, stored) in self._identities for c in configs):
                    self._notes.append(
                        f"{str(exc).split(';')[0]}: trials matched by the data hash their "
                        f"runs stored ({stored})"
                    )
                    return stored
            return ""  # no run can match: every trial reads as missing


def _value(value: Any) -> str:
    # true/false/null and lists as --set reads them (YAML)
    return value if isinstance(value, str) else json.dumps(value)


def _other_settings_note(
    trials: Sequence[Trial], others: Sequence[StoredRun], fingerprints: dict[DataConfig, str]
) -> str:
    """One line naming the settings the sweep's trials ran with other than the current ones."""
    by_name = {trial.name: trial for trial in trials}
    by_variant = {trial.variant: trial for trial in reversed(trials)}  # its first trial
    mine: dict[str, dict[str, Any]] = {}
    seen: Counter[tuple[tuple[str, str], ...]] = Counter()
    for run in others:
        trial = by_name.get(run.name) or by_variant.get(run.variant)
        theirs = run_identity_fields(run.tags) if trial is not None else None
        if trial is None or theirs is None:
            continue
        if trial.name not in mine:
            config = trial.config
            mine[trial.name] = identity_fields(
                config,
                data_fingerprint=fingerprints.get(config.data, ""),
                precision=machine_precision(config.train),
            )
        own = flatten_config(trial.config)
        differences = {  # a key only one side hashes (data.seed with data.limit) but equal: no news
            key: value
            for key, value in identity_differences(mine[trial.name], theirs).items()
            if key in mine[trial.name] or own.get(key, _ABSENT) != value
        }
        if differences:
            seen[tuple((key, _value(value)) for key, value in differences.items())] += 1
    if not seen:
        return ""
    listed = []
    for pairs, count in seen.most_common(3):
        shown = " ".join(
            f"other data ({value})" if key == _DATA else f"{key}={value}" for key, value in pairs
        )
        listed.append(f"{shown} ({count} run{'s' * (count != 1)})")
    more = f" and {len(seen) - 3} more" if len(seen) > 3 else ""
    best = seen.most_common(1)[0][0]
    settable = " ".join(f"--set {key}={value}" for key, value in best if key != _DATA)
    hint = f"; add {settable} to see them" if settable else ""
    if any(key == _DATA for key, _ in best):
        hint += (" and " if settable else "; ") + "point data.path at that data"
    return f"variants of this sweep also ran with {', '.join(listed)}{more}{hint}"
