"""The bridge between conversation slots and the engine's patient profile.

Slots hold canonical values (already normalised by the form), so turning them
into a profile is a plain copy; this module only says which slots exist, in
which order they are asked, and how a value reads back to a person.
"""

from __future__ import annotations

import functools
from typing import Any

from rasa_sdk import Tracker

from knowledge import geo, vocab

from . import messages

# The questions every screening asks, in order (domain.yml forms.prescreening_form).
CORE = ("age", "tumor_site", "stage", "ecog", "prior_treatment")
# Questions asked only when knowledge.engine.next_question says they can change a verdict.
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
# Profile fields the form sets from other answers, never asks: who judged the ECOG grade
# (a patient's own lay answer is reviewed by the study team, issue 10 case 13) and the
# AJCC 7 reading of the stage (for criteria that name no staging edition).
DERIVED = ("ecog_source", "stage_ajcc7")
PROFILE_SLOTS = CORE + FOLLOW_UPS + DERIVED
FORM_SLOTS = ("consent", *CORE, *FOLLOW_UPS, "location")
# Slots that say who is screening and about whom; kept across a restart only for the role.
SPEAKER_SLOTS = ("carer", "subject", "pronoun", "possessive", "object_pronoun")
SCOPE = "head_and_neck"
UNKNOWN = "unknown"


def profile_from_slots(slots: dict[str, Any]) -> dict[str, Any]:
    """The engine profile for the answers given so far (unanswered = unknown)."""
    profile = {}
    for name in PROFILE_SLOTS:
        value = slots.get(name)
        if value is not None:
            profile[name] = value
    return profile


def profile_from_tracker(tracker: Tracker) -> dict[str, Any]:
    return profile_from_slots(tracker.current_slot_values())


def is_nurse(tracker: Tracker) -> bool:
    return tracker.get_slot("role") == "nurse"


def site_label(code: str, language: str | None = "en") -> str:
    return vocab.text(vocab.site(code), "label", language) if code in vocab.sites() else code


def field_label(slot: str, language: str | None = "en") -> str:
    """How a person names a question's subject ("age", "tumour site"), from fields.yaml."""
    if slot == "location":
        return messages.text("location_field", language)
    if slot == "consent":
        return messages.text("consent_field", language)
    entry = vocab.load("fields")["fields"].get(slot)
    return vocab.text(entry, "label", language) if entry else slot.replace("_", " ")


# Where the vocabulary labels each kind of coded answer: (file, list) in knowledge/vocabulary.
_LABELS = {
    "histology": ("histology", "histology"),
    "differentiation": ("histology", "differentiation"),
    "immunotherapy_response": ("treatments", "responses"),
    "pathologic_response": ("treatments", "pathologic_responses"),
}


def _coded_label(slot: str, code: Any, language: str | None = "en") -> str | None:
    where = _LABELS.get(slot)
    if where is None:
        return None
    entries = vocab.load(where[0]).get(where[1]) or []
    return next((vocab.text(e, "label", language) for e in entries if e.get("code") == code), None)


def value_label(slot: str, value: Any, language: str | None = "en") -> str:
    """A canonical slot value as a person reads it back ("larynx", "III or IVA", "ECOG 1"),
    in ``language`` ("喉（声带、声门）", "III或IVA期", "ECOG 1分")."""
    say = functools.partial(messages.text, language=language)
    either = say("or")
    if value == UNKNOWN:
        return say("unknown")
    if slot == "tumor_site":
        return site_label(str(value), language)
    if slot in _LABELS:
        codes = value if isinstance(value, list) else [value]
        return either.join(_coded_label(slot, c, language) or str(c) for c in codes)
    if slot == "p16":
        return say("p16", value=say(value) if value in ("positive", "negative") else value)
    if slot in ("recurrent", "resectable", "other_cancer_5y", "pregnant"):
        return say(
            "field_value", field=field_label(slot, language), value=say(value) if value in ("yes", "no") else value
        )
    if slot == "stage" and isinstance(value, list):
        return say("stage", groups=either.join(value))
    if slot == "ecog":
        return say("ecog_range", low=value[0], high=value[1]) if isinstance(value, list) else say("ecog", grade=value)
    if slot == "prior_treatment":
        if isinstance(value, list):
            labels = {t["code"]: vocab.text(t, "label", language) for t in vocab.load("treatments")["treatments"]}
            return say("list_joiner").join(labels.get(v, v) for v in value) or say("none_yet")
    if slot == "immunotherapy_cycles":
        return say("cycles_range", low=value[0], high=value[1]) if isinstance(value, list) else say("cycles", n=value)
    if slot == "location":
        return geo.label(str(value), language)
    if slot == "age":
        return say("age", n=value)
    if isinstance(value, bool):
        return say("yes" if value else "no")
    if isinstance(value, list):
        return say("list_joiner").join(str(v) for v in value)
    return str(value)


def canonical(slot: str, value: Any) -> bool:
    """True when ``value`` is something the form's validation can put in ``slot``.

    Tests of hostile input use it: whatever was typed, a slot holds nothing else.
    """
    if value == UNKNOWN:
        return True
    if slot in ("stage", "prior_treatment", "stage_ajcc7", "histology") and isinstance(value, list):
        codes = vocab.field(slot if slot != "stage_ajcc7" else "stage").values
        return all(v in codes for v in value)
    if slot in ("age", "immunotherapy_cycles"):
        if isinstance(value, list):
            return len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        return isinstance(value, int) and not isinstance(value, bool)
    if slot == "ecog":
        return (isinstance(value, int) and 0 <= value <= 4) or (
            isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
        )
    if slot == "consent":
        return isinstance(value, bool)
    if slot == "location":
        return isinstance(value, str) and len(value) < 80
    if slot in vocab.fields():
        field = vocab.field(slot)
        return field.type == "category" and value in field.values
    return False
