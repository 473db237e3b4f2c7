"""``ferablate summary``: a model's layer table (torchinfo) with its parameter count."""

from __future__ import annotations

from ferablate.cli._app import app
from ferablate.cli._console import console
from ferablate.cli._options import (
    FormatOpt,
    OutOpt,
    PresetOrSweepArg,
    StandaloneOpt,
    TableFormat,
    VariantOpt,
)

__all__ = ["summary"]


@app.command()
def summary(
    target: PresetOrSweepArg,
    variant: VariantOpt = None,
    fmt: FormatOpt = TableFormat.text,
    out: OutOpt = None,
    standalone: StandaloneOpt = False,
) -> None:
    """Print the layer table (output shapes, parameters) of a preset or a sweep's variant.

    With --format latex: the report's Figure 7 tables (booktabs; a longtable
    across pages beyond 35 layers).
    """
    from ferablate.cli._resolve import model_config_for
    from ferablate.models import layer_table
    from ferablate.tables import render_layer_table, summary_footer

    table = layer_table(model_config_for(target, variant))
    name = f"{target} ({variant})" if variant else target
    footer = summary_footer(name)
    if fmt is TableFormat.text:
        if out is None:
            console.print(table.render_text())
            console.print(footer, highlight=False, markup=False)
            return
        text = f"{table.render_text()}\n{footer}\n"
    else:
        slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
        text = render_layer_table(
            table, fmt.value, caption=f"Layers of {name}", label=f"tab:layers-{slug}",
            standalone=standalone, footer=footer,
        )  # fmt: skip
    from ferablate.cli._table import emit

    emit(text, out)
