"""``ferablate appendix``: a finished study as the appendix a researcher submits, in one call.

Per sweep: the ablation table (Δ column, † / § marks, provenance notes), the claims table, the
layer table (the report's Figure 7) and the six figures of the best row, and the comparison
table; with ``finals``, the final runs' test scores. Everything is read from the store
(figures a run lacks are drawn from its stored weights into the output folder, never into
the store) and written as ``appendix.tex`` (one ``\\input`` file per table and figure),
``appendix.md`` and, with ``pdflatex`` on PATH, ``appendix.pdf``.

A piece that cannot be shown (a sweep never run, a trial without artifacts) is one line in
:attr:`Appendix.missing` and a visible "not run" row in the appendix: nothing is left out
silently. The ``.tex`` files depend on the store alone (no timestamps; the title's date is
the newest run's), so a second call with the same store writes them byte for byte again.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ferablate._errors import ConfigError, FerablateError
from ferablate._logging import get_logger
from ferablate.config import Sweep, expand_sweep, experiment_name
from ferablate.tables import TableFormat

if TYPE_CHECKING:
    from ferablate.tables import TableRow
    from ferablate.tracking import RunStore, StoredRun

__all__ = ["Appendix", "write_appendix"]

_log = get_logger(__name__)
_Result = TypeVar("_Result")

NOT_RUN = "not run"
_PDFLATEX_TIMEOUT_S = 300


@dataclass
class Appendix:
    """What :func:`write_appendix` wrote and what it could not show."""

    folder: Path
    tex: Path  # DIR/appendix.tex
    markdown: Path  # DIR/appendix.md
    pdf: Path | None = None  # DIR/appendix.pdf when pdflatex compiled it
    missing: list[str] = field(default_factory=list)  # one line per missing piece
    compiled: str = ""  # one line: how the PDF went (or why there is none)
    inputs: list[str] = field(default_factory=list)  # the files appendix.tex \input s


@dataclass
class _Section:
    """One sweep's (or the finals') part of the appendix, as LaTeX inputs and Markdown."""

    title: str
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (file stem, LaTeX body)
    markdown: list[str] = field(default_factory=list)

    def add(self, stem: str, latex: str, markdown: str) -> None:
        """One piece: its LaTeX input file ``stem`` and its Markdown."""
        self.inputs.append((stem, latex))
        self.markdown.append(markdown)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "sweep"


def _not_run(piece: str, reason: str, label: str) -> tuple[str, str]:
    """A visible one-row table in place of a piece that cannot be shown: LaTeX, Markdown."""
    import pandas as pd

    from ferablate.tables import render_frame_latex, render_frame_markdown

    frame = pd.DataFrame({"piece": [piece], "status": [f"{NOT_RUN}: {reason}"]})
    caption = f"{piece}: {NOT_RUN}"
    latex = render_frame_latex(frame, caption=caption, label=label)
    return latex, f"**{caption}**\n\n{render_frame_markdown(frame)}"


# -- sections --------------------------------------------------------------------------------


def _ablation_section(
    sweep: Sweep,
    overrides: Mapping[str, Any],
    tracking_uri: str | None,
    section: _Section,
    missing: list[str],
) -> list[TableRow]:
    """The ablation table with its Δ column; returns the rows (the best one is picked from them)."""
    from ferablate.tables import PARENT, render_latex, render_markdown, sweep_rows, sweep_tables

    trials = expand_sweep(sweep, overrides)
    # Δ against each row's declared parent (the first row for a row without one)
    vs = PARENT if len(trials) > 1 else None
    try:
        tables = sweep_tables(sweep, tracking_uri=tracking_uri, overrides=overrides, vs=vs)
    except FerablateError as exc:  # e.g. the first row has no finished run to compare with
        missing.append(f"sweep {sweep.name}: ablation table without its Δ column ({exc})")
        tables = sweep_tables(sweep, tracking_uri=tracking_uri, overrides=overrides, announce=False)
    section.add("ablation", render_latex(tables), render_markdown(tables))
    # runs under other settings were announced by the table: once per sweep, not per piece
    return sweep_rows(sweep, tracking_uri, trials=trials, overrides=overrides, announce=False)


def _claims_section(
    sweep: Sweep,
    overrides: Mapping[str, Any],
    tracking_uri: str | None,
    section: _Section,
    missing: list[str],
) -> None:
    """The report's claims tested on this sweep's rows (a sweep without ``claims:`` has none)."""
    if not sweep.claims:
        return
    from ferablate.tables import check_sweep_claims, render_claims

    label = f"tab:claims-{_slug(sweep.name)}"
    _stats_table(
        section, missing, sweep, "claims", "claims", label,
        lambda: check_sweep_claims(sweep, overrides, tracking_uri=tracking_uri, announce=False),
        lambda result, fmt: render_claims(result, fmt, label=label),
    )  # fmt: skip


def _stats_table(
    section: _Section,
    missing: list[str],
    sweep: Sweep,
    stem: str,
    piece: str,
    label: str,
    make: Callable[[], _Result],
    render: Callable[[_Result, TableFormat], str],
) -> None:
    """A table ``make`` reads from the runs (claims, comparison), rendered as LaTeX and
    Markdown; when it cannot be made, a "not run" row and one line in ``missing``."""
    try:
        result = make()
    except FerablateError as exc:  # e.g. a versus/baseline without a finished run
        missing.append(f"sweep {sweep.name}: no {piece} table ({exc})")
        section.add(stem, *_not_run(piece, str(exc), label))
    else:
        section.add(stem, render(result, TableFormat.latex), render(result, TableFormat.markdown))


def _best_row(rows: Sequence[TableRow]) -> TableRow | None:
    finished = [row for row in rows if row.status == "finished" and row.run_id]
    return max(
        finished, key=lambda row: row.metrics.get("val_accuracy_mean", float("-inf")), default=None
    )


def _layer_section(sweep: Sweep, best: TableRow | None, section: _Section) -> None:
    """The best row's layer table (the report's Figure 7)."""
    from ferablate.models import layer_table
    from ferablate.tables import code_sentence, render_layer_table

    label = f"tab:layers-{_slug(sweep.name)}"
    if best is None:
        latex, markdown = _not_run("layer table of the best row", "no finished trial", label)
        section.add("layers", latex, markdown)
        return
    table = layer_table(best.config.model)
    caption = f"Layers of {best.name}, the best row of {sweep.name} (the report's Figure 7)"
    footer = (
        f"1×48×48 grayscale input, 7 classes; run {best.run_id}, {code_sentence(best.git_commit)}."
    )
    latex, markdown = (
        render_layer_table(table, fmt, caption=caption, label=label, footer=footer)
        for fmt in (TableFormat.latex, TableFormat.markdown)
    )
    section.add("layers", latex, markdown)


def _figure_latex(path: str, caption: str, label: str) -> str:
    from ferablate.tables import escape_latex

    return "\n".join(
        [
            r"\begin{figure}[htbp]",
            r"\centering",
            rf"\includegraphics[width=0.7\linewidth,height=0.4\textheight,keepaspectratio]{{{path}}}",
            rf"\caption{{{escape_latex(caption)}}}",
            rf"\label{{{label}}}",
            r"\end{figure}",
            "",
        ]
    )


def _stored_figures(store: RunStore, run_id: str, folder: Path, names: Sequence[str]) -> set[str]:
    """Copy the run's stored figure PNGs into ``folder`` as ``<name>.png``; the names found."""
    found = set()
    with tempfile.TemporaryDirectory(prefix="ferablate-appendix-") as tmp:
        for path in store.download_figures(run_id, Path(tmp)):
            if path.stem in names:
                shutil.copyfile(path, folder / f"{path.stem}.png")
                found.add(path.stem)
    return found


def _figure_section(
    sweep: Sweep,
    best: TableRow | None,
    store: RunStore,
    folder: Path,
    prefix: str,
    section: _Section,
    missing: list[str],
) -> None:
    """The best trial's six figures: stored ones copied, missing ones drawn from its weights."""
    from ferablate.viz import DPI, FIGURE_DESCRIPTIONS, FIGURE_NAMES, draw_run_figures

    slug = _slug(sweep.name)
    if best is None or best.run_id is None:
        latex, markdown = _not_run("figures of the best row", "no finished trial", f"fig:{slug}")
        section.add("figures", latex, markdown)
        return
    folder.mkdir(parents=True, exist_ok=True)
    found = _stored_figures(store, best.run_id, folder, FIGURE_NAMES)
    absent = [name for name in FIGURE_NAMES if name not in found]
    if absent:
        try:
            drawn = draw_run_figures(store, best.run_id, absent, folder, dpi=DPI)
            found.update(path.stem for path in drawn)
        except Exception as exc:  # no weights / histories stored: say so, keep going
            missing.append(
                f"sweep {sweep.name}: trial {best.name} (run {best.run_id}) has no stored "
                f"figures {', '.join(absent)} and no artifacts to draw them from "
                f"({type(exc).__name__}: {exc})"
            )
    for number, name in enumerate(FIGURE_NAMES, start=1):
        caption = (
            f"{sweep.name}, {best.name} (best row): {FIGURE_DESCRIPTIONS[name]} "
            f"(the report's Figure {number})"
        )
        label = f"fig:{slug}-{name}"
        if name in found:
            path = f"{prefix}/{name}.png"
            section.add(
                f"figure-{name}", _figure_latex(path, caption, label), f"![{caption}]({path})\n"
            )
        else:
            latex, markdown = _not_run(f"figure {name} of {best.name}", "no artifacts", label)
            section.add(f"figure-{name}", latex, markdown)


def _compare_section(
    sweep: Sweep,
    overrides: Mapping[str, Any],
    tracking_uri: str | None,
    section: _Section,
    missing: list[str],
) -> None:
    """Every row against its reference (corrected resampled t-test)."""
    from ferablate.tables import compare_sweep, render_sweep_comparison

    label = f"tab:compare-{_slug(sweep.name)}"
    if len(expand_sweep(sweep, overrides)) < 2:  # nothing is missing: there is no pair
        latex, markdown = _not_run("comparison", "one trial, nothing to compare with", label)
        section.add("compare", latex, markdown)
        return
    # each variant against its declared parent (the first row for a row without one)
    _stats_table(
        section, missing, sweep, "compare", "comparison", label,
        lambda: compare_sweep(sweep, overrides, tracking_uri=tracking_uri, announce=False),
        render_sweep_comparison,
    )  # fmt: skip


def _sweep_section(
    sweep: Sweep,
    overrides: Mapping[str, Any],
    store: RunStore,
    tracking_uri: str | None,
    out: Path,
    missing: list[str],
) -> tuple[_Section, list[StoredRun]]:
    slug = _slug(sweep.name)
    section = _Section(sweep.description.rstrip(".") or sweep.name)
    experiment = experiment_name(sweep, overrides)
    if store.experiment_id(experiment) is None:
        missing.append(
            f"sweep {sweep.name}: never run (no experiment '{experiment}' in {store.uri}); "
            f"run `ferablate run {sweep.source}`"
        )
        latex, markdown = _not_run(f"sweep {sweep.name}", "never run", f"tab:{slug}")
        section.add("ablation", latex, markdown)
        return section, []
    rows = _ablation_section(sweep, overrides, tracking_uri, section, missing)
    _claims_section(sweep, overrides, tracking_uri, section, missing)
    best = _best_row(rows)
    if best is None:
        missing.append(f"sweep {sweep.name}: no finished trial (no layer table, no figures)")
    _layer_section(sweep, best, section)
    _figure_section(sweep, best, store, out / slug, slug, section, missing)
    _compare_section(sweep, overrides, tracking_uri, section, missing)
    return section, store.trial_runs(experiment)


def _final_section(
    sweeps: Sequence[Sweep],
    finals: Sequence[str],
    overrides: Mapping[str, Any],
    store: RunStore,
    missing: list[str],
) -> tuple[_Section, list[StoredRun]]:
    """The final runs' scores on each test split (``ferablate final SWEEP --variant V``)."""
    import pandas as pd

    from ferablate.tables import render_frame_latex, render_frame_markdown

    records, runs = [], []
    for variant in finals:
        for sweep in sweeps:
            if not any(t.variant == variant for t in expand_sweep(sweep, overrides)):
                continue
            # `ferablate final` logs into the sweep's own experiment
            run = store.newest_final(sweep.name, variant)
            if run is None:
                missing.append(
                    f"final {variant} of sweep {sweep.name}: never run; run `ferablate final "
                    f"{sweep.source} --variant {variant}`"
                )
                records.append([variant, sweep.name, f"{NOT_RUN}", "—", "—", "—"])
                continue
            runs.append(run)
            splits = [("PublicTest", "publictest"), ("PrivateTest", "privatetest")]
            splits += [("all test faces", "test")]
            for split, key in splits:
                if f"{key}_accuracy" not in run.metrics:
                    continue
                records.append(
                    [variant, sweep.name, split]
                    + [f"{run.metrics.get(f'{key}_{m}', float('nan')):.3f}" for m in _FINAL]
                )
    columns = ["variant", "sweep", "split", "acc.", "prec.", "recall"]
    frame = pd.DataFrame.from_records(records, columns=columns)
    caption = (
        "Final models trained on all Training faces, scored on the test splits "
        "(accuracy, macro precision and recall)"
    )
    notes = [
        f"{run.name}: run {run.run_id}, data {run.data_hash[:8] or 'unknown'}, "
        f"code {run.git_commit[:8] or 'unknown'}."
        for run in runs
    ]
    latex = render_frame_latex(
        frame, caption=caption, label="tab:final", column_format="lllrrr", notes=notes
    )
    section = _Section("Final models")
    section.inputs.append(("final", latex))
    markdown = f"**{caption}**\n\n{render_frame_markdown(frame, ('acc.', 'prec.', 'recall'))}"
    section.markdown.append(markdown + "".join(f"\n{note}\n" for note in notes))
    return section, runs


_FINAL = ("accuracy", "precision", "recall")


# -- the document ----------------------------------------------------------------------------


def _date_line(runs: Sequence[StoredRun]) -> str:
    newest = max((max(run.end_time, run.start_time) for run in runs), default=0)
    if not newest:
        return "no runs yet"
    return "newest run " + datetime.fromtimestamp(newest / 1000, tz=UTC).strftime("%Y-%m-%d")


def _document(title: str, date: str, sections: Sequence[tuple[str, _Section]]) -> str:
    from ferablate.tables import escape_latex, latex_document

    body = [
        rf"\title{{{escape_latex(title)}}}",
        r"\author{}",
        rf"\date{{{escape_latex(date)}}}",
        r"\maketitle",
    ]
    for prefix, section in sections:
        body.append(rf"\section{{{escape_latex(section.title)}}}")
        body += [rf"\input{{{prefix}/{stem}}}" for stem, _ in section.inputs]
        body.append(r"\clearpage")
    return latex_document(body, preamble=[r"\usepackage{graphicx}"])


def _compile(out: Path) -> tuple[Path | None, str]:
    if shutil.which("pdflatex") is None:
        return None, "pdflatex not on PATH: wrote the LaTeX sources only (compile appendix.tex)"
    command = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "appendix.tex"]
    for _ in range(2):  # the second pass settles longtable widths
        try:
            done = subprocess.run(
                command, cwd=out, capture_output=True, text=True, timeout=_PDFLATEX_TIMEOUT_S,
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return None, f"pdflatex ran over {_PDFLATEX_TIMEOUT_S} s: no PDF"
        if done.returncode != 0:
            return None, f"pdflatex failed (exit {done.returncode}): see {out / 'appendix.log'}"
    return out / "appendix.pdf", f"compiled {out / 'appendix.pdf'}"


def write_appendix(
    sweeps: Sequence[Sweep],
    out: Path,
    *,
    finals: Sequence[str] = (),
    overrides: Mapping[str, Any] | None = None,
    tracking_uri: str | None = None,
    compile_pdf: bool = True,
) -> Appendix:
    """Write the appendix of ``sweeps`` (under ``overrides``) into ``out`` (see the module
    docstring); ``finals``: variants whose final runs' test scores to add."""
    from ferablate.tracking import RunStore

    if not sweeps:
        raise ConfigError("ferablate appendix: give at least one sweep file")
    slugs = [_slug(sweep.name) for sweep in sweeps]
    if len(set(slugs)) != len(slugs):
        raise ConfigError(f"ferablate appendix: a sweep is given twice ({', '.join(slugs)})")
    overrides = dict(overrides or {})
    for variant in finals:
        if not any(
            trial.variant == variant for sweep in sweeps for trial in expand_sweep(sweep, overrides)
        ):
            raise ConfigError(f"--final {variant}: no sweep given has a variant of that name")
    store = RunStore(tracking_uri)
    out.mkdir(parents=True, exist_ok=True)
    missing: list[str] = []
    sections: list[tuple[str, _Section]] = []
    runs: list[StoredRun] = []
    for sweep, slug in zip(sweeps, slugs, strict=True):
        section, seen = _sweep_section(sweep, overrides, store, tracking_uri, out, missing)
        sections.append((slug, section))
        runs += seen
    if finals:
        section, seen = _final_section(sweeps, finals, overrides, store, missing)
        sections.append(("final", section))
        runs += seen
    inputs = []
    for prefix, section in sections:
        (out / prefix).mkdir(parents=True, exist_ok=True)
        for stem, text in section.inputs:
            (out / prefix / f"{stem}.tex").write_text(text, encoding="utf-8")
            inputs.append(f"{prefix}/{stem}.tex")
    title = "Appendix: " + ", ".join(sweep.name for sweep in sweeps)
    date = _date_line(runs)
    tex = out / "appendix.tex"
    tex.write_text(_document(title, date, sections), encoding="utf-8")
    markdown = out / "appendix.md"
    parts = [f"# {title}\n\n{date}\n"]
    for _, section in sections:
        parts.append(f"## {section.title}\n")
        parts += section.markdown
    markdown.write_text("\n".join(parts), encoding="utf-8")
    for line in missing:
        _log.debug("appendix: %s", line)
    result = Appendix(out, tex, markdown, missing=missing, inputs=inputs)
    if compile_pdf:
        result.pdf, result.compiled = _compile(out)
    return result
