"""The conversation store (bot/server/tracker_store.py): on disk, WAL, private, forgets, purges.

The first tests drive the store class directly, built from endpoints.yml the way
Rasa builds it. The slow ones start the real stack (`python -m bot run`) on free
ports with their own conversation and record files, and check that a restarted
Rasa server resumes a half-finished screening and that "delete my data" really
removes the stored conversation and its record.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from bot.server.tracker_store import FORGET_ACTION, SQLiteTrackerStore, purge_configured
from screenings import store as records
from tests.stack import MODEL, ROOT, Stack, start_stack


@functools.lru_cache(maxsize=None)
def domain() -> Domain:
    """Rasa's Domain of domain.yml, read (and schema-checked, ~1 s) once, by the first test
    that needs it: not at import, which every pytest-xdist worker pays while collecting."""
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def db_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "var" / "conversations.db"
    monkeypatch.setenv("TRIALBOT_CONVERSATIONS_DB", str(path))
    return path


@pytest.fixture
def store(db_path) -> SQLiteTrackerStore:
    """Built from endpoints.yml through Rasa's own factory, as the server does."""
    created = TrackerStore.create(read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store"), domain=domain())
    assert isinstance(created, SQLiteTrackerStore)
    yield created
    created.engine.dispose()


def turn(tracker: DialogueStateTracker, text: str, action: str, timestamp: float | None = None, **slots) -> None:
    tracker.update(UserUttered(text, timestamp=timestamp))
    tracker.update(ActionExecuted(action, timestamp=timestamp))
    for name, value in slots.items():
        tracker.update(SlotSet(name, value, timestamp=timestamp))
    tracker.update(ActionExecuted("action_listen", timestamp=timestamp))


def stored_events(db_path: Path, sender_id: str | None = None) -> int:
    with sqlite3.connect(db_path) as conn:
        if sender_id is None:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]
        return conn.execute("SELECT count(*) FROM events WHERE sender_id = ?", [sender_id]).fetchone()[0]


def test_file_is_private_and_every_connection_uses_wal(store, db_path):
    assert store.path == db_path
    assert stat.S_IMODE(os.stat(db_path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000  # set by our connect hook
    with store.session_scope() as session:  # the path Rasa's own queries take
        assert session.execute("PRAGMA busy_timeout").scalar() == 10000


def test_a_new_store_on_the_same_file_resumes_the_conversation(store, db_path):
    tracker = DialogueStateTracker("patient-1", domain().slots)
    turn(tracker, "58", "prescreening_form", age=58)
    asyncio.run(store.save(tracker))
    again = SQLiteTrackerStore(domain=domain(), db=str(db_path))
    resumed = asyncio.run(again.retrieve("patient-1"))
    assert resumed.get_slot("age") == 58
    assert len(resumed.events) == len(tracker.events)
    again.engine.dispose()


def test_delete_my_data_deletes_every_event_of_that_conversation_only(store, db_path):
    mine = DialogueStateTracker("me", domain().slots)
    other = DialogueStateTracker("other", domain().slots)
    for t in (mine, other):
        turn(t, "58", "prescreening_form", age=58)
        asyncio.run(store.save(t))
    turn(mine, "delete my data", FORGET_ACTION)
    mine.update(SessionStarted())
    asyncio.run(store.save(mine))
    assert stored_events(db_path, "me") == 0
    assert asyncio.run(store.retrieve("me")) is None  # the next message starts afresh
    assert asyncio.run(store.retrieve("other")).get_slot("age") == 58


def test_an_earlier_deletion_turn_does_not_delete_later_turns(store, db_path):
    tracker = DialogueStateTracker("me", domain().slots)
    turn(tracker, "delete my data", FORGET_ACTION)
    asyncio.run(store.save(tracker))
    turn(tracker, "hello", "utter_greet")
    asyncio.run(store.save(tracker))
    assert stored_events(db_path, "me") > 0


def test_purge_drops_whole_conversations_whose_last_event_is_old(store, db_path):
    now = time.time()
    day = 86400
    stale = DialogueStateTracker("stale", domain().slots)
    turn(stale, "hi", "utter_greet", timestamp=now - 40 * day)
    turn(stale, "58", "prescreening_form", timestamp=now - 31 * day, age=58)
    alive = DialogueStateTracker("alive", domain().slots)
    turn(alive, "hi", "utter_greet", timestamp=now - 40 * day)
    turn(alive, "58", "prescreening_form", timestamp=now - 1 * day, age=58)
    for t in (stale, alive):
        asyncio.run(store.save(t))
    assert store.purge(30, now=now) == 1
    assert stored_events(db_path, "stale") == 0
    assert stored_events(db_path, "alive") == len(alive.events)  # old events of a live chat stay
    assert purge_configured(0) == 1  # the CLI's path: the store endpoints.yml configures
    assert stored_events(db_path) == 0
    with pytest.raises(ValueError):
        store.purge(-1)


# --- the real stack ---------------------------------------------------------------------


class RestartableStack:
    """The real stack (tests/stack.py) that can be stopped and started again on the same
    conversation and record files: new processes and ports, the same stored conversations."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.conversations = tmp / "var" / "conversations.db"
        self.records = tmp / "var" / "records.db"
        self.running: Stack | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.running = start_stack(
            self.tmp / f"run-{self.starts}.log",
            unset=("TRIALBOT_RECORDS_SECRET",),
            TRIALBOT_CONVERSATIONS_DB=str(self.conversations),
            TRIALBOT_RECORDS_DB=str(self.records),
        )

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None

    def say(self, sender: str, message: str) -> str:
        assert self.running is not None
        return "\n".join(m.get("text", "") for m in self.running.say(sender, message))

    def slots(self, sender: str) -> dict:
        assert self.running is not None
        return self.running.slots(sender)


@pytest.fixture
def stack(tmp_path):
    if not MODEL.exists():
        pytest.skip("no trained model: run `make train` (make test does)")
    s = RestartableStack(tmp_path)
    yield s
    s.stop()


@pytest.mark.slow
def test_a_restarted_server_resumes_a_half_finished_screening(stack):
    stack.start()
    stack.say("resume-1", "hello")
    assert "How old are you?" in stack.say("resume-1", "/affirm")
    stack.say("resume-1", "I am 58 years old")
    stack.say("resume-1", "voice box")
    answered = {k: stack.slots("resume-1")[k] for k in ("consent", "age", "tumor_site")}
    assert answered["tumor_site"] == "larynx" and str(answered["age"]).startswith("58")
    stack.stop()
    assert stored_events(stack.conversations, "resume-1") > 0

    stack.start()  # new processes, new ports, same conversation file
    assert {k: stack.slots("resume-1")[k] for k in answered} == answered
    stack.say("resume-1", "stage 3")
    after = stack.slots("resume-1")
    assert after["stage"] == ["III"]  # the form carried on with the next question
    assert {k: after[k] for k in answered} == answered  # and kept the earlier answers


def _finish_screening(stack: RestartableStack, sender: str) -> str:
    """Answer until the result arrives; returns the reference the bot gave."""
    stack.say(sender, "hello")
    stack.say(sender, "/affirm")
    stack.say(sender, "I am 58 years old")
    reply = stack.say(sender, "voice box")
    for _ in range(15):
        if "reference" in reply.lower():
            break
        reply = stack.say(sender, "I don't know")
    else:
        pytest.fail("the screening did not finish with a reference:\n" + reply)
    return reply.split("reference is ")[1].split(".")[0].strip()


@pytest.mark.slow
def test_delete_my_data_removes_the_stored_conversation_and_the_record(stack):
    stack.start()
    keep_ref = _finish_screening(stack, "someone-else")
    ref = _finish_screening(stack, "forget-me")
    assert records.get(ref, path=stack.records)["profile"]["tumor_site"] == "larynx"
    assert stored_events(stack.conversations, "forget-me") > 0

    reply = stack.say("forget-me", "delete my data")
    assert "deleted this conversation and its pre-screening record" in reply
    assert stored_events(stack.conversations, "forget-me") == 0
    assert records.get(ref, path=stack.records) is None
    assert records.get(keep_ref, path=stack.records) is not None
    assert stored_events(stack.conversations, "someone-else") > 0

    # The next message is a new conversation: no answers, consent asked again.
    stack.say("forget-me", "hello")
    slots = stack.slots("forget-me")
    assert slots["age"] is None and slots["tumor_site"] is None and slots["consent"] is None


# --- trackers held between turns ---------------------------------------------------------------


def a_saved_turn(store: SQLiteTrackerStore, sender: str) -> DialogueStateTracker:
    """A conversation stored, loaded and given one more turn, as Rasa does a turn."""
    first = DialogueStateTracker(sender, domain().slots)
    turn(first, "58", "prescreening_form", age=58)
    asyncio.run(store.save(first))
    tracker = asyncio.run(store.retrieve(sender))
    turn(tracker, "tongue", "prescreening_form", tumor_site="oral_tongue")
    asyncio.run(store.save(tracker))
    return tracker


def test_the_next_turn_takes_the_saved_tracker_as_a_fresh_load_would_build_it(store):
    saved = a_saved_turn(store, "held")
    taken = asyncio.run(store.retrieve("held"))
    assert taken is saved  # not rebuilt from its events
    fresh = asyncio.run(store._retrieve("held", fetch_events_from_all_sessions=False))
    assert taken.current_state() == fresh.current_state()
    assert list(taken.events) == list(fresh.events)
    assert asyncio.run(store.retrieve("held")) is not saved  # handed out once: the next load is fresh


def test_a_turn_saved_by_another_worker_is_read_from_the_store(store, db_path):
    a_saved_turn(store, "shared")
    other_worker = SQLiteTrackerStore(domain=domain(), db=str(db_path))
    theirs = asyncio.run(other_worker.retrieve("shared"))
    turn(theirs, "ECOG 1", "prescreening_form", ecog=1)
    asyncio.run(other_worker.save(theirs))
    ours = asyncio.run(store.retrieve("shared"))
    assert ours.get_slot("ecog") == 1 and len(ours.events) == len(theirs.events)
    other_worker.engine.dispose()


def test_a_turn_that_failed_before_saving_leaves_nothing_behind(store, db_path):
    a_saved_turn(store, "failed")
    taken = asyncio.run(store.retrieve("failed"))
    turn(taken, "I'm 61", "prescreening_form", age=61)  # then the turn fails: never saved
    again = asyncio.run(store.retrieve("failed"))
    assert again is not taken and again.get_slot("age") == 58
    assert len(again.events) == stored_events(db_path, "failed")


def test_a_deleted_conversation_is_not_held(store, db_path):
    saved = a_saved_turn(store, "gone")
    turn(saved, "delete my data", FORGET_ACTION)
    asyncio.run(store.save(saved))
    assert asyncio.run(store.retrieve("gone")) is None
