"""Names that must agree wherever a profile field is named.

The profile's fields live once, in knowledge/vocabulary/fields.yaml; the dialogue
(domain slots, the form's lists), the command line and the records export each
name them again because they must. These tests tie every one of those places to
fields.yaml, so adding or renaming a field fails here until every reader follows,
and the domain's words about Karnofsky scores cannot drift from ecog.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from actions import profile
from knowledge import vocab
from knowledge.__main__ import FIELD_OF_OPTION, PATIENT_OPTIONS

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
FIELDS = vocab.load("fields")["fields"]
# Fields the engine derives from others (the kind of cancer from the site); never a slot.
ENGINE_DERIVED = {name for name, entry in FIELDS.items() if entry.get("derived")}
# Fields the dialogue sets from another answer, never asked as a question of their own.
NEVER_ASKED = {name for name, entry in FIELDS.items() if entry.get("ask") is False}


def test_every_profile_field_is_a_slot_and_the_dialogue_knows_it():
    for name in set(FIELDS) - ENGINE_DERIVED:
        assert name in DOMAIN["slots"], f"{name}: no slot in domain.yml"
        assert name in profile.PROFILE_SLOTS, f"{name}: not in actions/profile.py PROFILE_SLOTS"
    assert set(profile.PROFILE_SLOTS) <= set(FIELDS), "a slot the profile does not know"


def test_the_form_asks_exactly_the_askable_fields():
    asked = set(profile.FORM_SLOTS) - {"consent", "location"}
    assert asked == set(FIELDS) - ENGINE_DERIVED - NEVER_ASKED
    assert set(profile.DERIVED) == NEVER_ASKED
    assert [f for f in profile.CORE] == [n for n, e in FIELDS.items() if e.get("core")]


def test_the_command_line_has_an_option_for_every_field_a_person_can_give():
    options = {FIELD_OF_OPTION.get(name.replace("-", "_"), name.replace("-", "_")) for name, _ in PATIENT_OPTIONS}
    expected = set(FIELDS) - ENGINE_DERIVED - {"stage_ajcc7"}  # the AJCC 7 reading comes from --stage
    assert options == expected


def test_records_keep_only_profile_fields():
    """What a record stores is the engine profile: the slots the dialogue copies into it."""
    slots = {name: "x" for name in DOMAIN["slots"]}
    assert set(profile.profile_from_slots(slots)) == set(profile.PROFILE_SLOTS)


def test_the_domain_never_restates_the_karnofsky_conversion():
    """ecog.yaml holds the published KPS->ECOG tables; a response that wrote its own bands
    ("KPS 70-80 = 1") would go stale. Scores the domain mentions must be ones the tables
    disagree on, as the nurse explanation says."""
    texts = [v.get("text") or "" for variants in DOMAIN["responses"].values() for v in variants]
    for text in texts:
        assert not re.search(r"\b(?:KPS|Karnofsky)\s*\d+\s*(?:-\s*\d+)?\s*=", text), text
        for score in re.findall(r"\bKPS (\d+)", text):
            assert len(vocab.karnofsky_grades(int(score))) > 1, f"KPS {score}: the tables agree, yet {text!r}"
