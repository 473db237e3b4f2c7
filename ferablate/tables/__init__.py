"""Tables layer: the report's appendix tables (ablations from tracked runs, layer tables)."""

from __future__ import annotations

from ferablate.tables._build import (
    COLLAPSED_MARK,
    METRIC_COLUMNS,
    AblationTable,
    RowStatus,
    TableRow,
    build_tables,
    metric_cells,
    reference_config,
)
from ferablate.tables._cells import (
    ArchitectureCells,
    architecture_cells,
    block_cell,
    conv_cell,
    format_number,
)
from ferablate.tables._compare import (
    add_delta_column,
    comparison_frame,
    delta_caption,
    render_comparisons,
)
from ferablate.tables._provenance import (
    OTHER_ORIGIN_MARK,
    RowOrigin,
    code_sentence,
    provenance_sentences,
    short_hash,
    summary_footer,
)
from ferablate.tables._render import (
    escape_latex,
    latex_document,
    layer_table_frame,
    render_csv,
    render_frame_csv,
    render_frame_latex,
    render_frame_markdown,
    render_latex,
    render_layer_table,
    render_markdown,
)
from ferablate.tables._runs import (
    experiment_rows,
    experiment_tables,
    row_from_runs,
    sweep_rows,
    sweep_tables,
)
from ferablate.tables._sweepcompare import (
    SweepComparison,
    compare_sweep,
    render_sweep_comparison,
    sweep_scores,
    trial_scores,
)

__all__ = [
    "COLLAPSED_MARK",
    "METRIC_COLUMNS",
    "OTHER_ORIGIN_MARK",
    "AblationTable",
    "ArchitectureCells",
    "RowOrigin",
    "RowStatus",
    "SweepComparison",
    "TableRow",
    "add_delta_column",
    "architecture_cells",
    "block_cell",
    "build_tables",
    "code_sentence",
    "compare_sweep",
    "comparison_frame",
    "conv_cell",
    "delta_caption",
    "escape_latex",
    "experiment_rows",
    "experiment_tables",
    "format_number",
    "latex_document",
    "layer_table_frame",
    "metric_cells",
    "provenance_sentences",
    "reference_config",
    "render_comparisons",
    "render_csv",
    "render_frame_csv",
    "render_frame_latex",
    "render_frame_markdown",
    "render_latex",
    "render_layer_table",
    "render_markdown",
    "render_sweep_comparison",
    "row_from_runs",
    "short_hash",
    "summary_footer",
    "sweep_rows",
    "sweep_scores",
    "sweep_tables",
    "trial_scores",
]
