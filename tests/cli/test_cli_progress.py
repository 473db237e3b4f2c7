"""Progress outside a terminal: timestamped lines while a trial runs; tables that never cut numbers."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from ferablate.cli import _progress
from ferablate.config import parse_sweep

SWEEP = """\
name: piped
base:
  data: {source: synthetic, synthetic_size: 420}
  model: {family: sequential, convs: [{channels: 4}, {channels: 8}], dense: [16], activation: elu}
  train: {folds: 2, epochs: 3, batch_size: 32, lr: 0.003}
variants: [{name: only}]
"""
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")


def test_piped_run_writes_each_epoch_while_the_trial_runs(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SWEEP)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ferablate", "run", "s.yaml", "--no-figures"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    seen: list[tuple[str, bool]] = []  # (line, process still alive when it arrived)
    deadline = time.monotonic() + 240
    for line in process.stderr:
        seen.append((line.rstrip("\n"), process.poll() is None))
        assert time.monotonic() < deadline, seen
    process.wait(timeout=60)
    lines = [line for line, _ in seen]
    assert process.returncode == 0, lines
    epochs = [(line, alive) for line, alive in seen if " epoch " in line]
    assert [re.search(r"epoch (\d)/3", line)[1] for line, _ in epochs] == ["1", "2", "3"], lines  # type: ignore[index]
    first, alive = epochs[0]
    assert alive, "the epoch-1 line arrived only after the process ended"
    assert STAMP.match(first) and "trial 1/1 only" in first
    assert re.search(r"loss \d\.\d{4} val acc \d\.\d{4} [\d,]+ faces/s, sweep ETA \d+s", first), (
        first
    )
    end = next(i for i, line in enumerate(lines) if "only: finished in" in line)
    assert (
        lines.index(first)
        < lines.index(next(line for line in lines if "saving weights" in line))
        < end
    )
    assert all(STAMP.match(line) for line in lines), lines  # nothing but log lines on stderr


def test_eta_is_the_mean_trial_time_times_the_trials_left() -> None:
    plain = _progress.PlainProgress()
    assert plain.eta() is None  # nothing to estimate from yet
    plain._trial_seconds, plain._left = [10.0, 30.0], 3
    assert plain.eta() == pytest.approx(60.0)
    assert _progress.format_duration(3725) == "1h02m" and _progress.format_duration(65) == "1m05s"


class _Clocked:
    """A PlainProgress whose clock the test moves and whose lines it keeps; trials a, b, c."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from ferablate.config import expand_sweep

        self.now = 1000.0
        monkeypatch.setattr(_progress.time, "monotonic", lambda: self.now)
        self.lines: list[str] = []
        self.plain = _progress.PlainProgress()
        monkeypatch.setattr(self.plain, "say", self.lines.append)
        raw = {"name": "s", "base": {"model": {"preset": "baseline-model1"}}}
        variants = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
        self.trials = expand_sweep(parse_sweep({**raw, "variants": variants}))

    def end(self, index: int, position: int, total: int) -> None:
        from ferablate.runner import TrialReport

        report = TrialReport(self.trials[index], "finished")  # type: ignore[arg-type]
        self.plain.on_trial_end(report, position, total)

    def ends(self) -> list[str]:
        return [line for line in self.lines if ": finished" in line]


def test_trials_side_by_side_each_report_their_own_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # --jobs 2: trial 2 starts before trial 1 ends; each end line gives that trial's own time.
    run = _Clocked(monkeypatch)
    run.plain.on_trial_start(run.trials[0], 1, 3)
    run.now += 5
    run.plain.on_trial_start(run.trials[1], 2, 3)
    run.now += 15
    run.end(0, 1, 3)
    run.now += 10
    run.end(1, 2, 3)
    assert "trial 1/3 a: finished in 20s" in run.ends()[0], run.ends()
    assert "trial 2/3 b: finished in 25s" in run.ends()[1], run.ends()
    assert run.plain.eta() == pytest.approx(22.5)  # one trial left at the mean of 20 s and 25 s
    run.end(2, 3, 3)  # it ran in another process: no time of its own
    assert run.lines[-1].startswith("trial 3/3 c: finished, sweep ETA 0s"), run.lines[-1]


def test_study_jobs_counting_positions_each_from_one_keep_their_trials_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `worker --jobs 2`: each job numbers its own trials, so two running trials share position 1.
    from ferablate.engine import EpochMetrics

    run = _Clocked(monkeypatch)
    run.plain.on_trial_start(run.trials[0], 1, 4)
    run.now += 2
    callback = run.plain.on_trial_start(run.trials[1], 1, 4)
    run.now += 8
    run.end(0, 1, 4)
    callback.on_epoch_end(1, [EpochMetrics(0, 1, 1.9, 1.9, 0.2, 0.2, 0.2)])  # b trains on
    run.now += 4
    run.end(1, 1, 4)
    assert "1/4 a: finished in 10s" in run.ends()[0], run.ends()
    assert "1/4 b: finished in 12s" in run.ends()[1], run.ends()


def test_rich_bar_names_the_post_training_stage_and_keeps_run_ids_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ferablate.config import expand_sweep
    from ferablate.runner import TrialReport

    narrow = Console(width=80, record=True, force_terminal=False)
    monkeypatch.setattr(_progress, "err_console", narrow)
    trial = expand_sweep(
        parse_sweep(
            {
                "name": "s",
                "base": {"model": {"preset": "baseline-model1"}},
                "variants": [{"name": "a-rather-long-variant-name-" * 2}],
            }
        )
    )[0]
    progress = _progress.SweepProgress()
    progress.on_trial_start(trial, 1, 2)
    progress.on_trial_stage(trial, "figures")
    (task,) = progress.progress.tasks
    assert "figures" in task.fields["where"]
    run_id = "0123456789abcdef0123456789abcdef"
    progress.on_trial_end(
        TrialReport(trial, "skipped", message=f"already FINISHED as run {run_id}"), 2, 2
    )  # type: ignore[arg-type]
    assert any(run_id in line for line in narrow.export_text().splitlines()), narrow.export_text()


def test_data_info_at_80_columns_cuts_no_number_or_class(tmp_path: Path) -> None:
    pixels = " ".join(["0"] * 2304)
    usage = ["Training"] * 1100 + ["PublicTest"] * 30 + ["PrivateTest"] * 20
    rows = ["emotion,pixels,Usage"] + [f"{i % 7},{pixels},{u}" for i, u in enumerate(usage)]
    path = tmp_path / "small.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(rows) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "ferablate", "data", "info", str(path)],
        env={**os.environ, "COLUMNS": "80"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout and max(map(len, result.stdout.splitlines())) <= 80
    cells = {cell.strip() for line in result.stdout.splitlines() for cell in line.split("│")}
    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert set(classes) <= cells, result.stdout
    # per class: 158/157 Training, 4/5 PublicTest, 3/2 PrivateTest; totals 1,100 30 20 1,150
    for number in ("158", "157", "1,100", "30", "20", "1,150", "165", "164"):
        assert any(
            number in line.split() or f" {number} " in line for line in result.stdout.splitlines()
        ), number
