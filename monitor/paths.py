"""Where the files an operator edits (`config/`) are found: the source checkout, else the install."""
from __future__ import annotations

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1] / "config"
_INSTALLED = Path(sys.prefix) / "share" / "outreach-monitor"  # pyproject's data-files


def shipped_config(name: str) -> Path:
    """The shipped copy of `config/<name>` (e.g. rules.yaml)."""
    for folder in (_CHECKOUT, _INSTALLED):
        if (folder / name).is_file():
            return folder / name
    return _CHECKOUT / name  # reading it will then say which file is missing
