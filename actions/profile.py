"""The bridge between conversation slots and the engine's patient profile.

Slots hold canonical values (already normalised by the form), so turning them
into a profile is a plain copy; this module only says which slots exist and in
which order they are asked.
"""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from knowledge import vocab

# The questions every screening asks, in order (domain.yml forms.prescreening_form).
CORE = ("age", "tumor_site", "stage", "ecog", "prior_treatment")
# Questions asked only when knowledge.engine.next_question says they can change a verdict.
FOLLOW_UPS = (
    "p16", "differentiation", "histology", "immunotherapy_response", "immunotherapy_cycles",
    "pathologic_response", "recurrent", "resectable", "other_cancer_5y", "pregnant",
)
PROFILE_SLOTS = CORE + FOLLOW_UPS
FORM_SLOTS = ("consent", *PROFILE_SLOTS, "location")
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


def site_label(code: str) -> str:
    return vocab.site(code)["label"] if code in vocab.sites() else code
