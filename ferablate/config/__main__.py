"""``python -m ferablate.config``: print the generated configuration reference (Markdown)."""

from __future__ import annotations

import sys

from ferablate.config._reference import config_reference_markdown

sys.stdout.write(config_reference_markdown())
