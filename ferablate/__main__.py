"""``python -m ferablate`` = the ``ferablate`` command."""

from __future__ import annotations

from ferablate.cli import main

main()
