"""Play one generated screening against a bot, recording every turn.

A client is anything with ``say(sender, message, metadata) -> replies``,
``slots(sender) -> dict``, ``tracker(sender) -> {"slots", "events"}`` and
``records(sender) -> [references]``: the real stack over REST (``StackClient``, from
tests/stack.py's running ``Stack``), any running REST endpoint (``RestClient``), or the
in-process reference bot of the unit tests (fakebot.py).

Calls per screening: one REST message per turn; the question each reply asks is read
from its words (questions.py), so the tracker is asked for ``requested_slot`` (without
events) only when a reply holds neither a question it recognises nor a result; at the
end, one tracker call with the events (what the invariants count) and one query of the
records database.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import questions as asking
from .bank import Bank
from .profiles import Plan
from .user import Message, Observation, SimulatedUser

# Hard stop well past the 25-turn limit the checks assert, so a looping bot costs little.
MAX_TURNS = 30


class Client(Protocol):
    def say(self, sender: str, message: Message, metadata: dict | None) -> list[dict]: ...

    def slots(self, sender: str) -> dict: ...

    def tracker(self, sender: str) -> dict: ...

    def records(self, sender: str) -> list[str] | None: ...


def record_refs(records_db: Path, sender: str) -> list[str]:
    """References of one conversation's records in a records database (the records store): rows
    whose ``conversation`` is the HMAC of the sender id under the key beside the database."""
    if not records_db.exists():
        return []
    from screenings import store as records

    key = records.conversation_key(sender, path=records_db)
    conn = sqlite3.connect(f"file:{records_db}?mode=ro", uri=True, timeout=10)
    try:
        return [
            row[0]
            for row in conn.execute(f"SELECT ref FROM {records.TABLE} WHERE conversation = ? ORDER BY ref", [key])
        ]
    finally:
        conn.close()


class RestClient:
    """A running Rasa server: the REST channel, the tracker API (slots only) and its records file."""

    def __init__(self, base_url: str, token: str, records_db: Path | None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.records_db = records_db

    def say(self, sender: str, message: Message, metadata: dict | None) -> list[dict]:
        from tests.stack import http

        payload = {"sender": sender, "message": message.text, **({"metadata": metadata} if metadata else {})}
        status, body = http(f"{self.base_url}/webhooks/rest/webhook", payload, timeout=120)
        if status != 200:
            raise RuntimeError(f"REST channel answered {status}: {body[:300]}")
        return json.loads(body or "[]")

    def _tracker(self, sender: str, events: str) -> dict:
        from tests.stack import http

        query = urllib.parse.urlencode({"token": self.token, "include_events": events})
        status, body = http(f"{self.base_url}/conversations/{urllib.parse.quote(sender)}/tracker?{query}", timeout=60)
        if status != 200:
            raise RuntimeError(f"tracker API answered {status}")
        return json.loads(body)

    def slots(self, sender: str) -> dict:
        """The slots only (no events: the cheap call)."""
        return self._tracker(sender, "NONE").get("slots") or {}

    def tracker(self, sender: str) -> dict:
        """Slots and every event of the conversation."""
        return self._tracker(sender, "ALL")

    def records(self, sender: str) -> list[str] | None:
        return record_refs(self.records_db, sender) if self.records_db else None


class StackClient(RestClient):
    """The stack tests/stack.py started (records beside its log, as start_stack sets them)."""

    def __init__(self, stack):
        super().__init__(f"http://127.0.0.1:{stack.rasa_port}", stack.token, stack.log.parent / "records.db")


@dataclass
class Turn:
    number: int
    sent: Message
    replies: list[dict]
    requested: str | None  # the question the reply asks, as the user read it
    asks: int  # turns in a row the bot has asked ``requested`` (1 = first time)
    seconds: float
    read: asking.Asked | None = None  # the question recognised in the reply's words (and its variant)
    events: asking.TurnEvents | None = None  # what the bot's events say it did (filled at the end)
    meant: dict | None = None  # with a result: what the user meant at that moment (profile fields)

    @property
    def asked(self) -> str | None:
        """The question this turn asked: from the bot's events when known, else as read."""
        if self.events is not None:
            return self.events.questions[-1] if self.events.questions else None
        return self.requested

    @property
    def texts(self) -> list[str]:
        return [r["text"] for r in self.replies if r.get("text")]

    @property
    def buttons(self) -> list[dict]:
        return [b for r in self.replies for b in r.get("buttons") or []]

    @property
    def result(self) -> dict | None:
        return next(
            (
                r["custom"]
                for r in self.replies
                if isinstance(r.get("custom"), dict) and r["custom"].get("type") == "trial_matches"
            ),
            None,
        )


@dataclass
class Transcript:
    plan: Plan
    sender: str
    language: str
    turns: list[Turn] = field(default_factory=list)
    intended: dict[str, Any] = field(default_factory=dict)
    meant: dict[str, Any] = field(default_factory=dict)  # intended, with what the bot derives by rule
    skipped: list[str] = field(default_factory=list)
    unbanked: list[str] = field(default_factory=list)
    gave_up: bool = False
    records: list[str] | None = None  # references of this conversation's records (None: not known)
    final_slots: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    tracker_calls: int = 0  # requested_slot read from the tracker because no question was recognised
    events_read: bool = False  # the bot's events were read and line up with the turns

    @property
    def results(self) -> list[tuple[int, dict]]:
        return [(t.number, t.result) for t in self.turns if t.result is not None]

    @property
    def result(self) -> dict | None:
        found = self.results
        return found[-1][1] if found else None


def sender_id(plan: Plan, run: str) -> str:
    return f"sim-{run}-{plan.seed}-{plan.index:05d}"


def play(client: Client, plan: Plan, bank: Bank, run: str = "0", max_turns: int = MAX_TURNS) -> Transcript:
    """Play ``plan`` to its end (the user has nothing more to say) or ``max_turns``."""
    user = SimulatedUser(plan, bank)
    sender = sender_id(plan, run)
    metadata = {"role": "nurse"} if plan.persona.voice == "nurse" else None
    transcript = Transcript(plan, sender, bank.language)
    started = time.monotonic()
    seen = Observation()
    previous: str | None = None
    asks = 0
    pending = user.opening()
    reader = asking.reader()
    try:
        while len(transcript.turns) < max_turns:
            message = pending.pop(0) if pending else user.next(seen)
            if message is None:
                break
            t0 = time.monotonic()
            replies = client.say(sender, message, metadata)
            elapsed = time.monotonic() - t0
            texts = [r["text"] for r in replies if r.get("text")]
            read = reader.read(texts)
            turn = Turn(len(transcript.turns) + 1, message, replies, None, 0, elapsed, read)
            if read is not None:
                requested = read.slot
            elif turn.result is not None:
                requested = None
            else:  # nothing recognisable: what is the bot waiting for?
                requested = client.slots(sender).get("requested_slot")
                transcript.tracker_calls += 1
            asks = asks + 1 if requested is not None and requested == previous else (1 if requested else 0)
            previous = requested
            turn.requested, turn.asks = requested, asks
            if turn.result is not None:
                turn.meant = user.meant()
            transcript.turns.append(turn)
            seen = Observation(
                requested, asks, turn.buttons, seen.result_seen or turn.result is not None, turn.result is not None
            )
        tracker = client.tracker(sender)
        transcript.final_slots = tracker.get("slots") or {}
        _attach_events(transcript, tracker.get("events") or [])
        transcript.records = client.records(sender)
    except Exception as e:  # a broken connection is a finding, not a crash of the whole run
        transcript.error = f"{type(e).__name__}: {e}"
    summary = user.summary()
    transcript.intended = summary["intended"]
    transcript.meant = user.meant()
    transcript.skipped = summary["skipped"]
    transcript.unbanked = summary["unbanked"]
    transcript.gave_up = summary["gave_up"]
    transcript.seconds = time.monotonic() - started
    return transcript


def _attach_events(transcript: Transcript, events: list[dict]) -> None:
    """Give each turn the bot events that followed its message (one user event per message sent)."""
    _, per_message = asking.per_user_message(events)
    if len(per_message) != len(transcript.turns):
        raise RuntimeError(
            f"the tracker holds {len(per_message)} user messages, the simulator sent {len(transcript.turns)}"
        )
    for turn, turn_events in zip(transcript.turns, per_message):
        turn.events = turn_events
    transcript.events_read = True
