"""Build ``trials.db`` from the source records, atomically.

The build writes a new database beside the old one, checks it
(``PRAGMA integrity_check``, ``PRAGMA foreign_key_check``), stamps the schema
version into ``user_version`` and only then swaps it in with ``os.replace``.
A reader therefore sees either the old database or the new one, never half of
one; and a bad record stops the build before anything is replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils
from tqdm import tqdm

from . import records, vocab
from .db import DB_PATH, IMPORTED_DIR, SCHEMA_VERSION, TRIALS_DIR
from .records import RecordError

PARTIAL_TEXT = (
    "Only part of this trial's eligibility criteria is known here. The study team must check the full criteria."
)
# The same in Chinese, written by the builder (translations marked as such, like a record's).
PARTIAL_TEXT_ZH = "这里只掌握该试验的部分入选标准。研究团队必须核对全部标准。"
UNREVIEWED_TEXT_ZH = "该试验的标准是导入后由机器读取的，尚未经过人工审核。研究团队必须核对全部标准。"
CONDITION_ZH = "研究的疾病："
BUILDER = "knowledge/build.py"
UNREVIEWED_TEXT = (
    "This trial's criteria were imported and read by machine, not yet reviewed. "
    "The study team must check the full criteria."
)


class BuildError(RuntimeError):
    """One or more source records are wrong; nothing was replaced."""

    def __init__(self, errors: list[RecordError]):
        self.errors = errors
        lines = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"{len(errors)} source record(s) failed; the previous database is untouched:\n{lines}")


@dataclass
class BuildReport:
    path: Path
    trials: int = 0
    criteria: int = 0
    locations: int = 0
    rules: int = 0
    disagreements: list[dict] = field(default_factory=list)


RULE_COLUMNS = (
    "cancer_type",
    "field",
    "op",
    "lo",
    "hi",
    "mask",
    "mask2",
    "review_mask",
    "review_lo",
    "review_hi",
    "rcond_field",
    "rcond_mask",
    "cond1_field",
    "cond1_mask",
    "cond2_field",
    "cond2_mask",
)


class RuleIds:
    """Gives each distinct rule (within a kind of cancer) one id for the whole build."""

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}

    def assign(self, rows: list[dict]) -> list[dict]:
        """Replace each row's rule columns by a rule_id; return the rules seen for the first time."""
        new = []
        for row in rows:
            # The criterion keeps its field (shown beside its words); the rest moves to `rules`.
            rule = {k: (row[k] if k == "field" else row.pop(k)) for k in RULE_COLUMNS[1:]}
            if not row["prescreen"]:
                row["rule_id"] = None
                continue
            key = (row["cancer_type"], *rule.values())
            if key not in self.ids:
                self.ids[key] = len(self.ids) + 1
                new.append({"rule_id": self.ids[key], "cancer_type": row["cancer_type"], **rule})
            row["rule_id"] = self.ids[key]
        return new


def source_files(dirs: Iterable[Path] = (TRIALS_DIR, IMPORTED_DIR)) -> list[Path]:
    """Every record file in the given folders; a later folder never overrides an earlier one."""
    files: dict[str, Path] = {}
    for directory in dirs:
        for path in sorted(Path(directory).glob("NCT*.yaml")) if Path(directory).is_dir() else []:
            files.setdefault(path.stem, path)
    return list(files.values())


def load_all(paths: Iterable[Path]) -> list[dict]:
    """Load and check every record, collecting all errors before failing."""
    loaded, errors = [], []
    for path in paths:
        try:
            record = records.load_record(path)
            record["_source_file"] = str(Path(path).name)
            loaded.append(record)
        except RecordError as e:
            errors.append(e)
    if errors:
        raise BuildError(errors)
    return loaded


def build(
    dirs: Iterable[Path] = (TRIALS_DIR, IMPORTED_DIR),
    db_path: str | Path = DB_PATH,
    progress: bool = False,
    compare_parser: bool = True,
) -> BuildReport:
    """Build the knowledge base from the record folders (reviewed trials first)."""
    return build_database(load_all(source_files(dirs)), db_path, progress=progress, compare_parser=compare_parser)


def build_database(
    trial_records: Iterable[dict],
    db_path: str | Path = DB_PATH,
    progress: bool = False,
    compare_parser: bool = False,
    total: int | None = None,
) -> BuildReport:
    """Write checked records into a new database file and swap it in."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".build-", suffix=".db", dir=db_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    report = BuildReport(path=db_path)
    try:
        conn = sqlite3.connect(tmp)
        conn.execute("PRAGMA journal_mode = OFF")  # a failed build is thrown away whole
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA foreign_keys = ON")
        db = sqlite_utils.Database(conn)
        _create_tables(db)
        _write_vocabulary(db)
        batch: list[dict] = []
        rule_ids = RuleIds()
        for record in tqdm(trial_records, total=total, disable=not progress, unit=" trials", desc="building"):
            batch.append(record)
            if len(batch) >= 2000:
                _write_trials(db, batch, report, compare_parser, rule_ids)
                batch = []
        _write_trials(db, batch, report, compare_parser, rule_ids)
        _finish(db, report)
        conn.commit()
        _check(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.commit()
        conn.close()
        os.chmod(tmp, 0o644)  # mkstemp made it private; readers may run as another user
        os.replace(tmp, db_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return report


def _create_tables(db: sqlite_utils.Database) -> None:
    db.table("trials").create(
        {
            "nct_id": str,
            "title": str,
            "official_title": str,
            "acronym": str,
            "summary": str,
            "phase": str,
            "status": str,
            "sponsor": str,
            "enrollment": int,
            "conditions": str,
            "cancer_type": str,
            "url": str,
            "criteria_completeness": str,
            "review_status": str,
            "reviewed_on": str,
            "review_sources": str,
            "review_note": str,
            "contacts": str,
            "eligibility_text": str,
            "min_age": float,
            "max_age": float,
            "source_file": str,
            "synthetic": int,
        },
        pk="nct_id",
        not_null={"title", "cancer_type", "criteria_completeness", "review_status"},
    )
    # One row per distinct rule within a kind of cancer: the engine evaluates each
    # rule once per query, however many trials share it ("age 18-75", "ECOG 0-1").
    db.table("rules").create(
        {
            "rule_id": int,
            "cancer_type": str,
            "field": str,
            "op": str,
            "lo": float,
            "hi": float,
            "mask": int,
            "mask2": int,
            "review_mask": int,
            "review_lo": float,
            "review_hi": float,
            "rcond_field": str,
            "rcond_mask": int,
            "cond1_field": str,
            "cond1_mask": int,
            "cond2_field": str,
            "cond2_mask": int,
        },
        pk="rule_id",
    )
    db.table("criteria").create(
        {
            "id": int,
            "nct_id": str,
            "ord": int,
            "criterion_id": str,
            "field": str,
            "kind": str,
            "text": str,
            "note": str,
            "topic": str,
            "rule": str,
            "origin": str,
            "prescreen": int,
            "cancer_type": str,
            "rule_id": int,
        },
        pk="id",
        foreign_keys=[("nct_id", "trials", "nct_id"), ("rule_id", "rules", "rule_id")],
    )
    db.table("locations").create(
        {
            "id": int,
            "nct_id": str,
            "facility": str,
            "city": str,
            "province": str,
            "country": str,
            "status": str,
            "lat": float,
            "lon": float,
        },
        pk="id",
        foreign_keys=[("nct_id", "trials", "nct_id")],
    )
    db.table("vocabulary").create({"field": str, "code": str, "label": str, "term": str})
    db.table("parse_report").create(
        {"nct_id": str, "field": str, "parsed": str, "reviewed": str},
        foreign_keys=[("nct_id", "trials", "nct_id")],
    )
    db.table("meta").create({"key": str, "value": str}, pk="key")
    # Chinese texts of a trial (title, summary, each criterion's words), translations unless
    # source is "official"; shown marked 译文 beside the English (knowledge/translation.py).
    db.table("translations").create(
        {
            "nct_id": str,
            "key": str,
            "text": str,
            "text_zh": str,
            "source": str,
            "translated_by": str,
            "reviewed": int,
            "reviewer": str,
        },
        pk=("nct_id", "key"),
        foreign_keys=[("nct_id", "trials", "nct_id")],
    )


def _write_vocabulary(db: sqlite_utils.Database) -> None:
    """The vocabulary as a browsable table: coordinators can see every synonym."""
    rows = []
    labelled = [
        ("tumor_site", vocab.sites(), vocab.site_terms()),
        ("cancer_type", vocab.cancer_types(), vocab.cancer_type_terms()),
        ("prior_treatment", {t["code"]: t for t in vocab.load("treatments")["treatments"]}, vocab.treatment_terms()),
        ("histology", {h["code"]: h for h in vocab.load("histology")["histology"]}, vocab.histology_terms()),
    ]
    for name, entries, terms in labelled:
        rows += [{"field": name, "code": code, "label": entries[code]["label"], "term": term} for term, code in terms]
    for term, drug in vocab.drug_terms():
        category = vocab.drugs()[drug]["category"]
        rows.append({"field": "drug", "code": category, "label": drug, "term": term})
    db.table("vocabulary").insert_all(rows)


def _write_trials(
    db: sqlite_utils.Database, batch: list[dict], report: BuildReport, compare_parser: bool, rule_ids: RuleIds
) -> None:
    if not batch:
        return
    trials, criteria, locations, disagreements, translations = [], [], [], [], []
    for record in batch:
        trials.append(_trial_row(record))
        criteria += _criteria_rows(record)
        translations += _translation_rows(record)
        locations += [{"nct_id": record["nct_id"], **loc} for loc in record.get("locations", [])]
        if compare_parser and record["review"]["status"] == "reviewed":
            disagreements += _parser_disagreements(record)
    new_rules = rule_ids.assign(criteria)
    db.table("trials").insert_all(trials, batch_size=1000)
    db.table("rules").insert_all(new_rules, batch_size=2000)
    db.table("criteria").insert_all(criteria, batch_size=2000)
    db.table("locations").insert_all(locations, batch_size=2000)
    if translations:
        db.table("translations").insert_all(translations, batch_size=2000)
    if disagreements:
        db.table("parse_report").insert_all(disagreements)
    report.trials += len(trials)
    report.criteria += len(criteria)
    report.locations += len(locations)
    report.rules += len(new_rules)
    report.disagreements += disagreements


def _trial_row(record: dict) -> dict:
    ages = [c for c in record["criteria"] if c["field"] == "age"]
    review = record["review"]
    return {
        "nct_id": record["nct_id"],
        "title": record["title"],
        "official_title": record.get("official_title"),
        "acronym": record.get("acronym"),
        "summary": record["summary"],
        "phase": record["phase"],
        "status": record["status"],
        "sponsor": record["sponsor"],
        "enrollment": record.get("enrollment"),
        "conditions": json.dumps(record["conditions"], ensure_ascii=False),
        "cancer_type": record["cancer_type"],
        "url": record["url"],
        "criteria_completeness": record["criteria_completeness"],
        "review_status": review["status"],
        "reviewed_on": review.get("date"),
        "review_sources": json.dumps(review["sources"], ensure_ascii=False),
        "review_note": review.get("note"),
        "contacts": json.dumps(record["contacts"], ensure_ascii=False),
        "eligibility_text": record["eligibility_text"],
        "min_age": next((c.get("min") for c in ages if c.get("min") is not None), None),
        "max_age": next((c.get("max") for c in ages if c.get("max") is not None), None),
        "source_file": record.get("_source_file"),
        "synthetic": int(bool(record.get("_synthetic"))),
    }


def _translation_rows(record: dict) -> list[dict]:
    """The record's Chinese texts, keyed by "title", "summary" or the criterion id; the
    builder's own criteria (kind of cancer, partial or unreviewed) get the builder's words."""
    info = record.get("translation") or {}
    by, reviewed, reviewer = info.get("by"), int(bool(info.get("reviewed"))), info.get("reviewer")
    rows = []

    def add(key: str, text: str, zh: str | None, source: str = "translation", who: str | None = by) -> None:
        if zh:
            rows.append(
                {
                    "nct_id": record["nct_id"],
                    "key": key,
                    "text": text,
                    "text_zh": zh,
                    "source": source,
                    "translated_by": who,
                    "reviewed": reviewed if who == by else 0,
                    "reviewer": reviewer if who == by else None,
                }
            )

    add("title", record["title"], record.get("title_zh"), record.get("title_zh_source", "translation"))
    add("summary", record["summary"], record.get("summary_zh"))
    for row, criterion in zip(_criteria_rows(record), _derived(record) + list(record["criteria"])):
        zh = criterion.get("text_zh")
        if zh is None and criterion.get("_origin") == "derived":
            zh = {PARTIAL_TEXT: PARTIAL_TEXT_ZH, UNREVIEWED_TEXT: UNREVIEWED_TEXT_ZH}.get(
                criterion["text"], CONDITION_ZH + "; ".join(record["conditions"])
            )
            add(row["criterion_id"], criterion["text"], zh, "translation", BUILDER)
        else:
            add(row["criterion_id"], criterion["text"], zh)
    return rows


def _derived(record: dict) -> list[dict]:
    """The criteria the builder adds to every trial (its kind of cancer; partial or unreviewed)."""
    derived: list[dict[str, Any]] = [
        {
            "id": "cancer_type",
            "field": "cancer_type",
            "kind": "inclusion",
            "in": [record["cancer_type"]],
            "text": "Condition studied: " + "; ".join(record["conditions"]),
            "_origin": "derived",
        }
    ]
    if record["criteria_completeness"] == "partial":
        derived.append(
            {
                "id": "full_criteria",
                "field": "cancer_type",
                "needs_review": True,
                "text": PARTIAL_TEXT,
                "_origin": "derived",
            }
        )
    elif record["review"]["status"] != "reviewed":
        derived.append(
            {
                "id": "full_criteria",
                "field": "cancer_type",
                "needs_review": True,
                "text": UNREVIEWED_TEXT,
                "_origin": "derived",
            }
        )
    return derived


def _criteria_rows(record: dict) -> list[dict]:
    """The record's criteria plus the ones the builder derives for every trial."""
    derived = _derived(record)
    default_origin = "reviewed" if record["review"]["status"] == "reviewed" else "parsed"
    rows = []
    for ord_, criterion in enumerate(derived + list(record["criteria"])):
        rule = records.compile_rule(criterion)
        readable = {
            k: v
            for k, v in criterion.items()
            if k not in ("id", "text", "text_zh", "note", "topic", "kind") and not k.startswith("_")
        }
        rows.append(
            {
                "nct_id": record["nct_id"],
                "ord": ord_,
                "criterion_id": records.criterion_id(criterion, ord_),
                "field": criterion["field"],
                "kind": criterion.get("kind"),
                "text": criterion["text"],
                "note": criterion.get("note"),
                "topic": criterion.get("topic"),
                "rule": json.dumps(readable, ensure_ascii=False),
                "origin": criterion.get("_origin", default_origin),
                "prescreen": int(rule.prescreen),
                "cancer_type": record["cancer_type"],
                "op": rule.op,
                "lo": rule.lo,
                "hi": rule.hi,
                "mask": rule.mask,
                "mask2": rule.mask2,
                "review_mask": rule.review_mask,
                "review_lo": rule.review_lo,
                "review_hi": rule.review_hi,
                "rcond_field": rule.rcond_field,
                "rcond_mask": rule.rcond_mask,
                "cond1_field": rule.cond1_field,
                "cond1_mask": rule.cond1_mask,
                "cond2_field": rule.cond2_field,
                "cond2_mask": rule.cond2_mask,
            }
        )
    return rows


def _parser_disagreements(record: dict) -> list[dict]:
    """Where the spaCy parser reads the text differently from the reviewer."""
    from . import parse  # spaCy loads only when a reviewed record is compared

    proposed = parse.parse_criteria(record["eligibility_text"]).criteria
    reviewed = [c for c in record["criteria"] if c["field"] != records.STUDY_TEAM]
    return [
        {
            "nct_id": record["nct_id"],
            "field": d["field"],
            "parsed": _text(d["parsed"]),
            "reviewed": _text(d["reviewed"]),
        }
        for d in parse.compare(proposed, reviewed)
    ]


def _text(value) -> str | None:
    return None if value is None else str(value)


def _finish(db: sqlite_utils.Database, report: BuildReport) -> None:
    """Indexes and full-text search, added once the rows are in (faster than row by row)."""
    db.table("trials").create_index(["cancer_type"])
    db.table("trials").create_index(["status"])
    db.table("criteria").create_index(["cancer_type", "prescreen", "nct_id", "rule_id"])
    db.table("rules").create_index(["cancer_type"])
    db.table("criteria").create_index(["nct_id", "ord"])
    db.table("criteria").create_index(["field"])
    db.table("locations").create_index(["nct_id"])
    db.table("locations").create_index(["country", "city"])
    db.table("vocabulary").create_index(["field", "code"])
    db.table("trials").enable_fts(["title", "summary", "conditions", "eligibility_text"], tokenize="porter")
    db.table("criteria").enable_fts(["text"], tokenize="porter")
    vocab_hash = hashlib.sha256()
    for path in sorted(vocab.VOCABULARY_DIR.glob("*.yaml")):
        vocab_hash.update(path.read_bytes())
    db.table("meta").insert_all(
        [
            {"key": "schema_version", "value": str(SCHEMA_VERSION)},
            {"key": "built_at", "value": datetime.now(timezone.utc).isoformat(timespec="seconds")},
            # Readers cache per-build indexes under this id.
            {"key": "build_id", "value": uuid.uuid4().hex},
            {"key": "trials", "value": str(report.trials)},
            {"key": "vocabulary_sha256", "value": vocab_hash.hexdigest()},
        ]
    )


def _check(conn: sqlite3.Connection) -> None:
    """Refuse to publish a database SQLite itself finds damaged or inconsistent."""
    result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise RuntimeError(f"integrity_check failed: {result}")
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign_key_check found {len(broken)} broken references, first: {tuple(broken[0])}")
