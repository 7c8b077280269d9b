"""An in-process reference bot that keeps the dialogue contract, for the simulator's own tests.

It understands perfectly: it reads what each simulated message *means* (its ``claims``),
never the words, except that it refuses a message with a typo in a clinical term or a
phrasing tagged as a known normaliser gap ("Sorry, I didn't get that"), so the re-ask
and skip paths are exercised. It chooses questions like the real form (the five core
questions in order, then ``engine.next_question`` among the decisive trials, then the
city when two trials may fit; it stops when no decisive trial can fit), offers Skip on
the third ask, answers off-topic messages and re-asks, and keeps one record per
conversation, updated by a late answer. ``bugs`` switches on known-bad behaviours so the
tests can show each invariant catches them.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from knowledge import engine

from .profiles import CORE
from .user import Message, profile_fields

FOLLOW_UPS = ("p16", "differentiation", "histology", "immunotherapy_response", "immunotherapy_cycles",
              "pathologic_response", "recurrent", "resectable", "other_cancer_5y", "pregnant")
SCOPE = "head_and_neck"
BUGS = {"reask_forever",  # never takes an answer to the ECOG question (and offers no Skip)
        "record_per_result",  # saves a new record each time it shows a result
        "statements",  # asks "Tell me about the stage." (no question mark, no buttons)
        "ignores_corrections"}  # a correction changes nothing


@dataclass
class _Conversation:
    slots: dict[str, Any] = field(default_factory=dict)
    requested: str | None = None
    asks: int = 0
    done: bool = False
    answered: list[str] = field(default_factory=list)
    records: int = 0


class ReferenceBot:
    def __init__(self, bugs: set[str] | frozenset[str] = frozenset()):
        unknown = set(bugs) - BUGS
        if unknown:
            raise ValueError(f"unknown bugs: {unknown}")
        self.bugs = set(bugs)
        self.conversations: dict[str, _Conversation] = {}
        self.decisive = engine.decisive()

    # --- the client interface (tests/simulator/player.py) -----------------------------------

    def slots(self, sender: str) -> dict:
        c = self.conversations.get(sender) or _Conversation()
        return {**c.slots, "requested_slot": c.requested}

    def records(self, sender: str) -> int:
        c = self.conversations.get(sender)
        return c.records if c else 0

    def say(self, sender: str, message: Message, metadata: dict | None) -> list[dict]:
        c = self.conversations.setdefault(sender, _Conversation())
        out: list[dict] = []
        asking = c.requested
        if c.slots.get("consent") is not True:
            if asking == "consent" and message.claims.get("consent") is True:
                c.slots["consent"] = True
                return self._next(c, out)
            out.append({"text": "Hello, I pre-screen for head and neck cancer trials."})
            return self._ask(c, "consent", out)
        if message.kind in ("offtopic", "remark", "nudge"):
            out.append({"text": "I can only help with the screening."})
            return self._ask(c, asking, out) if asking else out
        if message.payload and message.text == "/skip" and asking:
            c.slots[asking] = "unknown"
            self._answered(c, asking)
            out.append({"text": "OK, I've marked that as unknown."})
            return self._next(c, out)
        understood = not message.gaps and not (message.phrase and message.phrase.typo == "term")
        if "reask_forever" in self.bugs and asking == "ecog":
            understood = False
        if message.kind == "correction" and "ignores_corrections" in self.bugs:
            understood = False
        if not understood:
            out.append({"text": "Sorry, I didn't get that."})
            return self._ask(c, asking, out) if asking else out
        for name, value in message.claims.items():
            if name in profile_fields() or name == "location":
                c.slots[name] = value if value is not None else "unknown"
                self._answered(c, name)
        if asking and asking not in message.claims and asking not in profile_fields() and asking != "location":
            c.slots[asking] = "unknown"
        return self._next(c, out)

    # --- the dialogue -------------------------------------------------------------------------

    def _answered(self, c: _Conversation, name: str) -> None:
        if name in c.answered:
            c.answered.remove(name)
        c.answered.append(name)

    def _profile(self, c: _Conversation) -> dict:
        return {k: v for k, v in c.slots.items() if k in profile_fields() and v is not None}

    def _next(self, c: _Conversation, out: list[dict]) -> list[dict]:
        question = self._question(c)
        if question is None:
            return self._result(c, out)
        return self._ask(c, question, out)

    def _question(self, c: _Conversation) -> str | None:
        profile = self._profile(c)
        verdicts = engine.verdicts(profile, scope=SCOPE)
        possible = [n for n, v in verdicts.items() if v != "ineligible"]
        if not set(possible) & self.decisive and any(c.slots.get(s) is not None for s in CORE):
            return None
        for slot in CORE:
            if c.slots.get(slot) is None:
                return slot
        answered = [f for f in FOLLOW_UPS if c.slots.get(f) is not None]
        q = engine.next_question(profile, scope=SCOPE, askable=FOLLOW_UPS, asked=answered, among=self.decisive)
        if q is not None:
            return q.field
        if c.slots.get("location") is None and len(possible) >= 2:
            return "location"
        return None

    def _ask(self, c: _Conversation, slot: str, out: list[dict]) -> list[dict]:
        c.asks = c.asks + 1 if slot == c.requested else 1
        c.requested = slot
        message: dict = {"text": f"Tell me about the {slot.replace('_', ' ')}." if "statements" in self.bugs and slot != "consent"
                         else f"What about {slot.replace('_', ' ')}?"}
        buttons = []
        if slot == "consent":
            buttons = [{"title": "I agree", "payload": "/affirm"}, {"title": "No thanks", "payload": "/deny"}]
        elif slot == "ecog":
            buttons = [{"title": f"ECOG {g}", "payload": f'/inform{{"ecog": "{g}"}}'} for g in range(5)]
        if c.asks >= 3 and slot != "consent" and "reask_forever" not in self.bugs:
            buttons.append({"title": "Skip this question", "payload": "/skip"})
        if buttons:
            message["buttons"] = buttons
        out.append(message)
        return out

    def _result(self, c: _Conversation, out: list[dict]) -> list[dict]:
        profile = self._profile(c)
        matches = engine.match(profile, scope=SCOPE)
        c.requested, c.asks, c.done = None, 0, True
        if c.records == 0 or "record_per_result" in self.bugs:
            c.records += 1
        out.append({"text": "Here is what I found."})
        out.append({"custom": {"type": "trial_matches", "profile": profile,
                               "matches": [{"nct_id": m.nct_id, "verdict": m.verdict, "partial_criteria": m.partial}
                                           for m in matches]}})
        return out


def count_bugs(outcomes) -> Counter:
    return Counter(f.code for o in outcomes for f in o.failures)
