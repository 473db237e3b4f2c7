"""Rich progress for sweeps: trial i/n, fold(s), epoch, step bar, running loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ferablate.cli._console import err_console

if TYPE_CHECKING:
    from rich.progress import TaskID

    from ferablate.config import Trial
    from ferablate.engine import EpochMetrics, TrialCallback, TrialInfo
    from ferablate.runner import StudyReady, TrialReport
    from ferablate.search import WorkedTrial

__all__ = ["SweepProgress"]


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
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_trial_start(self, trial: Trial, position: int, total: int) -> TrialCallback:
        from ferablate.engine import TrialCallback

        progress = self.progress
        task = progress.add_task(
            "", total=None, trial=escape(f"{position}/{total} {trial.name}"), where="loading", loss="-"
        )

        class _Callback(TrialCallback):
            epochs = 0
            folds = ""

            def on_trial_start(self, info: TrialInfo) -> None:
                self.epochs = info.epochs
                self.folds = f"folds 1-{info.folds} packed" if info.packed else f"{info.folds} folds"
                progress.update(task, total=info.steps_per_epoch * info.epochs, where=f"{self.folds} epoch 1/{self.epochs}")

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

        self._tasks[trial.config_hash] = task  # --jobs: several trials run at once
        return _Callback()

    def on_trial_stage(self, trial: Trial, stage: str) -> None:
        return None

    def on_trial_end(self, outcome: TrialReport, position: int, total: int) -> None:
        if outcome.status == "skipped":
            err_console.print(escape(f"{position}/{total} {outcome.trial.name}: skipped ({outcome.message})"))
            return
        label = {"finished": "[green]done[/]", "oom": "[red]no fit in memory[/]"}.get(outcome.status, f"[red]{outcome.status}[/]")
        task = self._tasks.get(outcome.trial.config_hash)
        if task is None:  # ended in another process: no bar here
            err_console.print(f"{position}/{total} {escape(outcome.trial.name)}: {label} ({escape(outcome.message)})")
            return
        self.progress.update(task, where=label)

    def on_study_ready(self, ready: StudyReady) -> None:
        if ready.queued is not None:
            err_console.print(
                escape(
                    f"study '{ready.study}': queued {len(ready.queued)} trial(s), skipped {len(ready.skipped)} "
                    f"already finished, queued or running"
                )
            )
        if ready.base_queued:
            err_console.print("trial 0 is the base config, queued; the sampler picks the rest")

    def on_worked(self, worked: WorkedTrial) -> None:
        value = f" val acc {worked.value:.4f}" if worked.value is not None else ""
        note = f" ({worked.message[:100]})" if worked.message and worked.outcome != "finished" else ""
        err_console.print(
            escape(f"trial {worked.number} {worked.name}: {worked.outcome.value}{value} in {worked.seconds:.1f}s{note}")
        )
