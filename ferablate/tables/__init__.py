"""Tables layer: the report's appendix tables (ablations from tracked runs, layer tables)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferablate.tables._render import (
    RENDERERS,
    TableDoc,
    TableFormat,
    escape_latex,
    latex_document,
    register_renderer,
    render_frame_latex,
    render_frame_markdown,
    render_layer_table,
    render_tables,
)

if TYPE_CHECKING:
    from ferablate.tables._build import (
        COLLAPSED_MARK,
        METRIC_COLUMNS,
        AblationTable,
        RowStatus,
        TableRow,
        build_tables,
        metric_cells,
        reference_config,
        render_ablation,
        render_latex,
        render_markdown,
    )
    from ferablate.tables._cells import (
        ArchitectureCells,
        architecture_cells,
        block_cell,
        conv_cell,
        format_number,
    )
    from ferablate.tables._claims import (
        CLAIM_COLUMNS,
        ClaimRow,
        SweepClaims,
        check_claims,
        check_sweep_claims,
        claims_caption,
        claims_frame,
        render_claims,
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
    from ferablate.tables._runs import (
        PARENT,
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
else:  # config (pydantic) and stats load on first use: the CLI reads TableFormat at start
    from ferablate._lazy import lazy_exports

    __getattr__ = lazy_exports(__name__, {
        "_build": ("COLLAPSED_MARK", "METRIC_COLUMNS", "AblationTable", "RowStatus", "TableRow",
                   "build_tables", "metric_cells", "reference_config", "render_ablation",
                   "render_latex", "render_markdown"),
        "_cells": ("ArchitectureCells", "architecture_cells", "block_cell", "conv_cell",
                   "format_number"),
        "_claims": ("CLAIM_COLUMNS", "ClaimRow", "SweepClaims", "check_claims",
                    "check_sweep_claims", "claims_caption", "claims_frame", "render_claims"),
        "_compare": ("add_delta_column", "comparison_frame", "delta_caption",
                     "render_comparisons"),
        "_provenance": ("OTHER_ORIGIN_MARK", "RowOrigin", "code_sentence",
                        "provenance_sentences", "short_hash", "summary_footer"),
        "_runs": ("PARENT", "experiment_rows", "experiment_tables", "row_from_runs", "sweep_rows",
                  "sweep_tables"),
        "_sweepcompare": ("SweepComparison", "compare_sweep", "render_sweep_comparison",
                          "sweep_scores", "trial_scores"),
    })  # fmt: skip

__all__ = [
    "CLAIM_COLUMNS",
    "COLLAPSED_MARK",
    "METRIC_COLUMNS",
    "OTHER_ORIGIN_MARK",
    "PARENT",
    "RENDERERS",
    "AblationTable",
    "ArchitectureCells",
    "ClaimRow",
    "RowOrigin",
    "RowStatus",
    "SweepClaims",
    "SweepComparison",
    "TableDoc",
    "TableFormat",
    "TableRow",
    "add_delta_column",
    "architecture_cells",
    "block_cell",
    "build_tables",
    "check_claims",
    "check_sweep_claims",
    "claims_caption",
    "claims_frame",
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
    "metric_cells",
    "provenance_sentences",
    "reference_config",
    "register_renderer",
    "render_ablation",
    "render_claims",
    "render_comparisons",
    "render_frame_latex",
    "render_frame_markdown",
    "render_latex",
    "render_layer_table",
    "render_markdown",
    "render_sweep_comparison",
    "render_tables",
    "row_from_runs",
    "short_hash",
    "summary_footer",
    "sweep_rows",
    "sweep_scores",
    "sweep_tables",
    "trial_scores",
]
