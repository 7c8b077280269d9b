"""The Chinese texts of the trials: titles, summaries and each criterion's words.

A record may carry ``title_zh`` (the sponsor's official Chinese title, or a
translation), ``summary_zh`` and a ``text_zh`` per criterion, with a ``translation``
block saying who translated and whether it was reviewed (knowledge/trial.schema.yaml).
The builder stores them in the ``translations`` table; this module reads them for the
trials a result shows. A translation is never the registry's own words: whoever shows
one marks it 译文 and shows the trial's English beside it (actions/results.py,
web/static/render.js).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable

from .db import reader


def for_trials(nct_ids: Iterable[str], db: sqlite3.Connection | str | Path | None = None) -> dict[str, dict]:
    """{nct_id: {"title": {...}, "summary": {...}, "criteria": {criterion_id: {...}}}} where each
    text is {"text_zh", "source" (official | translation), "translated_by", "reviewed", "reviewer"}.
    Trials without Chinese texts (or a database built before they existed) are left out."""
    ids = list(dict.fromkeys(nct_ids))
    if not ids:
        return {}
    conn = db if isinstance(db, sqlite3.Connection) else reader(db)
    marks = ",".join("?" * len(ids))
    try:
        rows = conn.execute(
            f"SELECT nct_id, key, text_zh, source, translated_by, reviewed, reviewer FROM translations "
            f"WHERE nct_id IN ({marks})",
            ids,
        ).fetchall()
    except sqlite3.OperationalError:  # an older database: no translations table
        return {}
    out: dict[str, dict] = {}
    for row in rows:
        text = {
            "text_zh": row["text_zh"],
            "source": row["source"],
            "translated_by": row["translated_by"],
            "reviewed": bool(row["reviewed"]),
            "reviewer": row["reviewer"],
        }
        trial = out.setdefault(row["nct_id"], {"criteria": {}})
        if row["key"] in ("title", "summary"):
            trial[row["key"]] = text
        else:
            trial["criteria"][row["key"]] = text
    return out
