"""``--jobs``: N processes share a sweep through claims; same metrics as one process; and a
fully finished sweep answers without importing torch."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ferablate.config import parse_sweep
from ferablate.runner import RunOptions, run_sweep
from ferablate.tracking import TAG, RunStore, TrialTracker

TINY = {
    "data": {"source": "synthetic", "synthetic_size": 140},
    "model": {
        "family": "sequential",
        "convs": [{"channels": 4}],
        "dense": [8],
        "activation": "elu",
    },
    "train": {"folds": 2, "epochs": 1, "batch_size": 32},
}
FOUR = parse_sweep(
    {
        "name": "four",
        "base": TINY,
        "variants": [
            {"name": "a"},
            {"name": "b", "set": {"model.activation": "relu"}},
            {"name": "c", "set": {"train.lr": 0.003}},
            {"name": "d", "set": {"train.seed": 3}},
        ],
    }
)


def _fold_metrics(uri: str) -> dict[str, dict[str, dict[str, float]]]:
    trials = RunStore(uri).load_trials("four")
    return {t.config_hash: {fold: dict(m) for fold, m in t.fold_metrics.items()} for t in trials}


def test_two_jobs_train_every_trial_once_with_the_metrics_of_one_job(tmp_path: Path) -> None:
    one, two = (f"sqlite:///{tmp_path / name / 'mlflow.db'}" for name in ("one", "two"))
    reports = run_sweep(FOUR, options=RunOptions(tracking_uri=two, figures=False, jobs=2, poll=0.2))
    assert [r.status for r in reports] == ["finished"] * 4
    assert [r.trial.name for r in reports] == ["a", "b", "c", "d"]
    parents = TrialTracker("four", two).search(f"tags.`{TAG.ROLE}` = 'trial'")
    assert (
        sorted(r.info.status for r in parents) == ["FINISHED"] * 4
    )  # no duplicates, no lost claims
    assert len({r.data.tags[TAG.CONFIG_HASH] for r in parents}) == 4
    # figures=False (--no-figures) holds in the jobs too: not even a job's final trial is drawn
    assert not list((tmp_path / "two").rglob("*.png"))

    # The engine is deterministic per config on CPU for a given thread count; each of the two
    # jobs trains with its share of the cores, so the one-process reference does too (float
    # sums over 2 threads differ from 1 thread in the 6th digit).
    import torch

    from ferablate.runner._jobs import core_share

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, len(core_share(0, 2)) or (os.cpu_count() or 2) // 2))
    try:
        run_sweep(FOUR, options=RunOptions(tracking_uri=one, figures=False))
    finally:
        torch.set_num_threads(threads)
    single, jobs = _fold_metrics(one), _fold_metrics(two)
    assert single.keys() == jobs.keys() and len(single) == 4
    for config_hash, folds in single.items():
        assert folds.keys() == jobs[config_hash].keys() == {"0", "1"}
        for fold, metrics in folds.items():
            assert jobs[config_hash][fold] == pytest.approx(metrics, abs=1e-6)


def test_a_finished_sweep_answers_without_importing_torch(tmp_path: Path) -> None:
    sweep = tmp_path / "one.yaml"
    sweep.write_text(
        "name: one\nbase:\n  data: {source: synthetic, synthetic_size: 140}\n"
        "  model: {family: sequential, convs: [{channels: 4}], dense: [8]}\n"
        "  train: {folds: 2, epochs: 1, batch_size: 32}\nvariants: [{name: a}]\n"
    )
    command = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "ferablate",
        "run",
        str(sweep),
        "--no-figures",
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=300)  # trains it
    started = time.perf_counter()
    skipped = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60)
    wall = time.perf_counter() - started
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in skipped.stderr.splitlines() if "|" in line
    }
    assert "skipped" in skipped.stderr + skipped.stdout
    assert "torch" not in imported and "ferablate.engine" not in imported
    assert wall < 10, f"a fully skipped run took {wall:.1f} s"

    table = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ferablate", "table", str(sweep)],
        check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "torch" not in {
        line.rsplit("|", 1)[-1].strip() for line in table.stderr.splitlines() if "|" in line
    }


def test_a_job_hands_on_figures_while_it_trains_and_draws_its_final_trials_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The loop holds a finished trial's figures until its next claim says whether more
    # follows; a job hands held figures to the parent and draws its final trial's itself.
    import queue

    from ferablate import TrialOutcome
    from ferablate.config import expand_sweep
    from ferablate.runner import _figures, _jobs, work_queue
    from ferablate.tracking import Claim, TrialReport

    drawn: list[str] = []
    monkeypatch.setattr(
        _figures, "draw_stored_figures", lambda uri, run_id, background: drawn.append(run_id)
    )
    events: queue.Queue[tuple[object, ...]] = queue.Queue()
    observer = _jobs.JobObserver(_jobs._Events(events, 1))  # type: ignore[arg-type]
    figures = _jobs.JobFigures(observer, "sqlite:///unused.db")
    first, second, *_ = expand_sweep(FOUR)
    claims = [Claim(first, 1, 4), Claim(second, 2, 4)]

    class TwoTrials:
        total = 4

        def claim(self) -> Claim | None:
            return claims.pop(0) if claims else None

        def heartbeat(self, claim: Claim) -> contextlib.nullcontext[None]:
            return contextlib.nullcontext()

        def finish(self, claim: Claim, report: TrialReport) -> TrialReport:
            return report

        def release(self, claim: Claim, exc: BaseException) -> None:
            return None

    def train(claim: Claim, callbacks: object) -> TrialReport:
        if claim.trial is second:  # it trains on: the parent's background process draws a's
            assert ("figures", 1, first, 1, "run-a") in list(events.queue)
        return TrialReport(
            claim.trial, TrialOutcome.FINISHED, run_id=f"run-{'ab'[claim.position - 1]}"
        )

    work_queue(TwoTrials(), train, observer, figures)
    assert drawn == ["run-b"]  # nothing left to train: drawn in the job, on its own cores
    sent = [message for message in list(events.queue) if message[0] in ("figures", "stage")]
    assert sent == [("figures", 1, first, 1, "run-a"), ("stage", 1, second, "figures")]


def test_a_job_sends_every_report_without_its_trial_result() -> None:
    # A TrialResult's tensors would travel through torch's shared-memory passing, which kept a
    # `worker --jobs` job from exiting (the parent then took it for dead).
    import queue

    from ferablate import TrialOutcome
    from ferablate.config import expand_sweep
    from ferablate.runner import _jobs
    from ferablate.tracking import TrialReport

    events: queue.Queue[tuple[object, ...]] = queue.Queue()
    observer = _jobs.JobObserver(_jobs._Events(events, 0))  # type: ignore[arg-type]
    report = TrialReport(expand_sweep(FOUR)[0], TrialOutcome.FINISHED, result=object(), number=3)  # type: ignore[arg-type]
    observer.on_trial_end(report, 1, 4)
    observer.on_worked(report)
    sent = [events.get_nowait(), events.get_nowait()]
    assert sent[0][:3] == ("end", 0, 1) and sent[1][:3] == ("hook", 0, "on_worked")
    carried = [sent[0][3], sent[1][3][0]]  # type: ignore[index]
    assert [(r.result, r.number) for r in carried] == [(None, 3), (None, 3)]
    assert report.result is not None  # the job's own report is left as it was
