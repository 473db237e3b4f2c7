"""Sweep progress on stderr: a rich live display in a terminal, plain timestamped lines elsewhere.

:func:`sweep_progress` picks one. Redirected output (nohup, CI, a scheduler's log file) gets
one flushed line per trial start/end, epoch and post-training step, so a log read while the
sweep runs says where it is; a rich bar there would appear only when the sweep ends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ferablate.cli._console import err_console

if TYPE_CHECKING:
    from rich.progress import TaskID

    from ferablate.config import Trial
    from ferablate.engine import EpochMetrics, TrialCallback, TrialInfo
    from ferablate.runner import StudyReady, TrialReport

__all__ = ["PlainProgress", "SweepProgress", "format_duration", "sweep_progress"]


def sweep_progress() -> SweepProgress | PlainProgress:
    """The observer for this stderr: rich bars on a terminal, plain lines otherwise."""
    return SweepProgress() if err_console.is_terminal else PlainProgress()


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``: short enough for a progress line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _study_ready_lines(ready: StudyReady) -> list[str]:
    lines = []
    if ready.queued is not None:
        lines.append(
            f"study '{ready.study}': queued {len(ready.queued)} trial(s), skipped {len(ready.skipped)} "
            f"already finished, queued or running"
        )
    if ready.base_queued:
        lines.append("trial 0 is the base config, queued; the sampler picks the rest")
    return lines


def _worked_line(worked: TrialReport) -> str:
    scored = worked.value is not None and worked.status in ("finished", "skipped")
    value = f" val acc {worked.value:.4f}" if scored else ""
    note = f" ({worked.message[:100]})" if worked.message and worked.status != "finished" else ""
    name, status = worked.trial.name, worked.status.value
    return f"trial {worked.number} {name}: {status}{value} in {worked.seconds:.1f}s{note}"


def _folds_label(info: TrialInfo) -> str:
    return f"folds 1-{info.folds} packed" if info.packed else f"{info.folds} folds"


class SweepProgress:
    """A ``SweepObserver`` / ``StudyObserver`` drawing one progress bar per running trial and
    one line per study event (to stderr)."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.fields[trial]}[/]"),
            TextColumn("{task.fields[where]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}  # config hash -> its bar (--jobs: several at once)

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback:
        from ferablate.engine import TrialCallback

        progress = self.progress
        task = progress.add_task(
            "",
            total=None,
            trial=escape(f"{position}/{total} {trial.name}"),
            where="loading",
            loss="-",
        )
        self._tasks[_key(trial)] = task

        class _Callback(TrialCallback):
            epochs = 0
            folds = ""

            def on_trial_start(self, info: TrialInfo) -> None:
                self.epochs = info.epochs
                self.folds = _folds_label(info)
                progress.update(
                    task,
                    total=info.steps_per_epoch * info.epochs,
                    where=f"{self.folds} epoch 1/{self.epochs}",
                )

            def on_step(self, epoch: int, step: int, steps: int, loss: float | None) -> None:
                progress.update(task, completed=(epoch - 1) * steps + step)
                if loss is not None:
                    progress.update(task, loss=f"{loss:.3f}")

            def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
                acc = sum(m.val_accuracy for m in metrics) / len(metrics)
                loss = sum(m.train_loss for m in metrics) / len(metrics)
                progress.update(
                    task,
                    where=f"{self.folds} epoch {min(epoch + 1, self.epochs)}/{self.epochs} (val acc {acc:.3f})",
                    loss=f"{loss:.3f}",
                )

        return _Callback()

    def on_trial_stage(self, trial: Trial, stage: str) -> None:
        task = self._tasks.get(_key(trial))
        if task is not None:  # the bar sits at 100 % meanwhile: say what runs
            self.progress.update(task, where=f"[yellow]{escape(stage)}…[/]")

    def on_trial_end(self, outcome: TrialReport, position: int, total: int) -> None:
        if outcome.status == "skipped":
            # soft_wrap: a run id is never split across lines
            err_console.print(
                escape(f"{position}/{total} {outcome.trial.name}: skipped ({outcome.message})"),
                soft_wrap=True,
            )
            return
        label = {"finished": "[green]done[/]", "oom": "[red]no fit in memory[/]"}.get(
            outcome.status, f"[red]{outcome.status}[/]"
        )
        task = self._tasks.get(_key(outcome.trial))
        if task is None:  # ended in another process: no bar here
            err_console.print(
                f"{position}/{total} {escape(outcome.trial.name)}: {label} ({escape(outcome.message)})"
            )
            return
        self.progress.update(task, where=label)

    def on_study_ready(self, ready: StudyReady) -> None:
        for line in _study_ready_lines(ready):
            err_console.print(escape(line))

    def on_worked(self, worked: TrialReport) -> None:
        err_console.print(escape(_worked_line(worked)))


class PlainProgress:
    """A ``SweepObserver`` / ``StudyObserver`` writing one timestamped line per trial start and
    end, epoch and post-training step (to stderr, flushed at once): for logs, not terminals.

    The sweep's ETA is the mean trial time (the running trials' estimate until one ended) times
    the trials not started yet, plus what each running trial still needs at its epoch rate,
    shared out over the trials running side by side (``--jobs``).
    """

    def __init__(self) -> None:
        self._trial_seconds: list[float] = []  # wall time of every trained trial so far
        # (position, name) -> [monotonic start, estimated total seconds (0: unknown yet)] of
        # each running trial: several at once with --jobs (whose study workers each count
        # positions from 1, so the name is part of the key)
        self._running: dict[tuple[int, str], list[float]] = {}
        self._begun = 0  # trials started, skipped or ended elsewhere so far
        self._left = 0  # trials not begun yet
        self._prefixes: dict[str, str] = {}  # trial name -> "trial i/n name"

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def say(self, text: str) -> None:
        """One line, with the local time, never wrapped (a log line is grep'able whole)."""
        err_console.print(
            f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        err_console.file.flush()

    def eta(self) -> float | None:
        """Seconds until the sweep ends, or None before anything can be estimated."""
        mean = (
            sum(self._trial_seconds) / len(self._trial_seconds)
            if self._trial_seconds
            else max((estimate for _, estimate in self._running.values()), default=0.0)
        )
        if not mean:
            return None
        now = time.monotonic()
        # What each running trial still needs at its own pace (else the mean); trials running
        # side by side (--jobs) share out the work left.
        running = sum(
            max(0.0, (estimate or mean) - (now - started))
            for started, estimate in self._running.values()
        )
        return (running + mean * self._left) / max(1, len(self._running))

    def _begin(self, total: int) -> None:
        self._begun += 1
        self._left = max(0, total - self._begun)

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback:
        from ferablate.engine import TrialCallback

        running = self._running[position, trial.name] = [time.monotonic(), 0.0]
        self._begin(total)
        prefix = self._prefixes[trial.name] = f"trial {position}/{total} {trial.name}"
        self.say(f"{prefix}: start")
        observer = self

        class _Callback(TrialCallback):
            epochs = 1
            faces = 0  # training faces per epoch, over all folds
            since = 0.0  # monotonic end of the previous epoch (or the trial's setup)

            def on_trial_start(self, info: TrialInfo) -> None:
                self.epochs, self.faces = info.epochs, sum(info.train_sizes)
                self.since = time.monotonic()
                observer.say(
                    f"{prefix}: training {_folds_label(info)}, {info.epochs} epoch(s), "
                    f"{self.faces:,} faces/epoch on {info.device} ({info.precision})"
                )

            def on_epoch_end(self, epoch: int, metrics: Sequence[EpochMetrics]) -> None:
                now = time.monotonic()
                acc = sum(m.val_accuracy for m in metrics) / len(metrics)
                loss = sum(m.train_loss for m in metrics) / len(metrics)
                rate = self.faces / (now - self.since) if now > self.since else 0.0
                self.since = now
                running[1] = (now - running[0]) / epoch * self.epochs  # the trial's estimate
                eta = observer.eta()
                observer.say(
                    f"{prefix}: epoch {epoch}/{self.epochs} loss {loss:.4f} val acc {acc:.4f} "
                    f"{rate:,.0f} faces/s, sweep ETA {'?' if eta is None else format_duration(eta)}"
                )

        return _Callback()

    def on_trial_stage(self, trial: Trial, stage: str) -> None:
        self.say(f"{self._prefixes.get(trial.name, f'trial {trial.name}')}: {stage}")

    def on_trial_end(self, outcome: TrialReport, position: int, total: int) -> None:
        prefix = f"trial {position}/{total} {outcome.trial.name}"
        running = self._running.pop((position, outcome.trial.name), None)
        if running is None:  # skipped, or it ran in another process
            self._begin(total)
        if outcome.status == "skipped":
            self.say(f"{prefix}: skipped ({outcome.message})")
            return
        took = ""
        if running is not None:
            seconds = time.monotonic() - running[0]
            self._trial_seconds.append(seconds)
            took = f" in {format_duration(seconds)}"
        acc = outcome.summary.get("val_accuracy_mean")
        score = (
            f", val acc {acc:.4f}±{outcome.summary.get('val_accuracy_std', 0.0):.4f}"
            if acc is not None
            else ""
        )
        reason = f": {outcome.message.splitlines()[0][:200]}" if outcome.message else ""
        eta = self.eta()
        self.say(
            f"{prefix}: {outcome.status}{reason}{took}{score}"
            f"{'' if eta is None else f', sweep ETA {format_duration(eta)}'}"
        )

    def on_study_ready(self, ready: StudyReady) -> None:
        for line in _study_ready_lines(ready):
            self.say(line)

    def on_worked(self, worked: TrialReport) -> None:
        self.say(_worked_line(worked))


def _key(trial: Trial) -> str:
    """A trial's bar: by its identity, by its name before that is known."""
    return trial.identity or f"name:{trial.name}"
