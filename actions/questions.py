"""Asking a question: at most three times in a row, and never the same way twice.

Every question of the screening is asked here, by the form's validation action,
so the guarantee is in one place whatever NLU guessed:

1. the first time: the question (``utter_question_<slot>`` in domain.yml; not
   ``utter_ask_<slot>``, which Rasa's form would say on its own a second time) with its buttons;
2. the second time in a row: what kind of answer it needs (``utter_hint_<slot>``,
   unless the validation already said what was wrong) and the question with its
   buttons plus "Not sure";
3. the third time: the same, plus a "Skip this question" button;
4. a fourth time is never asked: the answer is recorded as unknown (consent as
   declined) and the screening moves on.

The question's words live in domain.yml (patient, carer and nurse variants);
this module only chooses which response and which extra buttons. ``asked`` is
the slot that remembers ``{"slot": ..., "times": n}`` between turns.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from rasa_sdk.executor import CollectingDispatcher

from knowledge import vocab

from . import messages
from .profile import site_label
from .say import say

MAX_ASKS = 3
NOT_SURE = {"title": "Not sure", "payload": "/dont_know"}
SKIP = {"title": "Skip this question", "payload": "/skip"}
# Questions whose response already offers a don't-know (or skip) button.
HAS_NOT_SURE = {
    "stage",
    "prior_treatment",
    "p16",
    "differentiation",
    "histology",
    "immunotherapy_response",
    "immunotherapy_cycles",
    "pathologic_response",
    "recurrent",
    "resectable",
    "other_cancer_5y",
    "pregnant",
    "location",
    "consent",
}


def times_asked(asked: Any, slot: str) -> int:
    """How many times in a row ``slot`` has been asked so far."""
    if isinstance(asked, dict) and asked.get("slot") == slot:
        try:
            return int(asked.get("times") or 0)
        except (TypeError, ValueError):
            return 0
    return 0


def not_sure(language: Optional[str] = "en") -> dict:
    return {"title": messages.text("not_sure", language), "payload": NOT_SURE["payload"]}


def skip(language: Optional[str] = "en") -> dict:
    return {"title": messages.text("skip", language), "payload": SKIP["payload"]}


def ecog_buttons(nurse: bool, carer: bool, language: Optional[str] = "en") -> list[dict]:
    """One button per grade, worded from knowledge/vocabulary/ecog.yaml."""
    key = "carer" if carer else "patient"
    return [
        {
            "title": f"ECOG {g['grade']}" if nurse else vocab.text(g, key if g.get(key) else "patient", language),
            "payload": f'/inform{{"ecog": "{g["grade"]}"}}',
        }
        for g in vocab.load("ecog")["grades"]
    ]


def site_buttons(codes: Optional[list[str]] = None, language: Optional[str] = "en") -> list[dict]:
    codes = codes or vocab.head_and_neck_sites()
    return [{"title": site_label(c, language), "payload": f'/inform{{"tumor_site": "{c}"}}'} for c in codes]


def extra_buttons(slot: str, times: int, nurse: bool, carer: bool, language: Optional[str] = "en") -> list[dict]:
    """Buttons added in code to the response's own: ECOG grades always, then help on a repeat."""
    buttons: list[dict] = []
    if slot == "ecog":
        buttons += ecog_buttons(nurse, carer, language)
        buttons.append(not_sure(language))
    elif slot == "tumor_site" and times >= 2:
        buttons += site_buttons(language=language)
    if times >= 2 and slot not in HAS_NOT_SURE and slot != "ecog":
        buttons.append(not_sure(language))
    if times >= MAX_ASKS and slot != "consent":
        buttons.append(skip(language))
    return buttons


def ask(
    dispatcher: CollectingDispatcher,
    domain: Mapping[str, Any],
    slots: Mapping[str, Any],
    slot: str,
    asked: Any,
    *,
    nurse: bool,
    carer: bool,
    explained: bool,
) -> dict:
    """Ask ``slot`` (the n-th time in a row) and return the new value of the ``asked`` slot.

    ``explained``: this turn already said what was wrong with the answer, so the
    generic hint is not repeated.
    """
    times = times_asked(asked, slot) + 1
    if times >= 2 and not explained:
        say(dispatcher, domain, slots, f"utter_hint_{slot}")
    language = slots.get("language")
    say(dispatcher, domain, slots, f"utter_question_{slot}", buttons=extra_buttons(slot, times, nurse, carer, language))
    return {"slot": slot, "times": times}


def exhausted(asked: Any, slot: Optional[str]) -> bool:
    """True when ``slot`` was asked the most times in a row it may be."""
    return slot is not None and times_asked(asked, slot) >= MAX_ASKS
