"""Reading the project's YAML files in tests: domain.yml alone is ~1 s for PyYAML's pure-Python
loader and several test modules read it at import, in each pytest-xdist worker. libyaml's
loader (PyYAML's C binding, in the pinned wheel) reads the same documents into the same
values in a tenth of the time; the pure-Python one is the fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: str | Path) -> Any:
    """The document at ``path`` (relative paths are from the repository root), safely loaded:
    a fresh object on every call, so a test may change what it gets."""
    path = Path(path)
    text = (path if path.is_absolute() else ROOT / path).read_text(encoding="utf-8")
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
