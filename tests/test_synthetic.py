"""Synthetic trials for benchmarks: valid records, clearly marked, a realistic mix."""

import re
import sqlite3

import pytest

from bench import synthetic
from knowledge import db as kdb
from knowledge import engine, records, vocab


def checkable(record: dict) -> dict:
    """The record as a source file would hold it: without builder-only keys (``_synthetic``).

    check_record's schema forbids extra keys, so the ``_``-prefixed keys the
    builder reads (``_synthetic``, like ``_source_file``) are left out, as
    build.load_all adds ``_source_file`` only after checking.
    """
    return {k: v for k, v in record.items() if not k.startswith("_")}


@pytest.fixture(scope="module")
def sample():
    return list(synthetic.generate(2000, seed=0))


def test_records_pass_check_record():
    for record in synthetic.generate(50, seed=3):
        records.check_record(checkable(record), source=record["nct_id"])


def test_records_look_like_real_ones(sample):
    for record in sample[:500]:
        criteria = record["criteria"]
        team = [c for c in criteria if c["field"] == "study_team"]
        assert 8 <= len(criteria) <= 20
        assert 3 <= len(team) <= 8
        assert any(c["field"] == "age" for c in criteria)
        assert any(c["field"] == "ecog" and c.get("max") in (1, 2) for c in criteria)
        assert 1 <= len(record["locations"]) <= 5
        site_rules = [c for c in criteria if c["field"] == "tumor_site"]
        for rule in site_rules:
            for site in rule.get("in", []) + rule.get("not_in", []):
                assert vocab.cancer_type_of(site) == record["cancer_type"]
    assert any(r["criteria_completeness"] == "partial" for r in sample)
    assert any(c.get("when", {}).get("p16") == ["positive"] for r in sample for c in r["criteria"])
    assert any(c.get("not_in") == ["nasopharynx"] for r in sample for c in r["criteria"])
    assert any("excludes_combination" in c for r in sample for c in r["criteria"])
    assert any("review_if" in c for r in sample for c in r["criteria"])


def test_deterministic_per_seed():
    assert list(synthetic.generate(30, seed=7)) == list(synthetic.generate(30, seed=7))
    assert list(synthetic.generate(30, seed=7)) != list(synthetic.generate(30, seed=8))
    assert list(synthetic.generate(10, seed=7)) == list(synthetic.generate(30, seed=7))[:10]


def test_clearly_marked(sample):
    ids = [r["nct_id"] for r in sample]
    assert len(set(ids)) == len(ids)
    for record in sample:
        assert re.fullmatch(r"NCT9\d{7}", record["nct_id"])
        assert record["title"].startswith("[SYNTHETIC] ")
        assert record["_synthetic"] is True
        assert record["review"] == {"status": "reviewed", "sources": [synthetic.SOURCE]}
        assert "clinicaltrials.gov" not in record["url"]


def test_head_and_neck_share_near_five_percent(sample):
    share = sum(r["cancer_type"] == "head_and_neck" for r in sample) / len(sample)
    assert 0.035 <= share <= 0.065
    kinds = {r["cancer_type"] for r in sample}
    assert len(kinds) >= 10  # spread over the other kinds of cancer


def test_refuses_the_real_knowledge_base():
    with pytest.raises(ValueError, match="real knowledge base"):
        synthetic.build(1, kdb.DB_PATH)


def test_build_and_match(tmp_path):
    path = tmp_path / "synthetic.db"
    report = synthetic.build(300, path, seed=1, progress=False)
    assert report.trials == 300
    conn = kdb.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM trials WHERE synthetic = 1").fetchone()[0] == 300
    hn_ids = {r[0] for r in conn.execute("SELECT nct_id FROM trials WHERE cancer_type = 'head_and_neck'")}
    assert hn_ids  # seed 1 puts some in 300 trials

    profile = {
        "age": 60,
        "tumor_site": "oropharynx",
        "stage": "III",
        "ecog": 1,
        "p16": "positive",
        "prior_treatment": ["anti_pd1"],
    }
    results = engine.match(profile, db=conn)
    assert {m.cancer_type for m in results} == {"head_and_neck"}
    assert {m.nct_id for m in results} == hn_ids
    assert all(m.title.startswith("[SYNTHETIC] ") for m in results)
    assert len(engine.match(profile, db=conn, limit=5)) == min(5, len(hn_ids))
    question = engine.next_question({"tumor_site": "oropharynx"}, db=conn)
    assert question is None or set(question.trials) <= hn_ids
    conn.close()


def test_build_leaves_no_partial_file(tmp_path):
    path = tmp_path / "synthetic.db"
    synthetic.build(5, path, seed=0, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic.db"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
