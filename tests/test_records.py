"""Pre-screening records: references, what is stored, export, delete, "delete my data", retention.

Every test uses its own records database under tmp_path (TRIALBOT_RECORDS_DB),
so nothing here touches var/ and the tests can run while the assistant is up.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sqlite3
import stat
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from rasa_sdk import Tracker
from rasa_sdk.events import Restarted
from rasa_sdk.executor import CollectingDispatcher

from actions.privacy import ActionDeleteMyData, save_record
from bot.__main__ import cli
from knowledge import engine
from screenings import store as records
from tests.files import load_yaml

DOMAIN = load_yaml("domain.yml")
PROFILE = {"age": 58, "tumor_site": "larynx", "stage": ["IVA"], "ecog": 1, "prior_treatment": []}
VERDICTS = {
    "NCT06100497": {"verdict": "uncertain", "not_met": [], "unknown": ["differentiation"]},
    "NCT07320690": {"verdict": "ineligible", "not_met": ["age", "ecog"], "unknown": []},
}


@pytest.fixture(autouse=True)
def records_db(tmp_path, monkeypatch):
    path = tmp_path / "var" / "records.db"
    monkeypatch.setenv("TRIALBOT_RECORDS_DB", str(path))
    monkeypatch.delenv("TRIALBOT_RECORDS_SECRET", raising=False)
    monkeypatch.delenv("TRIALBOT_RETENTION_DAYS", raising=False)
    return path


def tracker(sender_id: str, slots: dict | None = None, text: str = "delete my data") -> Tracker:
    latest = {"text": text, "intent": {"name": "delete_my_data", "confidence": 0.95}}
    return Tracker(sender_id, slots or {}, latest, [], False, None, {}, "action_listen")


# --- the store --------------------------------------------------------------------------


def test_reference_is_quotable_and_unique():
    refs = {records.new_reference() for _ in range(2000)}
    assert len(refs) == 2000
    for ref in list(refs)[:50]:
        assert len(ref) == 12 and ref.startswith("HN-") and ref[7] == "-"
        assert not set(ref[3:7] + ref[8:]) & set("01OIL")


def test_save_and_get_round_trip_with_a_typed_reference():
    ref = records.save(PROFILE, VERDICTS, mode="nurse", sender_id="s-1", kb_build_id="b1")
    record = records.get(ref.lower().replace("-", " "))
    assert record["ref"] == ref
    assert record["profile"] == PROFILE and record["verdicts"] == VERDICTS
    assert record["mode"] == "nurse" and record["kb_build_id"] == "b1"
    assert datetime.fromisoformat(record["created_at"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)


def test_the_store_keeps_a_keyed_hash_never_the_sender_id(records_db):
    ref = records.save(PROFILE, VERDICTS, sender_id="socket-abc123")
    raw = sqlite3.connect(records_db).execute("SELECT * FROM records").fetchall()
    assert "socket-abc123" not in repr(raw)
    stored = records.get(ref)["conversation"]
    assert stored == records.conversation_key("socket-abc123") != records.conversation_key("socket-abc124")
    assert len(stored) == 64


def test_the_hash_needs_the_key(monkeypatch):
    first = records.conversation_key("s")
    monkeypatch.setenv("TRIALBOT_RECORDS_SECRET", "another key")
    assert records.conversation_key("s") != first


def test_files_are_private_and_the_journal_is_wal(records_db):
    records.save(PROFILE, VERDICTS, sender_id="s")
    reader = records.connect()  # held open: the -wal and -shm files stay while it reads
    reader.execute("SELECT count(*) FROM records").fetchone()
    try:
        assert stat.S_IMODE(os.stat(records_db.parent).st_mode) == 0o700
        names = {p.name for p in records_db.parent.iterdir()}
        assert {"records.db", "records.db-wal", "records.db-shm", "records.key"} <= names
        for path in records_db.parent.iterdir():
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path.name
        assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        reader.close()


def test_mode_is_checked():
    with pytest.raises(ValueError):
        records.save(PROFILE, VERDICTS, mode="doctor")


def test_verdicts_from_real_matches_hold_criterion_ids_not_text(full_db):
    matches = engine.match({"age": 80, "tumor_site": "larynx"}, db=full_db, scope="head_and_neck")
    verdicts = records.verdicts_from_matches(matches)
    assert set(verdicts) == {m.nct_id for m in matches}
    by_id = {m.nct_id: m for m in matches}
    for nct_id, v in verdicts.items():
        m = by_id[nct_id]
        assert v["verdict"] == m.verdict
        ids = {c.id for c in m.criteria}
        assert set(v["not_met"]) <= ids and set(v["unknown"]) <= ids
        assert len(v["not_met"]) == len(m.not_met)
    # 80 is over NCT07320690's age limit (18 to 75): its age criterion is listed by id.
    assert "age" in verdicts["NCT07320690"]["not_met"]
    assert not any(len(i) > 60 for v in verdicts.values() for i in v["not_met"] + v["unknown"])


def test_delete_one_record():
    keep = records.save(PROFILE, VERDICTS)
    gone = records.save(PROFILE, VERDICTS)
    assert records.delete(gone) is True
    assert records.get(gone) is None and records.get(keep) is not None
    assert records.delete(gone) is False


def test_delete_conversation_removes_only_that_conversations_records():
    mine = [records.save(PROFILE, VERDICTS, sender_id="me") for _ in range(2)]
    other = records.save(PROFILE, VERDICTS, sender_id="someone else")
    anonymous = records.save(PROFILE, VERDICTS)
    assert records.delete_conversation("me") == 2
    assert all(records.get(r) is None for r in mine)
    assert records.get(other) and records.get(anonymous)
    assert records.delete_conversation("me") == 0


def test_export_since_and_order():
    now = datetime.now(timezone.utc)
    old = records.save(PROFILE, VERDICTS, created_at=now - timedelta(days=10))
    new = records.save(PROFILE, VERDICTS, created_at=now)
    assert [r["ref"] for r in records.export()] == [old, new]
    assert [r["ref"] for r in records.export(since=(now - timedelta(days=1)).strftime("%Y-%m-%d"))] == [new]
    assert all("conversation" not in r for r in records.export())


def test_purge_by_age():
    now = datetime.now(timezone.utc)
    old = records.save(PROFILE, VERDICTS, created_at=now - timedelta(days=31))
    recent = records.save(PROFILE, VERDICTS, created_at=now - timedelta(days=29))
    assert records.purge(30) == 1
    assert records.get(old) is None and records.get(recent)
    with pytest.raises(ValueError):
        records.purge(-1)


def test_a_later_result_of_the_same_screening_updates_its_record_in_place():
    """One screening, one record: a late answer after the result keeps the reference."""
    ref = records.save(PROFILE, VERDICTS, sender_id="conv-5")
    again = records.save({**PROFILE, "recurrent": "yes"}, VERDICTS, sender_id="conv-5", ref=ref)
    assert again == ref and len(list(records.export())) == 1
    record = records.get(ref)
    assert record["profile"]["recurrent"] == "yes" and record["updated_at"] >= record["created_at"]
    # Another conversation cannot update it: it gets its own record.
    other = records.save(PROFILE, VERDICTS, sender_id="conv-6", ref=ref)
    assert other != ref and records.get(ref)["profile"]["recurrent"] == "yes"


def test_retention_counts_from_the_last_update():
    now = datetime.now(timezone.utc)
    ref = records.save(PROFILE, VERDICTS, sender_id="conv-7", created_at=now - timedelta(days=40))
    records.save(PROFILE, VERDICTS, sender_id="conv-7", ref=ref)  # updated today
    assert records.purge(30) == 0 and records.get(ref)


# --- formats ----------------------------------------------------------------------------


def test_csv_has_one_column_per_profile_field_and_per_trial():
    ref = records.save(PROFILE, VERDICTS, mode="patient", kb_build_id="b1")
    rows = list(csv.DictReader(io.StringIO(records.to_csv(records.export()))))
    assert len(rows) == 1
    row = rows[0]
    assert row["ref"] == ref and row["mode"] == "patient" and row["kb_build_id"] == "b1"
    assert row["age"] == "58" and row["tumor_site"] == "larynx" and row["stage"] == "IVA"
    assert row["NCT06100497"] == "uncertain | to check: differentiation"
    assert row["NCT07320690"] == "ineligible | not met: age, ecog"
    assert "conversation" not in row


def test_csv_of_nothing_is_a_header():
    assert records.to_csv([]).strip() == "ref,created_at,updated_at,mode,kb_build_id"


# --- the CLI: python -m bot records ... --------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(cli, ["records", *args], catch_exceptions=False)


def test_cli_export_json_and_csv_to_a_private_file(tmp_path):
    ref = records.save(PROFILE, VERDICTS)
    result = run("export", "--format", "json")
    assert result.exit_code == 0
    assert [r["ref"] for r in json.loads(result.output)] == [ref]
    out = tmp_path / "export.csv"
    result = run("export", "--format", "csv", "--output", str(out))
    assert result.exit_code == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert out.read_text().splitlines()[1].startswith(ref + ",")


def test_cli_export_since():
    now = datetime.now(timezone.utc)
    records.save(PROFILE, VERDICTS, created_at=now - timedelta(days=3))
    new = records.save(PROFILE, VERDICTS, created_at=now)
    result = run("export", "--format", "json", "--since", now.strftime("%Y-%m-%d"))
    assert [r["ref"] for r in json.loads(result.output)] == [new]
    assert run("export", "--since", "last week").exit_code != 0


def test_cli_delete():
    ref = records.save(PROFILE, VERDICTS)
    result = run("delete", ref)
    assert result.exit_code == 0 and ref in result.output
    assert records.get(ref) is None
    result = run("delete", ref)
    assert result.exit_code == 1 and "no record with reference" in result.output


def test_cli_purge_uses_the_retention_setting_and_purges_conversations(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIALBOT_CONVERSATIONS_DB", str(tmp_path / "var" / "conversations.db"))
    monkeypatch.setenv("TRIALBOT_RETENTION_DAYS", "7")
    now = datetime.now(timezone.utc)
    old = records.save(PROFILE, VERDICTS, created_at=now - timedelta(days=8))
    kept = records.save(PROFILE, VERDICTS, created_at=now - timedelta(days=6))
    result = run("purge")
    assert result.exit_code == 0, result.output
    assert "purged 1 record(s) and 0 conversation(s) older than 7 day(s)" in result.output
    assert records.get(old) is None and records.get(kept)
    assert run("purge", "--older-than", "5").output.startswith("purged 1 record(s)")


# --- the actions ------------------------------------------------------------------------


def test_save_record_tells_the_reference_in_the_users_mode():
    dispatcher = CollectingDispatcher()
    ref = save_record(dispatcher, tracker("conv-1", {"role": "nurse"}), DOMAIN, PROFILE, [])
    assert dispatcher.messages[0]["utter_action"] == "utter_record_saved"
    assert dispatcher.messages[0]["text"] == f"Pre-screening record saved. Reference: {ref}"  # the nurse wording
    record = records.get(ref)
    assert record["mode"] == "nurse" and record["profile"] == PROFILE
    assert record["conversation"] == records.conversation_key("conv-1")


def test_save_record_failure_still_leaves_the_result_and_logs_no_answers(records_db, monkeypatch, caplog):
    records_db.parent.mkdir(parents=True)
    records_db.mkdir()  # a folder where the file should be: SQLite cannot open it
    dispatcher = CollectingDispatcher()
    assert save_record(dispatcher, tracker("conv-1"), DOMAIN, PROFILE, []) is None
    assert dispatcher.messages == []
    assert "larynx" not in caplog.text and "conv-1" not in caplog.text
    assert "saving the pre-screening record failed" in caplog.text


def test_delete_my_data_removes_the_conversations_records_and_restarts():
    mine = records.save(PROFILE, VERDICTS, sender_id="conv-9")
    other = records.save(PROFILE, VERDICTS, sender_id="conv-10")
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionDeleteMyData().run(dispatcher, tracker("conv-9"), {}))
    assert records.get(mine) is None and records.get(other)
    # worded by actions/say.py from domain.yml (the response name travels as utter_action)
    assert [m.get("utter_action") or m.get("response") for m in dispatcher.messages] == ["utter_data_deleted"]
    assert Restarted() in events


@pytest.mark.parametrize("text", ["who sees the record?", "what happens to my answers"])
def test_delete_is_never_run_on_the_intent_alone(text):
    """The simulator's nurse asked "who sees the record?", the NLU said delete_my_data, and the
    conversation and its record were gone. Words that do not ask for it delete nothing."""
    mine = records.save(PROFILE, VERDICTS, sender_id="conv-11")
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionDeleteMyData().run(dispatcher, tracker("conv-11", text=text), DOMAIN))
    assert records.get(mine) and events == []
    assert [m.get("utter_action") or m.get("response") for m in dispatcher.messages] == ["utter_privacy_answer"]
    assert any(b["payload"] == "/delete_my_data" for m in dispatcher.messages for b in m.get("buttons") or [])
    # The button deletes.
    asyncio.run(ActionDeleteMyData().run(CollectingDispatcher(), tracker("conv-11", text="/delete_my_data"), DOMAIN))
    assert records.get(mine) is None
