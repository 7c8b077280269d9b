"""Text the actions build in code, in the conversation's language (actions/messages.yaml).

Whole replies are domain responses (``actions/say.py``); this is for the pieces code
assembles: result headings, reasons, the buttons added in code, answers read back.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

MESSAGES = Path(__file__).with_name("messages.yaml")


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    return yaml.safe_load(MESSAGES.read_text(encoding="utf-8"))


def text(name: str, language: str | None = "en", **values: Any) -> str:
    """Message ``name`` in ``language`` (English when it has no such translation), filled."""
    entry = _table()[name]
    template = entry.get(language or "en") or entry["en"]
    return template.format(**values) if values else template
