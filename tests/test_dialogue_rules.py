"""The dialogue's structure: no intent meets a gap, and every question can be asked three ways.

The guarantees of the conversation ("no dead ends") rest on three facts of the
data that a later edit could silently break; each is checked here:

- outside the form, every intent of the domain (and NLU's fallback) has a rule,
  so no prediction is left to a policy's guess;
- no response is named ``utter_ask_<slot>``: Rasa's form would say it on its
  own after our validation action asked, and the question would come twice;
- every question of the form has its first-time words (patient, carer and
  nurse variants) and its second-time hint, and every response the actions
  name exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actions.profile import FORM_SLOTS
from tests.files import load_yaml

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = load_yaml("domain.yml")
RULES = load_yaml("data/rules.yml")["rules"]
OWN_RULES = {"restart": "action_restart", "delete_my_data": "action_delete_my_data"}


def _outside_form_rules() -> dict[str, str]:
    found = {}
    for rule in RULES:
        steps = rule["steps"]
        condition = rule.get("condition") or []
        inside = {"active_loop": "prescreening_form"} in condition
        if steps and "intent" in steps[0] and not inside:
            found[steps[0]["intent"]] = steps[1]["action"]
    return found


@pytest.mark.parametrize("intent", [*DOMAIN["intents"], "nlu_fallback"])
def test_every_intent_has_a_rule_outside_the_form(intent):
    assert _outside_form_rules().get(intent) == OWN_RULES.get(intent, "action_converse")


def test_no_response_is_one_rasa_would_ask_by_itself():
    assert not [r for r in DOMAIN["responses"] if r.startswith("utter_ask_")]


@pytest.mark.parametrize("slot", FORM_SLOTS)
def test_every_question_has_its_words_its_hint_and_three_variants(slot):
    variants = DOMAIN["responses"][f"utter_question_{slot}"]
    conditions = [tuple((c["name"], c["value"]) for c in v.get("condition", [])) for v in variants]
    assert (("role", "nurse"),) in conditions and (("carer", True),) in conditions and () in conditions
    assert f"utter_hint_{slot}" in DOMAIN["responses"]
    assert slot in DOMAIN["slots"]


def test_every_response_the_actions_name_exists():
    named = set()
    for path in (ROOT / "actions").glob("*.py"):
        named |= set(re.findall(r'response="(utter_[a-z_0-9]+)"', path.read_text(encoding="utf-8")))
        named |= {
            f"{prefix}{slot}"
            for prefix in re.findall(r'response=f"(utter_[a-z_]+_)\{slot\}"', path.read_text(encoding="utf-8"))
            for slot in FORM_SLOTS
        }
    missing = {n for n in named if n not in DOMAIN["responses"] and not n.endswith("_choice")}
    assert not missing
    assert "utter_question_tumor_site_choice" in DOMAIN["responses"]


def test_replies_that_end_a_turn_outside_a_question_offer_buttons():
    """The replies that can be the last words of a turn without a question (after a result, a
    declined consent, a deletion, a goodbye) each offer buttons: the person always has a next step."""
    for name in (
        "utter_after_result",
        "utter_no_consent",
        "utter_data_deleted",
        "utter_goodbye_mid_form",
        "utter_goodbye_after_result",
        "utter_new_screening_offer",
    ):
        assert all(v.get("buttons") for v in DOMAIN["responses"][name]), name
