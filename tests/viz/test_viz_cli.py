"""A real (tiny) sweep logs the six figures; ``ferablate viz`` redraws them from the run alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image
from typer.testing import CliRunner

from ferablate.cli import app
from ferablate.config import load_sweep
from ferablate.runner import _figures, run_sweep
from ferablate.tracking import resolve_tracking_uri
from ferablate.viz import FIGURE_NAMES

runner = CliRunner()

SWEEP = """\
name: viz-tiny
base:
  data: {source: synthetic, synthetic_size: 350}
  model: {preset: baseline-model1, batch_norm: false, activation: elu}
  train: {folds: 2, epochs: 2, batch_size: 32, lr: 0.003, device: cpu}
variants:
  - name: base
"""


def _is_figure(path: Path) -> bool:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    return image.format == "PNG" and pixels.std() > 20


def test_sweep_logs_figures_and_viz_redraws_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two trials: the first's figures come from the background process, the last's are drawn
    # in this process (nothing left to overlap them with).
    drawn_here: list[str] = []
    draw_here = _figures.FigureDrawer._draw_here

    def counted(drawer: _figures.FigureDrawer, trial: Any, run_id: str) -> None:
        drawn_here.append(run_id)
        draw_here(drawer, trial, run_id)

    monkeypatch.setattr(_figures.FigureDrawer, "_draw_here", counted)
    sweep_file = tmp_path / "tiny.yaml"
    sweep_file.write_text(SWEEP + "  - name: relu\n    set: {model.activation: relu}\n")
    first, outcome = run_sweep(load_sweep(sweep_file))
    assert outcome.status == "finished" and outcome.run_id is not None
    assert drawn_here == [outcome.run_id]
    client = MlflowClient(resolve_tracking_uri())
    for report in (first, outcome):
        logged = sorted(Path(a.path).name for a in client.list_artifacts(report.run_id, "figures"))
        assert logged == sorted(f"{name}.png" for name in FIGURE_NAMES), report.trial.name

    out = tmp_path / "out"
    result = runner.invoke(app, ["viz", outcome.run_id, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.png" for name in FIGURE_NAMES)
    assert all(_is_figure(path) for path in out.iterdir())

    subset = tmp_path / "subset"
    result = runner.invoke(
        app,
        [
            "viz",
            str(sweep_file),
            "--variant",
            "base",
            "--figures",
            "confusion,loss",
            "--out",
            str(subset),
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in subset.iterdir()) == ["confusion.png", "loss.png"]


def test_viz_rejects_unknown_figure_names(tmp_path: Path) -> None:
    result = runner.invoke(app, ["viz", "0123abcd", "--figures", "loss,heatmap"])
    assert result.exit_code != 0
    assert "unknown figure(s) heatmap" in str(result.exception)


def test_final_run_logs_figures_on_the_test_split(tmp_path: Path) -> None:
    from ferablate.config import expand_sweep
    from ferablate.runner import run_final
    from ferablate.viz import inputs_from_run

    sweep_file = tmp_path / "tiny.yaml"
    sweep_file.write_text(SWEEP.replace("epochs: 2", "epochs: 1"))
    (trial,) = expand_sweep(load_sweep(sweep_file))
    outcome = run_final(trial, "viz-final")
    client = MlflowClient(resolve_tracking_uri())
    logged = sorted(Path(a.path).name for a in client.list_artifacts(outcome.run_id, "figures"))
    assert logged == sorted(f"{name}.png" for name in FIGURE_NAMES)

    inputs = inputs_from_run(client, outcome.run_id)
    assert inputs.split.startswith("test splits")
    assert len(inputs.faces) == len(inputs.labels) == 2 * (350 // 8)  # PublicTest + PrivateTest
    assert (inputs.face_labels == inputs.labels).all()  # faces line up with the stored predictions
