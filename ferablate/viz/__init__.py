"""Viz layer: the report's six figures (loss, weights, activations, occlusion, confusion,
augmentation) as pure functions returning matplotlib Figures, and a trial's set of them,
drawn from a TrialResult or rebuilt from a run's MLflow artifacts.
"""

from __future__ import annotations

from ferablate.viz._augmentation import augmentation_figure
from ferablate.viz._curves import confusion_figure, loss_curves_figure
from ferablate.viz._network import (
    activations_figure,
    default_activation_layer,
    feature_maps,
    first_conv,
    weights_figure,
)
from ferablate.viz._occlusion import occlusion_figure, occlusion_maps
from ferablate.viz._runs import draw_run_figures, inputs_from_run
from ferablate.viz._style import COLUMN_WIDTH, DPI, PAGE_WIDTH, figure_style, save_png
from ferablate.viz._trial import (
    FIGURE_DESCRIPTIONS,
    FIGURE_NAMES,
    TrialFigureInputs,
    figure_hook,
    inputs_from_result,
    log_trial_figures,
    parse_figure_names,
    pick_faces,
    trial_figures,
    write_figures,
)

__all__ = [
    "COLUMN_WIDTH",
    "DPI",
    "FIGURE_DESCRIPTIONS",
    "FIGURE_NAMES",
    "PAGE_WIDTH",
    "TrialFigureInputs",
    "activations_figure",
    "augmentation_figure",
    "confusion_figure",
    "default_activation_layer",
    "draw_run_figures",
    "feature_maps",
    "figure_hook",
    "figure_style",
    "first_conv",
    "inputs_from_result",
    "inputs_from_run",
    "log_trial_figures",
    "loss_curves_figure",
    "occlusion_figure",
    "occlusion_maps",
    "parse_figure_names",
    "pick_faces",
    "save_png",
    "trial_figures",
    "weights_figure",
    "write_figures",
]
