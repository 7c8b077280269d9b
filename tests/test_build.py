"""The knowledge-base builder: atomic, checked, read-only for readers."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
import yaml

from knowledge import build, db, engine, records
from knowledge.db import SCHEMA_VERSION

from .conftest import SEED_IDS, copy_records


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def edit_record(path: Path, change) -> None:
    record = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(record)
    path.write_text(yaml.safe_dump(record, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Seed records and their database, built once for the module (each build takes ~0.3 s)."""
    folder = tmp_path_factory.mktemp("built")
    trials = copy_records(folder / "trials", SEED_IDS)
    path = build.build(dirs=[trials], db_path=folder / "trials.db", compare_parser=False).path
    return trials, path


@pytest.fixture
def workspace(built, tmp_path):
    """Seed records and a built database in a temp folder of the test's own: a copy of
    ``built`` (the same files, byte for byte), since tests change records and rebuild."""
    trials, path = built
    shutil.copytree(trials, tmp_path / "trials")
    shutil.copyfile(path, tmp_path / "trials.db")
    return tmp_path / "trials", tmp_path / "trials.db"


def test_built_database_has_tables_indexes_fts_and_version(workspace):
    _, path = workspace
    conn = db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "trials",
        "criteria",
        "rules",
        "locations",
        "vocabulary",
        "parse_report",
        "meta",
        "trials_fts",
        "criteria_fts",
    } <= tables
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "idx_criteria_cancer_type_prescreen_nct_id_rule_id" in indexes
    assert conn.execute("SELECT count(*) FROM trials").fetchone()[0] == 2
    hits = {
        r[0]
        for r in conn.execute(
            "SELECT trials.nct_id FROM trials_fts JOIN trials ON trials.rowid = trials_fts.rowid "
            "WHERE trials_fts MATCH 'nasopharyngeal'"
        )
    }
    assert hits == set(SEED_IDS)
    # Porter stemming: "differentiated" finds "poorly differentiated".
    assert conn.execute("SELECT count(*) FROM criteria_fts WHERE criteria_fts MATCH 'differentiate'").fetchone()[0] > 0
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    synonyms = {r[0] for r in conn.execute("SELECT term FROM vocabulary WHERE code = 'larynx'")}
    assert "voice box" in synonyms


def test_every_criterion_keeps_the_trials_own_words(workspace):
    _, path = workspace
    conn = db.connect(path)
    texts = [
        r[0] for r in conn.execute("SELECT text FROM criteria WHERE nct_id = 'NCT07320690' AND origin = 'reviewed'")
    ]
    page = Path(__file__).resolve().parents[1] / "knowledge" / "trials" / "NCT07320690.yaml"
    eligibility = yaml.safe_load(page.read_text(encoding="utf-8"))["eligibility_text"]
    # Every quoted text (other than the registry age line) appears verbatim in the eligibility text.
    quoted = [t for t in texts if not t.startswith("Ages eligible")]
    assert quoted and all(t in eligibility for t in quoted)


def test_readers_cannot_write(workspace):
    _, path = workspace
    conn = db.connect(path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM trials")


def test_missing_database_says_how_to_build_it(tmp_path):
    with pytest.raises(db.KnowledgeBaseError, match="make kb"):
        db.connect(tmp_path / "nothing.db")


def test_other_schema_version_is_refused(workspace):
    _, path = workspace
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 999")
    raw.commit()
    raw.close()
    with pytest.raises(db.KnowledgeBaseError, match="schema version 999"):
        db.connect(path)


@pytest.mark.parametrize(
    "change,field,message",
    [
        (
            lambda r: r["criteria"][1].update({"in": ["orophrynx"]}),
            "criteria[1].in",
            "'orophrynx' is not a known tumor_site",
        ),
        (lambda r: r["criteria"][0].update({"min": 80}), "criteria[0].min", "min 80 is above max 75"),
        (lambda r: r["criteria"][6].update({"max": "one"}), "criteria[6].max", "'one' is not of type 'number'"),
        (lambda r: r.pop("title"), "(record)", "'title' is a required property"),
        (
            lambda r: r["criteria"][1].update({"requires_any": ["surgery"]}),
            "criteria[1].requires_any",
            "'requires_any' does not apply to category field tumor_site",
        ),
        (lambda r: r["criteria"][1].update({"not_in": ["nasopharynx"]}), "criteria[1]", "one rule per criterion"),
        (
            lambda r: r["criteria"][3].update({"when": {"tumour_site": ["oropharynx"]}}),
            "criteria[3].when",
            "not a profile field",
        ),
        (lambda r: r.update({"nct_id": "NCT07320691"}), "nct_id", "does not match the file name"),
        # A conditional review (issue 10, case 13) must widen the rule, on one known field and value.
        (lambda r: r["criteria"][6].update({"review_if": {"max": 0}}), "criteria[6].review_if", "must widen"),
        (
            lambda r: r["criteria"][6].update({"review_if": [2]}),
            "criteria[6].review_if",
            "a number field reviews a range",
        ),
        (
            lambda r: r["criteria"][6].update(
                {"review_if": {"max": 2, "when": {"ecog_source": ["patient"], "sex": ["male"]}}}
            ),
            "criteria[6].review_if.when",
            "names one field",
        ),
        (
            lambda r: r["criteria"][6].update({"review_if": {"max": 2, "when": {"ecog_source": ["nurse"]}}}),
            "criteria[6].review_if.when.ecog_source",
            "'nurse' is not a known ecog_source",
        ),
        (lambda r: r["criteria"][5].update({"review_if": {"max": 2}}), "criteria[5].review_if", "reviews codes"),
        (lambda r: r["criteria"][3].update({"timing": "at lunch"}), "criteria[3].timing", "is not one of"),
    ],
)
def test_bad_record_fails_with_file_field_and_reason_and_keeps_the_old_database(workspace, change, field, message):
    trials, path = workspace
    before = digest(path)
    edit_record(trials / "NCT07320690.yaml", change)
    with pytest.raises(build.BuildError) as err:
        build.build(dirs=[trials], db_path=path, compare_parser=False)
    assert len(err.value.errors) == 1
    error = err.value.errors[0]
    assert error.source == "NCT07320690.yaml"
    assert error.field == field
    assert message in error.message
    assert digest(path) == before
    assert not list(path.parent.glob(".build-*"))


def test_every_bad_record_is_reported_at_once(workspace):
    trials, path = workspace
    (trials / "NCT06100497.yaml").write_text("nct_id: [unclosed\n", encoding="utf-8")
    edit_record(trials / "NCT07320690.yaml", lambda r: r["criteria"][0].update({"field": "height"}))
    with pytest.raises(build.BuildError) as err:
        build.build(dirs=[trials], db_path=path, compare_parser=False)
    assert [(e.source, e.field) for e in err.value.errors] == [
        ("NCT06100497.yaml", "line 2"),
        ("NCT07320690.yaml", "criteria[0].field"),
    ]
    assert "the previous database is untouched" in str(err.value)


def test_a_build_that_fails_late_leaves_the_old_database(workspace, monkeypatch):
    trials, path = workspace
    before = digest(path)

    def broken(conn):
        raise RuntimeError("integrity_check failed: simulated")

    monkeypatch.setattr(build, "_check", broken)
    with pytest.raises(RuntimeError, match="simulated"):
        build.build(dirs=[trials], db_path=path, compare_parser=False)
    assert digest(path) == before
    assert not list(path.parent.glob(".build-*"))


def test_readers_follow_a_rebuild_and_never_see_half_a_database(workspace, tmp_path):
    trials, path = workspace
    reader = db.Reader(path)
    assert reader.conn().execute("SELECT count(*) FROM trials").fetchone()[0] == 2
    held = db.connect(path)
    # Rebuild with one more trial while queries run in another thread.
    copy_records(trials, {"NCT05343325"})
    errors, counts = [], []

    def query_loop():
        for _ in range(200):
            try:
                counts.append(len(engine.verdicts({"age": 50}, db=reader.conn())))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

    thread = threading.Thread(target=query_loop)
    thread.start()
    build.build(dirs=[trials], db_path=path, compare_parser=False)
    thread.join()
    assert errors == []
    assert set(counts) <= {2, 3}
    # The connection opened before the swap still reads the complete old file.
    assert held.execute("SELECT count(*) FROM trials").fetchone()[0] == 2
    assert reader.conn().execute("SELECT count(*) FROM trials").fetchone()[0] == 3


def test_partial_and_unreviewed_records_get_a_review_criterion(full_db, tmp_path):
    conn = db.connect(full_db)
    derived = dict(conn.execute("SELECT nct_id, text FROM criteria WHERE criterion_id = 'full_criteria'").fetchall())
    assert set(derived) == {"NCT05854823", "NCT06323369", "NCT06345287", "NCT05343325", "NCT07090707"}
    assert all(t.startswith("Only part of this trial's eligibility criteria is known") for t in derived.values())


def test_every_committed_record_passes_the_checks():
    paths = build.source_files([Path(records.__file__).parent / "trials"])
    assert len(paths) >= 7
    assert {p.stem for p in paths} >= {"NCT06100497", "NCT07320690"}
    build.load_all(paths)
