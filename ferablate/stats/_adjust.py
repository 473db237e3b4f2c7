"""Family-wise control of a table's p-values: Holm's step-down (default) or Benjamini–Hochberg.

A sweep's rows are one family of comparisons: at α = 0.05 and a dozen rows, chance alone makes
"better" or "worse" verdicts. The adjusted p-values come from statsmodels' ``multipletests``
(``holm``: family-wise error rate; ``fdr_bh``: false discovery rate); ``none`` leaves them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from ferablate._errors import ConfigError

__all__ = ["ADJUST_WORDS", "Adjustment", "adjust_p_values", "check_adjustment"]

Adjustment = Literal["holm", "bh", "none"]
_METHODS = {"holm": "holm", "bh": "fdr_bh"}
ADJUST_WORDS = {
    "holm": "Holm's step-down",
    "bh": "Benjamini–Hochberg",
    "none": "no adjustment",
}


def check_adjustment(adjust: str) -> None:
    if adjust not in get_args(Adjustment):
        raise ConfigError(
            f"unknown adjustment {adjust!r}; choose one of: {', '.join(get_args(Adjustment))}"
        )


def adjust_p_values(
    p_values: Sequence[float | None], adjust: Adjustment = "holm"
) -> list[float | None]:
    """The adjusted p-values over the family of the given ones (``None`` stays ``None`` and is
    not counted in the family)."""
    check_adjustment(adjust)
    present = [index for index, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = list(p_values)
    if adjust == "none" or not present:
        return adjusted
    from statsmodels.stats.multitest import multipletests  # deferred: ~1 s to import

    _, corrected, _, _ = multipletests([p_values[i] for i in present], method=_METHODS[adjust])
    for index, value in zip(present, corrected, strict=True):
        adjusted[index] = float(value)
    return adjusted
