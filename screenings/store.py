"""Pre-screening records: what a completed screening found, kept so a nurse can look it up.

Each completed pre-screening is saved as one row with a reference number the
patient or nurse can quote (``HN-7K3Q-9D2F``). A record holds only what the
verdicts need: the canonical profile values, the verdict per trial with the ids
of the criteria not met or still open, when, in which mode, and which build of
the knowledge base decided it. No free text, no names, no chat transcript.

The record is linked to its conversation by a keyed hash (HMAC-SHA256) of the
Rasa sender id, never the id itself: "delete my data" can find the records of
its own conversation, but someone holding only ``records.db`` cannot tie a
record to a chat session or a web-socket id. The key comes from
``TRIALBOT_RECORDS_SECRET`` or a 0600 file beside the database, created on
first use. Losing the key only loses that link; the records stay readable.

Storage: SQLite (``var/records.db``, or ``TRIALBOT_RECORDS_DB``), WAL mode so
the action server can write while a coordinator exports, in a 0700 folder with
the file 0600, because these are health data.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import secrets
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import sqlite_utils

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = ROOT / "var" / "records.db"
KEY_FILE_NAME = "records.key"
TABLE = "records"
MODES = ("patient", "nurse")
# No 0/O, 1/I/L, U/V: a reference read aloud over the phone is still unambiguous.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"
REF_PREFIX = "HN"
OPEN_STATUSES = ("unknown", "needs_review")


def records_path(path: str | Path | None = None) -> Path:
    """The records database: ``path``, else ``TRIALBOT_RECORDS_DB``, else ``var/records.db``.

    Relative paths are taken from the repository root, so the action server, the
    CLI and the tests agree whatever their working directory.
    """
    chosen = Path(path or os.environ.get("TRIALBOT_RECORDS_DB") or DEFAULT_PATH)
    return chosen if chosen.is_absolute() else ROOT / chosen


def private_file(path: Path) -> Path:
    """Create ``path`` (and its folder) readable by this user only: folder 0700, file 0600.

    Done before SQLite opens the file, so it never exists with looser rights even
    for a moment; SQLite gives its -wal and -shm files the database's own mode.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.parent.name == "var":
        os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return path


def _secret(db_path: Path) -> bytes:
    """The HMAC key: ``TRIALBOT_RECORDS_SECRET``, else a random key kept in a 0600 file.

    The file is written under a temporary name and linked into place, so two
    processes starting at once (action server, CLI) end up with the same key.
    """
    env = os.environ.get("TRIALBOT_RECORDS_SECRET")
    if env:
        return env.encode()
    key_file = db_path.parent / KEY_FILE_NAME
    if not key_file.exists():
        tmp = private_file(key_file.with_name(f".{KEY_FILE_NAME}.{os.getpid()}"))
        tmp.write_text(secrets.token_hex(32))
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return key_file.read_text().strip().encode()


def conversation_key(sender_id: str, path: str | Path | None = None) -> str:
    """The keyed hash that stands for a conversation in the records (never the raw id)."""
    secret = _secret(records_path(path))
    return hmac.new(secret, sender_id.encode(), hashlib.sha256).hexdigest()


def new_reference() -> str:
    """A random reference like ``HN-7K3Q-9D2F`` (40 bits from ``secrets``)."""
    chars = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{REF_PREFIX}-{chars[:4]}-{chars[4:]}"


def normalise_reference(ref: str) -> str:
    """Accept what a person types: lower case, spaces, missing dashes."""
    chars = "".join(c for c in ref.upper() if c.isalnum())
    if chars.startswith(REF_PREFIX):
        chars = chars[len(REF_PREFIX) :]
    return f"{REF_PREFIX}-{chars[:4]}-{chars[4:]}" if len(chars) == 8 else ref.strip().upper()


def connect(path: str | Path | None = None) -> sqlite_utils.Database:
    """Open (creating when needed) the records database in WAL mode with its table."""
    db_path = private_file(records_path(path))
    conn = sqlite3.connect(db_path, timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    db = sqlite_utils.Database(conn)
    table = db.table(TABLE)
    if not table.exists():
        table.create(
            {
                "ref": str,
                "created_at": str,
                "updated_at": str,
                "mode": str,
                "profile": str,
                "verdicts": str,
                "kb_build_id": str,
                "conversation": str,
            },
            pk="ref",
            not_null={"created_at", "mode", "profile", "verdicts"},
            if_not_exists=True,
        )
        table.create_index(["created_at"], if_not_exists=True)
        table.create_index(["conversation"], if_not_exists=True)
    elif "updated_at" not in table.columns_dict:
        table.add_column("updated_at", str)  # records.db files from before updates existed
    return db


def verdicts_from_matches(matches: Iterable[Any]) -> dict[str, dict]:
    """Verdict per trial with criterion ids only (``engine.TrialMatch`` in, no trial text out)."""
    out = {}
    for m in matches:
        out[m.nct_id] = {
            "verdict": m.verdict,
            "not_met": [c.id for c in m.criteria if c.status == "not_met"],
            "unknown": [c.id for c in m.criteria if c.status in OPEN_STATUSES],
        }
    return out


def current_kb_build_id() -> str | None:
    """The build id stamped in knowledge/trials.db (which criteria decided a record)."""
    from knowledge import db as kb

    try:
        row = kb.reader().execute("SELECT value FROM meta WHERE key = 'build_id'").fetchone()
    except (kb.KnowledgeBaseError, sqlite3.Error):
        return None
    return row[0] if row else None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def save(
    profile: Mapping[str, Any],
    verdicts: Mapping[str, Mapping[str, Any]],
    mode: str = "patient",
    sender_id: str | None = None,
    kb_build_id: str | None = None,
    path: str | Path | None = None,
    created_at: datetime | None = None,
    ref: str | None = None,
) -> str:
    """Store one completed pre-screening and return its reference.

    ``verdicts`` is ``{nct_id: {"verdict", "not_met": [ids], "unknown": [ids]}}``
    (see ``verdicts_from_matches``). The profile must hold canonical slot values
    only; anything else (e.g. free text) is the caller's bug, so it is not filtered here.

    With ``ref`` (the record this screening already has) and the same
    conversation, the record is updated in place and keeps its reference:
    a correction after the result is the same screening, not a new one. A
    ``ref`` of another conversation (or deleted meanwhile) gets a new record.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if ref is not None and sender_id is not None:
        updated = _update(ref, profile, verdicts, mode, sender_id, kb_build_id, path)
        if updated:
            return updated
    db = connect(path)
    row = {
        "created_at": _iso(created_at or _now()),
        "mode": mode,
        "profile": json.dumps(dict(profile), sort_keys=True),
        "verdicts": json.dumps({k: dict(v) for k, v in verdicts.items()}, sort_keys=True),
        "kb_build_id": kb_build_id,
        "conversation": conversation_key(sender_id, path) if sender_id else None,
    }
    try:
        for _ in range(5):  # 40 random bits: a collision is rare, never silent
            ref = row["ref"] = new_reference()
            try:
                with db.conn:
                    db.table(TABLE).insert(row)
                return ref
            except sqlite3.IntegrityError:
                continue
        raise RuntimeError("could not find an unused reference")
    finally:
        db.close()


def _update(
    ref: str,
    profile: Mapping[str, Any],
    verdicts: Mapping[str, Mapping[str, Any]],
    mode: str,
    sender_id: str,
    kb_build_id: str | None,
    path: str | Path | None,
) -> str | None:
    """Update record ``ref`` if this conversation owns it; its reference, or None."""
    db = connect(path)
    try:
        with db.conn:
            cursor = db.conn.execute(
                f"UPDATE {TABLE} SET profile = ?, verdicts = ?, mode = ?, kb_build_id = ?, updated_at = ? "
                "WHERE ref = ? AND conversation = ?",
                [
                    json.dumps(dict(profile), sort_keys=True),
                    json.dumps({k: dict(v) for k, v in verdicts.items()}, sort_keys=True),
                    mode,
                    kb_build_id,
                    _iso(_now()),
                    normalise_reference(ref),
                    conversation_key(sender_id, path),
                ],
            )
        return normalise_reference(ref) if cursor.rowcount else None
    finally:
        db.close()


def _decode(row: Mapping[str, Any]) -> dict:
    out = dict(row)
    out["profile"] = json.loads(out["profile"])
    out["verdicts"] = json.loads(out["verdicts"])
    return out


def get(ref: str, path: str | Path | None = None) -> dict | None:
    """The record with reference ``ref`` (typed any reasonable way), or None."""
    db = connect(path)
    try:
        rows = list(db[TABLE].rows_where("ref = ?", [normalise_reference(ref)]))
    finally:
        db.close()
    return _decode(rows[0]) if rows else None


def export(since: datetime | str | None = None, path: str | Path | None = None) -> Iterator[dict]:
    """Records created on or after ``since`` (a date or UTC datetime), oldest first.

    The conversation hash is left out: it links records to chats and is of no
    use to a coordinator.
    """
    where, params = None, []
    if since is not None:
        if isinstance(since, datetime):
            since = _iso(since if since.tzinfo else since.replace(tzinfo=timezone.utc))
        where, params = "created_at >= ?", [str(since)]
    db = connect(path)
    try:
        for row in db[TABLE].rows_where(
            where,
            params,
            order_by="created_at, ref",
            select="ref, created_at, updated_at, mode, kb_build_id, profile, verdicts",
        ):
            yield _decode(row)
    finally:
        db.close()


def delete(ref: str, path: str | Path | None = None) -> bool:
    """Remove one record; False when there is no such reference."""
    db = connect(path)
    try:
        with db.conn:
            cursor = db.conn.execute(f"DELETE FROM {TABLE} WHERE ref = ?", [normalise_reference(ref)])
        return cursor.rowcount > 0
    finally:
        db.close()


def delete_conversation(sender_id: str, path: str | Path | None = None) -> int:
    """Remove every record saved from the conversation ``sender_id`` ("delete my data")."""
    key = conversation_key(sender_id, path)
    db = connect(path)
    try:
        with db.conn:
            cursor = db.conn.execute(f"DELETE FROM {TABLE} WHERE conversation = ?", [key])
        return cursor.rowcount
    finally:
        db.close()


def purge(older_than_days: float, path: str | Path | None = None, now: datetime | None = None) -> int:
    """Remove records last written (created, or updated by a late answer) more than
    ``older_than_days`` days ago (retention)."""
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    cutoff = _iso((now or _now()) - timedelta(days=older_than_days))
    db = connect(path)
    try:
        with db.conn:
            cursor = db.conn.execute(f"DELETE FROM {TABLE} WHERE COALESCE(updated_at, created_at) < ?", [cutoff])
        return cursor.rowcount
    finally:
        db.close()


# --- export formats -------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


def _trial_cell(verdict: Mapping[str, Any]) -> str:
    """``uncertain | to check: histology, resectable`` - sortable by its first word."""
    parts = [verdict.get("verdict", "")]
    if verdict.get("not_met"):
        parts.append("not met: " + ", ".join(verdict["not_met"]))
    if verdict.get("unknown"):
        parts.append("to check: " + ", ".join(verdict["unknown"]))
    return " | ".join(parts)


def _ordered_union(keys_per_row: Iterable[Iterable[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for keys in keys_per_row:
        for k in keys:
            seen.setdefault(k, None)
    return list(seen)


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """One line per record for a spreadsheet: one column per profile field and one per trial.

    A coordinator filters a trial's column for ``eligible`` or ``uncertain`` to
    find whom to call; the reference in the first column is what the patient quotes.
    """
    rows = list(rows)
    fields = _ordered_union(r["profile"] for r in rows)
    trials = sorted(_ordered_union(r["verdicts"] for r in rows))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ref", "created_at", "updated_at", "mode", "kb_build_id", *fields, *trials])
    for r in rows:
        writer.writerow(
            [
                r["ref"],
                r["created_at"],
                r.get("updated_at") or "",
                r["mode"],
                r.get("kb_build_id") or "",
                *(_cell(r["profile"].get(f)) for f in fields),
                *(_trial_cell(r["verdicts"][t]) if t in r["verdicts"] else "" for t in trials),
            ]
        )
    return out.getvalue()


def to_json(rows: Iterable[Mapping[str, Any]]) -> str:
    """A JSON array of records, profile and verdicts as objects (for scripts)."""
    return json.dumps(list(rows), indent=2, sort_keys=True) + "\n"
