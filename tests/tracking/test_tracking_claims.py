"""Claims: a trial's config hash is held by one live process; the re-read rule on any store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ferablate import TrialOutcome
from ferablate.config import expand_sweep, parse_sweep
from ferablate.runner import RunOptions
from ferablate.tracking import TAG, StoredRun, TrialRun, TrialTracker, identify_trials
from ferablate.tracking._claims import owner_alive, read_claims, wins_claim

BASE = {
    "data": {"source": "synthetic", "synthetic_size": 140},
    "model": {"family": "sequential", "convs": [{"channels": 4}], "dense": [8]},
    "train": {"folds": 2, "epochs": 1, "batch_size": 32},
}
SWEEP = parse_sweep({"name": "claims", "base": BASE, "variants": [{"name": "a"}]})
(TRIAL,) = identify_trials(expand_sweep(SWEEP))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_second_claim_on_a_held_trial_is_refused_then_a_dead_owner_is_taken_over() -> None:
    tracker = TrialTracker("claims")
    first = tracker.claim(TRIAL, data_hash="d")
    assert isinstance(first, TrialRun)
    held = tracker.claim(TRIAL, data_hash="d")
    assert isinstance(held, StoredRun) and held.run_id == first.run_id and held.status == "RUNNING"

    tracker.client.set_tag(first.run_id, TAG.PID, str(_dead_pid()))  # its process is gone
    taken = tracker.claim(TRIAL, data_hash="d")
    assert isinstance(taken, TrialRun) and taken.run_id != first.run_id
    assert tracker.client.get_run(first.run_id).info.status == "KILLED"

    taken.end(TrialOutcome.FINISHED)
    done = tracker.claim(TRIAL, data_hash="d")
    assert isinstance(done, StoredRun) and done.status == "FINISHED" and done.run_id == taken.run_id
    # rerun: a FINISHED run from before this sweep started is no reason to skip
    again = tracker.claim(TRIAL, data_hash="d", finished_since=done.start_time + 1)
    assert isinstance(again, TrialRun)


def test_the_re_read_rule_lets_at_most_one_of_two_racing_claims_win() -> None:
    """The two interleavings of the rule (server stores have no lock): whoever re-reads alone
    wins, the later one sees it and loses; two that see each other both lose."""
    tracker = TrialTracker("claims")

    def state():  # type: ignore[no-untyped-def]
        return read_claims(tracker.client, tracker.experiment_id, TRIAL.config_hash)

    a = tracker.start(TRIAL, data_hash="d")
    assert wins_claim(a.run_id, state())  # A re-read before B created its run: A holds it
    b = tracker.start(TRIAL, data_hash="d")
    assert not wins_claim(b.run_id, state())  # B's re-read sees A: B loses
    tracker.client.delete_run(b.run_id)
    assert wins_claim(a.run_id, state())  # a withdrawn claim is invisible

    c = tracker.start(TRIAL, data_hash="d")  # A and C both exist when either re-reads
    both = state()
    assert {r.run_id for r in both.live} == {a.run_id, c.run_id}
    assert not wins_claim(a.run_id, both) and not wins_claim(c.run_id, both)  # both retry later


def test_owner_alive_by_pid_on_this_host_and_by_heartbeat_elsewhere() -> None:
    tracker = TrialTracker("claims")
    run = tracker.start(TRIAL, data_hash="d")
    stored = StoredRun.from_mlflow(tracker.client.get_run(run.run_id))
    assert stored.tags[TAG.PID] == str(os.getpid()) and owner_alive(stored)
    assert not owner_alive(
        StoredRun(**{**stored.__dict__, "tags": {**stored.tags, TAG.PID: str(_dead_pid())}})
    )
    beat = float(stored.tags[TAG.HEARTBEAT])
    remote = StoredRun(**{**stored.__dict__, "tags": {**stored.tags, TAG.HOST: "elsewhere"}})
    assert owner_alive(remote, now=beat + 30)
    assert not owner_alive(remote, now=beat + 3600)


def test_two_processes_on_a_fresh_store_train_each_trial_once(tmp_path: Path) -> None:
    """Issue 13.2: two real ``ferablate run`` on one new SQLite store, started together."""
    sweep = tmp_path / "three.yaml"
    sweep.write_text(
        "name: three\n"
        "base:\n"
        "  data: {source: synthetic, synthetic_size: 140}\n"
        "  model: {family: sequential, convs: [{channels: 4}], dense: [8]}\n"
        "  train: {folds: 2, epochs: 1, batch_size: 32}\n"
        "variants: [{name: a}, {name: b, set: {train.lr: 0.003}}, {name: c, set: {train.seed: 3}}]\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "ferablate", "run", str(sweep), "--no-figures"]
    runs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    tracker = TrialTracker("three")
    parents = tracker.search(f"tags.`{TAG.ROLE}` = 'trial'")
    assert sorted(r.info.status for r in parents) == ["FINISHED"] * 3, outputs
    assert len({r.data.tags[TAG.CONFIG_HASH] for r in parents}) == 3


def test_the_fast_sqlite_read_matches_the_mlflow_read() -> None:
    from ferablate.runner import run_sweep
    from ferablate.tracking import RunStore, finished_hashes, resolve_tracking_uri
    from ferablate.tracking._sqlite_read import finished_trials_sqlite

    sweep = parse_sweep(
        {
            "name": "fast",
            "base": BASE,
            "variants": [{"name": "a"}, {"name": "b", "set": {"train.lr": 0.003}}],
        }
    )
    run_sweep(sweep, options=RunOptions(figures=False))
    uri = resolve_tracking_uri()
    fast = finished_trials_sqlite(Path(uri.removeprefix("sqlite:///")), "fast")
    assert fast is not None and len(fast) == 2
    slow = RunStore(uri).finished_by_hash("fast")
    assert {r.config_hash: r for r in fast} == slow == finished_hashes("fast")
