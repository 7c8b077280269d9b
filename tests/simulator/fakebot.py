"""An in-process reference bot that keeps the dialogue contract, for the simulator's own tests.

It understands perfectly: it reads what each simulated message *means* (its ``claims``),
never the words, except that it refuses a message with a typo in a clinical term or a
phrasing tagged as a known normaliser gap ("Sorry, I didn't get that"), so the re-ask
and skip paths are exercised. It chooses questions like the real form (the five core
questions in order, then ``engine.next_question`` among the decisive trials, then the
city when two trials may fit; it stops when no decisive trial can fit), offers Skip on
the third ask, answers off-topic messages and re-asks, and keeps one record per
conversation, updated by a late answer (same reference). Its questions are the domain's own
``utter_question_<slot>`` words (nurse, carer or patient wording), sent with their name as
``utter_action`` in its events, as the real bot does, and it sets ``ecog_source``,
``stage_ajcc7`` and the sex a relative implies as the form does. ``bugs`` switches on
known-bad behaviours so the tests can show each invariant catches them.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from knowledge import engine, speaker
from tests.files import load_yaml

from .profiles import CORE
from .questions import DOMAIN
from .user import Message, profile_fields

FOLLOW_UPS = (
    "p16",
    "differentiation",
    "histology",
    "immunotherapy_response",
    "immunotherapy_cycles",
    "pathologic_response",
    "recurrent",
    "resectable",
    "other_cancer_5y",
    "sex",
    "pregnant",
)
SCOPE = "head_and_neck"
BUGS = {
    "reask_forever",  # never takes an answer to the ECOG question (and offers no Skip)
    "record_per_result",  # saves a new record each time it shows a result
    "statements",  # asks "Tell me about the stage." (no question mark, no buttons)
    "ignores_corrections",  # a correction changes nothing
    "moves_on_silently",  # never takes an ECOG answer; after the third ask moves on without recording "unknown"
    "second_person",
}  # asks a relative with the patient's wording


@dataclass
class _Conversation:
    slots: dict[str, Any] = field(default_factory=dict)
    requested: str | None = None
    asks: int = 0
    done: bool = False
    answered: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    nurse: bool = False
    subject: str | None = None  # he | she | they: a relative is the patient
    gave_up: set = field(default_factory=set)  # questions asked three times: never asked again


@functools.lru_cache(maxsize=None)
def _questions() -> dict[str, list[dict]]:
    """The utter_question_* responses of domain.yml (read once: every ReferenceBot asks them; read-only)."""
    responses = load_yaml(DOMAIN)["responses"]
    return {name: variants for name, variants in responses.items() if name.startswith("utter_question_")}


class ReferenceBot:
    def __init__(self, bugs: set[str] | frozenset[str] = frozenset()):
        unknown = set(bugs) - BUGS
        if unknown:
            raise ValueError(f"unknown bugs: {unknown}")
        self.bugs = set(bugs)
        self.conversations: dict[str, _Conversation] = {}
        self.decisive = engine.decisive()
        self.questions = _questions()

    # --- the client interface (tests/simulator/player.py) -----------------------------------

    def slots(self, sender: str) -> dict:
        c = self.conversations.get(sender) or _Conversation()
        return {**c.slots, "requested_slot": c.requested}

    def tracker(self, sender: str) -> dict:
        c = self.conversations.get(sender) or _Conversation()
        return {"slots": self.slots(sender), "events": list(c.events)}

    def records(self, sender: str) -> list[str]:
        c = self.conversations.get(sender)
        return list(c.records) if c else []

    def say(self, sender: str, message: Message, metadata: dict | None) -> list[dict]:
        c = self.conversations.setdefault(sender, _Conversation())
        c.nurse = (metadata or {}).get("role") == "nurse"
        c.events.append({"event": "user", "text": message.text})
        before = dict(c.slots)
        out = self._reply(c, message)
        for reply in out:
            c.events.append(
                {"event": "bot", "text": reply.get("text"), "metadata": {"utter_action": reply.pop("_name", None)}}
            )
        for name, value in c.slots.items():
            if before.get(name) != value:
                c.events.append({"event": "slot", "name": name, "value": value})
        return out

    def _reply(self, c: _Conversation, message: Message) -> list[dict]:
        out: list[dict] = []
        asking = c.requested
        subject = message.claims.get("subject")
        if subject and not c.nurse and not message.gaps:  # "my dad ...": asked about "him" from now on
            c.subject = subject
            if c.slots.get("sex") is None:
                c.slots["sex"] = "male" if subject == "he" else "female"
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
        if {"reask_forever", "moves_on_silently"} & self.bugs and asking == "ecog":
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
            if name == "ecog":
                c.slots.pop("ecog_source", None)
                if value not in (None, "unknown"):
                    c.slots["ecog_source"] = "clinician" if c.nurse else "patient"
            if name == "stage":  # the AJCC 7 reading comes with the stage, as the form reads it
                c.slots.pop("stage_ajcc7", None)
                if message.derived.get("stage_ajcc7"):
                    c.slots["stage_ajcc7"] = message.derived["stage_ajcc7"]
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
            if c.slots.get(slot) is None and slot not in c.gave_up:
                return slot
        answered = [f for f in FOLLOW_UPS if c.slots.get(f) is not None or f in c.gave_up]
        q = engine.next_question(profile, scope=SCOPE, askable=FOLLOW_UPS, asked=answered, among=self.decisive)
        if q is not None:
            return q.field
        if c.slots.get("location") is None and "location" not in c.gave_up and len(possible) >= 2:
            return "location"
        return None

    def _wording(self, c: _Conversation, slot: str) -> str:
        """The domain's question, nurse / carer / patient wording, filled as the form fills it."""
        variants = self.questions[f"utter_question_{slot}"]
        kind = "nurse" if c.nurse else "carer" if c.subject and "second_person" not in self.bugs else None
        chosen = (
            next(
                (
                    v
                    for v in variants
                    if any(
                        (kind == "nurse" and cond.get("name") == "role")
                        or (kind == "carer" and cond.get("name") == "carer")
                        for cond in v.get("condition") or []
                    )
                ),
                None,
            )
            if kind
            else None
        )
        chosen = chosen or next(v for v in variants if not v.get("condition"))
        wording = speaker.Subject(c.subject).wording if c.subject else {}
        text = " ".join(str(chosen["text"]).split())
        for name, value in (
            ("pronoun", wording.get("pronoun")),
            ("possessive", wording.get("possessive")),
            ("object_pronoun", wording.get("object")),
        ):
            if value:
                text = text.replace("{" + name + "}", value)
        return text

    def _ask(self, c: _Conversation, slot: str, out: list[dict]) -> list[dict]:
        asks = c.asks + 1 if slot == c.requested else 1
        if asks > 3 and slot != "consent" and "reask_forever" not in self.bugs:
            # Never a fourth time: recorded as unknown, and the screening moves on.
            c.gave_up.add(slot)
            if "moves_on_silently" not in self.bugs:
                c.slots[slot] = "unknown"
                self._answered(c, slot)
            out.append({"text": "I'll mark that as unknown and move on.", "_name": "utter_marked_unknown"})
            c.requested, c.asks = None, 0
            return self._next(c, out)
        c.asks, c.requested = asks, slot
        message: dict = {
            "text": f"Tell me about the {slot.replace('_', ' ')}."
            if "statements" in self.bugs and slot != "consent"
            else self._wording(c, slot),
            "_name": f"utter_question_{slot}",
        }
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
        if not c.records or "record_per_result" in self.bugs:
            c.records.append(f"SIM-{len(c.records) + 1:04d}")
        c.slots["record_ref"] = c.records[-1]
        out.append({"text": "Here is what I found."})
        out.append(
            {
                "custom": {
                    "type": "trial_matches",
                    "profile": profile,
                    "matches": [
                        {"nct_id": m.nct_id, "verdict": m.verdict, "partial_criteria": m.partial} for m in matches
                    ],
                }
            }
        )
        return out


def count_bugs(outcomes) -> Counter:
    return Counter(f.code for o in outcomes for f in o.failures)
