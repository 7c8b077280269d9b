"""Names that must agree wherever a profile field is named.

The profile's fields live once, in knowledge/vocabulary/fields.yaml; the dialogue
(domain slots, the form's required slots and questions, actions/profile.py), the
command line, the records export and the scripted patient of the end-to-end tests and
the load benchmark (tests/patient.py) each name them again because they must. These
tests tie every one of those places to fields.yaml, so adding or renaming a field fails
here until every reader follows, and the domain's words about ECOG grades and Karnofsky
scores cannot drift from ecog.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

from actions import profile
from knowledge import vocab
from knowledge.__main__ import FIELD_OF_OPTION, PATIENT_OPTIONS
from screenings import store
from tests.files import load_yaml
from tests.patient import PATIENT_DEFAULTS, SCENARIOS, SEVERAL_AT_ONCE

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = load_yaml("domain.yml")
FIELDS = vocab.fields()  # in question-priority order
# Fields the engine derives from others (the kind of cancer from the site); never a slot.
ENGINE_DERIVED = {name for name, field in FIELDS.items() if field.derived}
# Fields the dialogue sets from another answer, never asked as a question of their own.
NEVER_ASKED = {name for name, field in FIELDS.items() if not field.ask} - ENGINE_DERIVED
# What the form asks besides the profile: consent first, the city for distances last.
NOT_PROFILE = ("consent", "location")


def test_every_profile_field_is_a_slot_and_the_dialogue_knows_it():
    for name in set(FIELDS) - ENGINE_DERIVED:
        assert name in DOMAIN["slots"], f"{name}: no slot in domain.yml"
        assert name in profile.PROFILE_SLOTS, f"{name}: not in actions/profile.py PROFILE_SLOTS"
    assert set(profile.PROFILE_SLOTS) <= set(FIELDS), "a slot the profile does not know"


def test_the_form_asks_exactly_the_askable_fields():
    asked = set(profile.FORM_SLOTS) - {"consent", "location"}
    assert asked == set(FIELDS) - ENGINE_DERIVED - NEVER_ASKED
    assert set(profile.DERIVED) == NEVER_ASKED
    assert [f for f in profile.CORE] == [n for n, e in FIELDS.items() if e.core]


def test_the_domain_form_requires_consent_then_the_core_fields():
    """domain.yml's required slots are the form's order of the core questions."""
    required = DOMAIN["forms"]["prescreening_form"]["required_slots"]
    assert required == ["consent", *profile.CORE]
    assert profile.FORM_SLOTS[0] == "consent" and profile.FORM_SLOTS[-1] == "location"


def test_every_question_the_form_asks_has_its_slot_and_its_words():
    """The form asks each slot with utter_question_<slot>; bench_load recognises a question by it."""
    for name in profile.FORM_SLOTS:
        assert name in DOMAIN["slots"], f"{name}: no slot in domain.yml"
        assert f"utter_question_{name}" in DOMAIN["responses"], f"{name}: no utter_question_{name} in domain.yml"
    asked = {n[len("utter_question_") :].removesuffix("_choice") for n in DOMAIN["responses"]}
    asked = {n for n in asked if n in DOMAIN["slots"]}
    assert asked <= set(profile.FORM_SLOTS), (
        f"questions for slots the form never asks: {asked - set(profile.FORM_SLOTS)}"
    )


def test_the_command_line_has_an_option_for_every_field_a_person_can_give():
    options = {FIELD_OF_OPTION.get(name.replace("-", "_"), name.replace("-", "_")) for name, _ in PATIENT_OPTIONS}
    expected = set(FIELDS) - ENGINE_DERIVED - {"stage_ajcc7"}  # the AJCC 7 reading comes from --stage
    assert options == expected


def test_records_keep_only_profile_fields():
    """What a record stores is the engine profile: the slots the dialogue copies into it."""
    slots = {name: "x" for name in DOMAIN["slots"]}
    assert set(profile.profile_from_slots(slots)) == set(profile.PROFILE_SLOTS)


def test_the_records_export_has_one_column_per_profile_field(tmp_path):
    """A record saved from every slot and exported (``python -m bot records export``) names
    the fields as fields.yaml does: one CSV column each, the same keys in JSON."""
    db = tmp_path / "var" / "records.db"
    record = profile.profile_from_slots({name: "x" for name in DOMAIN["slots"]})
    store.save(record, {}, path=db)
    rows = list(store.export(path=db))
    header = store.to_csv(rows).splitlines()[0].split(",")
    columns = header[header.index("kb_build_id") + 1 :]
    assert sorted(columns) == sorted(profile.PROFILE_SLOTS)  # stored with sorted keys
    assert set(columns) == set(FIELDS) - ENGINE_DERIVED
    assert set(rows[0]["profile"]) == set(columns)


def test_the_scripted_patient_answers_every_question_and_only_questions():
    """tests/patient.py: the end-to-end tests' patient, and the load benchmark's (bench_load
    plays SEVERAL_AT_ONCE with PATIENT_DEFAULTS and must answer whatever the bot asks)."""
    form = set(profile.FORM_SLOTS)
    assert set(PATIENT_DEFAULTS) == form - set(profile.CORE), "a default answer for every follow-up"
    assert set(PATIENT_DEFAULTS) | set(SEVERAL_AT_ONCE.answers) == form, "the benchmark's patient answers it all"
    for scenario in SCENARIOS:
        assert set(scenario.answers) <= form, f"{scenario.name}: answers to no question"
        assert scenario.reask | scenario.never_asked <= form, scenario.name


RESPONSE_TEXTS = [v.get("text") or "" for variants in DOMAIN["responses"].values() for v in variants]
# A Karnofsky score in the domain's words, English or Chinese ("例如KPS 70、KPS 90": no word
# boundary between 如 and K, so none is asked for before the name).
KPS_SCORE = re.compile(r"(?:KPS|Karnofsky|卡氏评分)(?:\s*score)?\s*(\d+)", re.IGNORECASE)


def test_the_domain_never_restates_the_karnofsky_conversion():
    """ecog.yaml holds the published KPS->ECOG tables; a response that wrote its own bands
    ("KPS 70-80 = 1") would go stale."""
    for text in RESPONSE_TEXTS:
        assert not re.search(r"(?:KPS|Karnofsky)\s*\d+\s*(?:-\s*\d+)?\s*(?:=|is ECOG|→|->)", text), text


def test_the_karnofsky_scores_the_domain_names_are_where_the_tables_disagree():
    """The nurse explanation (English and Chinese) names KPS scores where "published
    conversions disagree" and "both grades are kept": each must be a score that
    ecog.yaml's tables give exactly two ECOG grades, and both languages name the same."""
    mentioned: dict[str, set[int]] = {}  # language -> the scores its nurse explanation names
    for variant in DOMAIN["responses"]["utter_explain_ecog"]:
        scores = {int(score) for score in KPS_SCORE.findall(variant["text"])}
        if scores:
            zh = any(c.get("name") == "language" and c.get("value") == "zh" for c in variant.get("condition") or [])
            mentioned["zh" if zh else "en"] = scores
    assert set(mentioned) == {"en", "zh"}, "the English and the Chinese nurse explanation both name KPS scores"
    assert mentioned["en"] == mentioned["zh"], f"English {mentioned['en']}, Chinese {mentioned['zh']}"
    for score in mentioned["en"]:
        grades = vocab.karnofsky_grades(score)
        assert len(grades) == 2, f"KPS {score}: ecog.yaml gives {sorted(grades)}, the domain says two grades disagree"
    for text in RESPONSE_TEXTS:  # any other response naming a score: still one the tables disagree on
        for score in KPS_SCORE.findall(text):
            assert len(vocab.karnofsky_grades(int(score))) > 1, f"KPS {score}: the tables agree, yet {text!r}"


def test_the_domain_s_ecog_scale_is_ecog_yaml_s_grades():
    """ "ECOG 0-4" (nurse) and "from 0 (...) to 4 (...)" (patient): the grades ecog.yaml has."""
    grades = [g["grade"] for g in vocab.load("ecog")["grades"]]
    low, high = min(grades), max(grades)
    assert grades == list(range(low, high + 1))
    found = 0
    for variant in DOMAIN["responses"]["utter_explain_ecog"]:
        text = variant["text"]
        for a, b in re.findall(r"ECOG\s*(\d)\s*-\s*(\d)", text) + re.findall(r"from (\d) \(.*?\) to (\d) \(", text):
            assert (int(a), int(b)) == (low, high), f"{text!r} gives ECOG {a}-{b}; ecog.yaml has {low}-{high}"
            found += 1
    assert found >= 3, "the explanations no longer state the scale (update this test with their wording)"
