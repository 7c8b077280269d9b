"""Play one generated screening against a bot, recording every turn.

A client is anything with ``say(sender, message, metadata) -> replies``,
``slots(sender) -> dict`` and ``records(sender) -> int``: the real stack over REST
(``StackClient``, from tests/stack.py's running ``Stack``), any running REST endpoint
(``RestClient``), or the in-process reference bot of the unit tests (fakebot.py).
"""
from __future__ import annotations

import json
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .bank import Bank
from .profiles import Plan
from .user import Message, Observation, SimulatedUser

# Hard stop well past the 25-turn limit the checks assert, so a looping bot costs little.
MAX_TURNS = 30


class Client(Protocol):
    def say(self, sender: str, message: Message, metadata: dict | None) -> list[dict]: ...

    def slots(self, sender: str) -> dict: ...

    def records(self, sender: str) -> int: ...


def count_records(records_db: Path, sender: str) -> int:
    """Records of one conversation in a records database (bot/records.py): rows whose
    ``conversation`` is the HMAC of the sender id under the key beside the database."""
    if not records_db.exists():
        return 0
    from bot import records

    key = records.conversation_key(sender, path=records_db)
    conn = sqlite3.connect(f"file:{records_db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(f"SELECT count(*) FROM {records.TABLE} WHERE conversation = ?", [key]).fetchone()[0]
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

    def slots(self, sender: str) -> dict:
        from tests.stack import http

        query = urllib.parse.urlencode({"token": self.token, "include_events": "NONE"})
        status, body = http(f"{self.base_url}/conversations/{urllib.parse.quote(sender)}/tracker?{query}", timeout=60)
        if status != 200:
            raise RuntimeError(f"tracker API answered {status}")
        return json.loads(body).get("slots") or {}

    def records(self, sender: str) -> int:
        return count_records(self.records_db, sender) if self.records_db else -1


class StackClient(RestClient):
    """The stack tests/stack.py started (records beside its log, as start_stack sets them)."""

    def __init__(self, stack):
        super().__init__(f"http://127.0.0.1:{stack.rasa_port}", stack.token, stack.log.parent / "records.db")


@dataclass
class Turn:
    number: int
    sent: Message
    replies: list[dict]
    requested: str | None  # requested_slot after the bot's reply
    asks: int  # turns in a row the bot has asked ``requested`` (1 = first time)
    seconds: float

    @property
    def texts(self) -> list[str]:
        return [r["text"] for r in self.replies if r.get("text")]

    @property
    def buttons(self) -> list[dict]:
        return [b for r in self.replies for b in r.get("buttons") or []]

    @property
    def result(self) -> dict | None:
        return next((r["custom"] for r in self.replies if isinstance(r.get("custom"), dict)
                     and r["custom"].get("type") == "trial_matches"), None)


@dataclass
class Transcript:
    plan: Plan
    sender: str
    language: str
    turns: list[Turn] = field(default_factory=list)
    intended: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    unbanked: list[str] = field(default_factory=list)
    gave_up: bool = False
    records: int = -1
    final_slots: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

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
    try:
        while len(transcript.turns) < max_turns:
            message = pending.pop(0) if pending else user.next(seen)
            if message is None:
                break
            t0 = time.monotonic()
            replies = client.say(sender, message, metadata)
            requested = client.slots(sender).get("requested_slot")
            asks = asks + 1 if requested is not None and requested == previous else (1 if requested else 0)
            previous = requested
            turn = Turn(len(transcript.turns) + 1, message, replies, requested, asks, time.monotonic() - t0)
            transcript.turns.append(turn)
            seen = Observation(requested, asks, turn.buttons, seen.result_seen or turn.result is not None,
                               turn.result is not None)
        transcript.final_slots = client.slots(sender)
        transcript.records = client.records(sender)
    except Exception as e:  # a broken connection is a finding, not a crash of the whole run
        transcript.error = f"{type(e).__name__}: {e}"
    summary = user.summary()
    transcript.intended = summary["intended"]
    transcript.skipped = summary["skipped"]
    transcript.unbanked = summary["unbanked"]
    transcript.gave_up = summary["gave_up"]
    transcript.seconds = time.monotonic() - started
    return transcript
