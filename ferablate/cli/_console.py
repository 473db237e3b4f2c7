"""The CLI's rich consoles (stdout for results, stderr for progress and errors).

Paths, names and messages are user text, never markup: a sweep called ``a[/b]`` must print as
such. ``console`` therefore reads no markup at all (tables and lines print as given);
``err_console`` keeps markup for the progress display's own styles, so text printed on it
goes through :func:`plain` (or ``markup=False``).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

__all__ = ["console", "err_console", "plain"]

console = Console(highlight=False, markup=False)
err_console = Console(stderr=True, highlight=False)


def plain(text: object) -> str:
    """``text`` escaped for a console that reads markup (``err_console``)."""
    return escape(str(text))
