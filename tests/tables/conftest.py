"""What the table tests share: compiling a LaTeX document with pdflatex."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def pdflatex(tmp_path: Path) -> Callable[[str, str], Path]:
    """``compile(name, document)``: write ``name.tex`` under ``tmp_path``, compile it with
    pdflatex (non-interactive, stop at the first error), assert that it compiled and return
    ``name.pdf``. The tests using it skip where pdflatex is not installed."""

    def compile_latex(name: str, document: str) -> Path:
        (tmp_path / f"{name}.tex").write_text(document)
        completed = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert completed.returncode == 0, completed.stdout[-2000:]
        return tmp_path / f"{name}.pdf"

    return compile_latex
