"""Which question a reply asks, read from its words, and which questions the bot's events say it asked.

Two readings of the same fact, for two purposes:

- ``QuestionReader`` recognises a question in the texts a person sees: every
  ``utter_question_<slot>`` of domain.yml, each variant (nurse, carer, patient)
  turned into a pattern (``{pronoun}`` and the other fillings match any words).
  The simulated user reads the reply like a person would, without asking the
  tracker what the bot is asking (one tracker call less per turn). The variant
  says who was addressed: a relative asked "How old are you?" got the patient's
  variant where a carer variant exists.
- ``asked_per_turn`` reads the bot events of the whole conversation (one tracker
  call at the end of a screening): the ``utter_question_<slot>`` names in the bot
  events' ``utter_action`` metadata, per user message, and the slots each turn
  set. The invariants count questions from these events, never from the words.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.files import load_yaml

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "domain.yml"
PREFIX = "utter_question_"
_FILLING = re.compile(r"\{(\w+)\}")
MIN_LITERAL = 6  # a paragraph made almost only of fillings would match anything ("{x}?")


def slot_of(action: str) -> str | None:
    """``utter_question_tumor_site_choice`` -> ``tumor_site``; None for any other response."""
    if not action.startswith(PREFIX):
        return None
    return action[len(PREFIX) :].removesuffix("_choice")


def _variant_kind(variant: dict) -> str:
    names = {c.get("name"): c.get("value") for c in variant.get("condition") or []}
    if names.get("role") == "nurse":
        return "nurse"
    if names.get("carer") is True:
        return "carer"
    return "patient" if not names else "other"


def _literal(paragraph: str) -> int:
    """How many characters of a paragraph are its own words (not fillings)."""
    return sum(len(p.strip()) for p in _FILLING.split(paragraph)[0::2])


def _pattern(paragraph: str) -> re.Pattern | None:
    parts = _FILLING.split(paragraph)
    if len(parts) > 1 and _literal(paragraph) < MIN_LITERAL:
        return None
    rx = "".join(re.escape(p) if i % 2 == 0 else r".+?" for i, p in enumerate(parts))
    rx = re.sub(r"(\\ )+", r"\\s+", rx)
    return re.compile(rf"\s*{rx}\s*", re.S)


@dataclass(frozen=True)
class Asked:
    slot: str
    variant: str  # nurse | carer | patient | other
    kinds: frozenset = frozenset()  # every variant kind this slot's question has


class QuestionReader:
    """The questions of a domain, recognisable in reply texts."""

    def __init__(self, domain: Path = DOMAIN):
        responses = (load_yaml(domain) or {}).get("responses") or {}
        owners: dict[str, set] = {}
        found: list[tuple[str, str, str]] = []  # (paragraph, slot, variant kind)
        self.kinds: dict[str, set] = {}
        for name, variants in responses.items():
            slot = slot_of(name)
            if slot is None:
                continue
            for variant in variants or []:
                kind = _variant_kind(variant)
                self.kinds.setdefault(slot, set()).add(kind)
                for paragraph in str(variant.get("text") or "").strip().split("\n\n"):
                    paragraph = " ".join(paragraph.split())
                    if paragraph:
                        found.append((paragraph, slot, kind))
                        owners.setdefault(paragraph, set()).add(slot)
        # A paragraph two questions share tells nothing about which one was asked. The more
        # of its own words a pattern has, the more specific: the patient's "the cancer" also
        # fits the carer's "{possessive} cancer", and the exact words win.
        kept = [(paragraph, slot, kind) for paragraph, slot, kind in found if len(owners[paragraph]) == 1]
        kept.sort(key=lambda f: (-_literal(f[0]), len(_FILLING.findall(f[0]))))
        self.patterns = [(p, slot, kind) for paragraph, slot, kind in kept if (p := _pattern(paragraph)) is not None]

    def read(self, texts: list[str]) -> Asked | None:
        """The last question asked among these reply texts (a turn asks at most one)."""
        asked = None
        for text in texts:
            for paragraph in str(text).strip().split("\n\n"):
                paragraph = " ".join(paragraph.split())
                for pattern, slot, kind in self.patterns:
                    if pattern.fullmatch(paragraph):
                        asked = Asked(slot, kind, frozenset(self.kinds.get(slot, ())))
                        break
        return asked


@functools.lru_cache(maxsize=None)
def reader(domain: Path = DOMAIN) -> QuestionReader:
    return QuestionReader(domain)


# --- the bot's own record: tracker events ----------------------------------------------------


@dataclass
class TurnEvents:
    """What the bot did after one user message, from the tracker's events."""

    questions: list[str] = field(default_factory=list)  # slots of utter_question_* said, in order
    actions: list[str] = field(default_factory=list)  # every utter_action said
    slots: dict[str, Any] = field(default_factory=dict)  # slots set (last value wins)
    texts: list[str] = field(default_factory=list)


def per_user_message(events: list[dict]) -> tuple[list[TurnEvents], list[TurnEvents]]:
    """The events split at each user message: (before the first message, one per message).

    The first list holds at most one element (what came before any user message)."""
    before: list[TurnEvents] = [TurnEvents()]
    turns: list[TurnEvents] = []
    current = before[0]
    for event in events or []:
        kind = event.get("event")
        if kind == "user":
            current = TurnEvents()
            turns.append(current)
        elif kind == "bot":
            action = (event.get("metadata") or {}).get("utter_action") or ""
            if action:
                current.actions.append(action)
                slot = slot_of(action)
                if slot is not None:
                    current.questions.append(slot)
            if event.get("text"):
                current.texts.append(event["text"])
        elif kind == "slot":
            current.slots[event.get("name")] = event.get("value")
    return before, turns
