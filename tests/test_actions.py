"""The real action code, driven with rasa_sdk's Tracker and CollectingDispatcher
over a knowledge base built from the real trial records."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.converse import ActionConverse
from actions.dialogue import ActionRestart
from actions.forms import ValidatePrescreeningForm
from actions.results import ActionMatchTrials
from knowledge import db
from tests.files import load_yaml

DOMAIN = load_yaml("domain.yml")

CONSENTED = {"consent": True, "role": "patient"}
IDEAL_B = {
    **CONSENTED,
    "age": 58,
    "tumor_site": "oropharynx",
    "stage": ["III"],
    "ecog": 1,
    "prior_treatment": ["anti_pd1"],
    "p16": "positive",
    "histology": "squamous_cell_carcinoma",
    "immunotherapy_cycles": 3,
    "immunotherapy_response": "PR",
    "recurrent": "no",
    "pregnant": "no",
    "other_cancer_5y": "no",
}
_ids = itertools.count()


@pytest.fixture(autouse=True)
def knowledge_base(full_db, monkeypatch):
    """Actions read the default knowledge base: point it at the test build."""
    monkeypatch.setattr(db, "DB_PATH", full_db)


def tracker(
    slots: dict[str, Any],
    text: str = "",
    intent: str = "inform",
    entities=None,
    requested=None,
    active_loop: str | None = "prescreening_form",
    confidence: float = 1.0,
) -> Tracker:
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots.update({"role": "patient", "answered": []})
    all_slots.update(slots)
    all_slots["requested_slot"] = requested
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": entities or [],
        "message_id": f"m{next(_ids)}",
    }
    events = [{"event": "slot", "name": k, "value": v} for k, v in slots.items()] + [
        {"event": "user", "text": text, "parse_data": latest}
    ]
    return Tracker(
        "test-user",
        all_slots,
        latest,
        events,
        False,
        None,
        {"name": active_loop} if active_loop else {},
        "action_listen",
    )


def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    before = dict(t.slots)
    events = asyncio.run(action.run(dispatcher, t, DOMAIN))
    return dispatcher.messages, events, before


def slot_events(events) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def answer(slots: dict, text: str, requested: str | None, intent: str = "inform", entities=None, **kwargs):
    """One user turn through the form validation action: (messages, every slot after the turn)."""
    messages, events, before = run(
        ValidatePrescreeningForm(), tracker(slots, text, intent, entities, requested, **kwargs)
    )
    return messages, {**before, **slot_events(events)}


def texts(messages) -> str:
    return " ".join(m.get("text") or m.get("response") or "" for m in messages)


def responses(messages) -> list[str]:
    """The domain responses said, by name (actions/say.py sends the name as ``utter_action``)."""
    return [m.get("response") or m.get("utter_action") for m in messages if m.get("response") or m.get("utter_action")]


def said(messages, name: str) -> str:
    return next(m["text"] for m in messages if (m.get("utter_action") or m.get("response")) == name)


def buttons(messages) -> list[dict]:
    return [b for m in messages for b in m.get("buttons") or []]


def starts_form(events) -> bool:
    return any(e.get("event") == "active_loop" and e.get("name") == "prescreening_form" for e in events)


def asked(messages) -> list[str]:
    return [r[len("utter_question_") :] for r in responses(messages) if r.startswith("utter_question_")]


# --- the form: every turn ends with a question, or the result -------------------------------------


def test_consent_then_age_is_asked():
    messages, slots = answer({}, "yes", "consent", intent="affirm")
    assert slots["consent"] is True and slots["requested_slot"] == "age"
    assert asked(messages) == ["age"]


def test_declining_consent_ends_the_form_with_a_way_back():
    messages, slots = answer({}, "no thanks", "consent", intent="deny")
    assert slots["consent"] is False and slots["requested_slot"] is None
    assert "utter_no_consent" in responses(messages)
    assert DOMAIN["responses"]["utter_no_consent"][0]["buttons"], "declining still offers a way back"


@pytest.mark.parametrize("text,value", [("58", 58), ("I'm fifty-eight", 58), ("58 yrs", 58)])
def test_age_answers(text, value):
    _, slots = answer(CONSENTED, text, "age")
    assert slots["age"] == value and slots["requested_slot"] == "tumor_site"


def test_a_bare_number_at_the_age_question_is_the_age():
    _, slots = answer(CONSENTED, "58", "age", entities=[{"entity": "number", "value": "58", "start": 0, "end": 2}])
    assert slots["age"] == 58


def test_an_opening_with_no_answer_in_it_is_not_read_again_by_the_form():
    messages, events = converse({}, "can you find me a trial?", "start_screening")
    assert slot_events(events)["read_message"] and starts_form(events)


@pytest.mark.parametrize("text", ["150", "-4", "999"])
def test_impossible_age_is_refused_and_asked_again(text):
    messages, slots = answer(CONSENTED, text, "age")
    assert slots["age"] is None and slots["requested_slot"] == "age"
    assert "utter_invalid_age" in responses(messages) and asked(messages) == ["age"]


def test_a_question_is_asked_at_most_three_times_in_a_row_then_marked_unknown():
    """First a hint, then a skip button, then the screening moves on (the dead end of issue 9)."""
    slots = {**CONSENTED, "asked": {"slot": "age", "times": 1}}
    messages, after = answer(slots, "banana", "age")
    assert "utter_hint_age" in responses(messages) and asked(messages) == ["age"]
    assert after["asked"] == {"slot": "age", "times": 2}
    assert {"title": "Not sure", "payload": "/dont_know"} in buttons(messages)
    messages, after = answer({**slots, "asked": after["asked"]}, "banana", "age")
    assert after["asked"]["times"] == 3 and any(b["payload"] == "/skip" for b in buttons(messages))
    messages, after = answer({**slots, "asked": after["asked"]}, "banana", "age")
    assert after["age"] == "unknown" and "utter_marked_unknown" in responses(messages)
    assert asked(messages) == ["tumor_site"] and after["asked"] == {"slot": "tumor_site", "times": 1}


def test_consent_asked_three_times_without_an_answer_is_declined_kindly():
    messages, after = answer({"asked": {"slot": "consent", "times": 3}}, "what", "consent", intent="nlu_fallback")
    assert after["consent"] is False and after["requested_slot"] is None
    assert "utter_no_consent" in responses(messages)


@pytest.mark.parametrize(
    "text, intent, histology",
    [
        ("yes that's what the biopsy said", "inform", "squamous_cell_carcinoma"),
        ("yes", "chitchat", "squamous_cell_carcinoma"),
        ("不是", "inform", "other"),
    ],
)
def test_a_yes_or_no_in_words_answers_the_histology_question_whatever_the_intent(text, intent, histology):
    """Seen in a typed screening: "yes that's what the biopsy said" (NLU: inform) was asked again."""
    base = {**IDEAL_B, "histology": None}
    _, slots = answer(base, text, "histology", intent=intent)
    assert slots["histology"] == histology


def test_histology_with_its_grade_in_one_answer_is_taken_not_asked_forever():
    """Issue 9, case 1: "squamous cell carcinoma, poorly differentiated" at the histology question."""
    base = {**IDEAL_B, "histology": None, "differentiation": None}
    entities = [
        {"entity": "histology", "value": "squamous_cell_carcinoma", "start": 0, "end": 23},
        {"entity": "differentiation", "value": "poor", "start": 25, "end": 46},
    ]
    _, slots = answer(base, "squamous cell carcinoma, poorly differentiated", "histology", entities=entities)
    assert slots["histology"] == "squamous_cell_carcinoma" and slots["differentiation"] == "poor"
    assert slots["requested_slot"] != "histology"
    # Without the NLU's entities (a typed answer the component missed), the words still count.
    _, slots = answer(base, "it was poorly differentiated squamous cell", "histology")
    assert slots["histology"] == "squamous_cell_carcinoma"


@pytest.mark.parametrize(
    "text,location",
    [
        ("anywhere in China is fine", "anywhere"),
        ("I can travel", "anywhere"),
        ("Guangdong", "Guangdong"),
        ("near Shanghai please", "Shanghai"),
        ("I'd rather not say", "unknown"),
        ("China", "China"),
    ],
)
def test_location_free_text_is_an_answer_whatever_the_intent(text, location):
    """Issue 9, case 2: "anywhere in China is fine" was read as out of scope, for ever."""
    everything = {**IDEAL_B, "differentiation": "poor", "resectable": "yes", "pathologic_response": "MPR"}
    _, slots = answer(everything, text, "location", intent="out_of_scope")
    assert slots["location"] == location and slots["requested_slot"] is None


def test_injected_command_goes_through_the_same_validation():
    messages, slots = answer(CONSENTED, '/inform{"age": "999"}', "age", entities=[{"entity": "age", "value": "999"}])
    assert slots["age"] is None and asked(messages) == ["age"]


def test_minor_is_answered_kindly_and_the_screening_ends_with_a_result():
    # Both trials with full criteria say "Age >= 18". The title-only records give no age
    # limit, but questions serve the trials a screening can settle: stop and show the result.
    messages, slots = answer(CONSENTED, "16", "age")
    assert slots["age"] == 16 and slots["requested_slot"] is None
    assert "utter_minor" in responses(messages) and "utter_no_trial_fits" in responses(messages)


@pytest.mark.parametrize(
    "text,code", [("voice box", "larynx"), ("my tonsil", "oropharynx"), ("pyriform sinus", "hypopharynx")]
)
def test_site_in_lay_words(text, code):
    _, slots = answer({**CONSENTED, "age": 58}, text, "tumor_site")
    assert slots["tumor_site"] == code and slots["requested_slot"] == "stage"


def test_unknown_site_offers_buttons():
    messages, slots = answer({**CONSENTED, "age": 58}, "my elbow", "tumor_site")
    assert slots["tumor_site"] is None and "utter_hint_tumor_site" in responses(messages)
    assert {"title": "larynx (voice box)", "payload": '/inform{"tumor_site": "larynx"}'} in buttons(messages)


def test_ambiguous_site_offers_only_its_candidates():
    messages, slots = answer({**CONSENTED, "age": 58}, "throat", "tumor_site")
    assert slots["tumor_site"] is None
    payloads = {b["payload"] for b in buttons(messages)} - {"/dont_know"}
    assert payloads == {'/inform{"tumor_site": "%s"}' % c for c in ("oropharynx", "hypopharynx", "larynx")}


def test_cancer_outside_the_head_and_neck_explains_the_scope_and_stops():
    messages, slots = answer({**CONSENTED, "age": 58}, "breast cancer", "tumor_site")
    assert slots["tumor_site"] == "breast"
    assert "utter_out_of_scope_cancer" in responses(messages) and slots["requested_slot"] is None


def test_nasopharyngeal_carcinoma_stops_the_questions_gently(seeds_db, monkeypatch):
    monkeypatch.setattr(db, "DB_PATH", seeds_db)
    messages, slots = answer({**CONSENTED, "age": 58}, "nasopharyngeal", "tumor_site")
    assert slots["tumor_site"] == "nasopharynx" and slots["requested_slot"] is None
    assert "utter_no_trial_fits" in responses(messages)


@pytest.mark.parametrize(
    "text,stage", [("3", ["III"]), ("stage IVa", ["IVA"]), ("4", ["IVA", "IVB", "IVC"]), ("T3N1M0", ["III"])]
)
def test_stage_answers(text, stage):
    _, slots = answer({**CONSENTED, "age": 58, "tumor_site": "larynx"}, text, "stage")
    assert slots["stage"] == stage and slots["requested_slot"] == "ecog"


def test_dont_know_stage_is_unknown_with_a_hint():
    messages, slots = answer(
        {**CONSENTED, "age": 58, "tumor_site": "larynx"}, "I don't know", "stage", intent="dont_know"
    )
    assert slots["stage"] == "unknown" and "utter_stage_hint" in responses(messages)


def test_tnm_in_the_oropharynx_is_restaged_when_p16_becomes_known():
    base = {**CONSENTED, "age": 58, "tumor_site": "oropharynx"}
    _, slots = answer(base, "T2N1M0", "stage")
    assert slots["stage"] == ["I", "III"] and slots["tnm"] == "T2N1M0"
    _, slots = answer({**slots, "requested_slot": None}, "p16 negative", "p16")
    assert slots["p16"] == "negative" and slots["stage"] == ["III"]


@pytest.mark.parametrize(
    "text,value",
    [
        ("ECOG 1", 1),
        ("KPS 80", 1),
        ("I can do light housework", 1),
        ('/inform{"ecog": "0"}', 0),
        ("not sure", "unknown"),
        ("he had to stop working but still showers and dresses himself", 2),
        ("she spends most of the day in bed", 3),
    ],
)
def test_ecog_answers(text, value):
    entities = [{"entity": "ecog", "value": "0"}] if text.startswith("/") else []
    intent = "dont_know" if text == "not sure" else "chitchat"  # a lay answer need not be read as inform
    _, slots = answer(
        {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}, text, "ecog", intent, entities
    )
    assert slots["ecog"] == value


def test_a_lay_performance_description_is_said_back_as_a_grade():
    """Issue 9, case 8: say which grade was understood, so the person can correct it."""
    messages, slots = answer(
        {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]},
        "I still work part time but get tired easily",
        "ecog",
        intent="out_of_scope",
    )
    assert slots["ecog"] == 1
    assert "ECOG 1" in said(messages, "utter_understood_ecog") and "light work" in said(
        messages, "utter_understood_ecog"
    )


def test_the_nurse_consoles_question_comes_last_with_its_buttons():
    """The web widget shows the quick replies of the last message only: the profile update
    the nurse console reads goes before the question, never after it."""
    messages, _ = answer({**CONSENTED, "role": "nurse", "age": 58}, "larynx", "tumor_site")
    kinds = ["profile" if (m.get("custom") or {}).get("type") == "screening_profile" else "text" for m in messages]
    assert "profile" in kinds and kinds[-1] == "text"
    assert messages[-1]["utter_action"] == "utter_question_stage" and messages[-1]["buttons"]


def test_ecog_buttons_come_from_the_vocabulary_in_every_mode():
    base = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}
    messages, _ = answer(base, "", None)
    titles = [b["title"] for b in buttons(messages)]
    assert titles[0] == "I can do everything I did before I was ill" and titles[-1] == "Not sure"
    messages, _ = answer({**base, "role": "nurse"}, "", None)
    assert [b["title"] for b in buttons(messages)][:5] == [f"ECOG {g}" for g in range(5)]
    messages, _ = answer({**base, "carer": True, "pronoun": "he"}, "", None)
    assert buttons(messages)[0]["title"] == "Does everything as before the illness"


def test_prior_treatment_fills_cycles_and_response_too():
    base = {**CONSENTED, "age": 58, "tumor_site": "oropharynx", "stage": ["III"], "ecog": 1}
    _, slots = answer(base, "pembrolizumab for 3 cycles and it shrank", "prior_treatment")
    assert slots["prior_treatment"] == ["anti_pd1"]
    assert slots["immunotherapy_cycles"] == 3 and slots["immunotherapy_response"] == "PR"


def test_several_answers_in_one_message_fill_every_slot_they_contain():
    entities = [
        {"entity": "age", "value": "61"},
        {"entity": "stage", "value": "IVA"},
        {"entity": "tumor_site", "value": "hypopharynx"},
    ]
    messages, slots = answer(CONSENTED, "I'm 61 with stage 4a cancer of the hypopharynx", "age", entities=entities)
    assert (slots["age"], slots["tumor_site"], slots["stage"]) == (61, "hypopharynx", ["IVA"])
    assert slots["requested_slot"] == "ecog" and asked(messages) == ["ecog"]


def test_answers_before_consent_are_kept_and_consent_is_asked():
    entities = [
        {"entity": "tumor_site", "value": "larynx", "start": 11, "end": 27},
        {"entity": "stage", "value": "IVA", "start": 29, "end": 37},
        {"entity": "age", "value": "66", "start": 45, "end": 47},
    ]
    messages, slots = answer(
        {}, "my dad has laryngeal cancer, stage 4a, he is 66", None, entities=entities, active_loop=None
    )
    assert (slots["age"], slots["tumor_site"], slots["stage"]) == (66, "larynx", ["IVA"])
    assert slots["requested_slot"] == "consent" and asked(messages) == ["consent"]
    assert slots["carer"] is True and slots["pronoun"] == "he" and "about him" in said(messages, "utter_carer_noted")
    # worded for the father in this very turn, though Rasa would render with the slots before it
    assert "about his cancer" in said(messages, "utter_question_consent")


def test_a_relative_is_asked_about_him_from_then_on():
    """Issue 9, case 7: the questions go on about the patient, not the person typing."""
    _, slots = answer({**CONSENTED, "carer": True, "subject": "he", "pronoun": "he"}, "66", "age")
    carer_variant = next(
        v
        for v in DOMAIN["responses"]["utter_question_tumor_site"]
        if {"type": "slot", "name": "carer", "value": True} in v.get("condition", [])
    )
    assert "{possessive} cancer" in carer_variant["text"]
    for name, variants in DOMAIN["responses"].items():
        if name.startswith("utter_question_") and not name.endswith("_choice"):
            conditions = [c for v in variants for c in v.get("condition", [])]
            assert {"type": "slot", "name": "carer", "value": True} in conditions, name


def test_a_correction_mid_form_replaces_the_slot_and_says_so():
    base = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}
    messages, slots = answer(
        base, "sorry, I'm actually 16", "ecog", intent="correct", entities=[{"entity": "age", "value": "16"}]
    )
    assert slots["age"] == 16 and slots["ecog"] is None
    assert "58" in said(messages, "utter_updated") and "16" in said(messages, "utter_updated")
    assert "utter_hint_ecog" not in responses(messages)


def test_follow_ups_are_asked_only_when_they_can_change_a_verdict():
    core = {
        **CONSENTED,
        "age": 58,
        "tumor_site": "oropharynx",
        "stage": ["IVA"],
        "ecog": 1,
        "prior_treatment": ["anti_pd1"],
    }
    _, slots = answer(core, "", None)
    assert slots["requested_slot"] in (
        "p16",
        "histology",
        "immunotherapy_response",
        "immunotherapy_cycles",
        "differentiation",
        "recurrent",
        "other_cancer_5y",
        "pregnant",
        "resectable",
        "pathologic_response",
    )
    _, slots = answer({**core, "age": 90, "histology": "other"}, "", None)
    assert slots["requested_slot"] is None


def test_location_is_asked_when_several_trials_may_fit_and_then_the_form_ends():
    everything = {**IDEAL_B, "differentiation": "poor", "resectable": "yes", "pathologic_response": "MPR"}
    _, slots = answer(everything, "", None)
    assert slots["requested_slot"] == "location"
    _, slots = answer(everything, "I live in Beijing", "location")
    assert slots["location"] == "Beijing" and slots["requested_slot"] is None


@pytest.mark.parametrize(
    "intent,text,response",
    [
        ("ask_what_is_ecog", "what does ECOG mean?", "utter_explain_ecog"),
        ("ask_why_needed", "why do you need this?", "utter_why_needed"),
        ("bot_challenge", "are you a bot?", "utter_iamabot"),
    ],
)
def test_questions_during_the_form_are_answered_and_the_question_comes_back(intent, text, response):
    base = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}
    messages, slots = answer(base, text, "ecog", intent=intent)
    assert slots["ecog"] is None and response in responses(messages) and asked(messages) == ["ecog"]


def test_a_stray_remark_gets_a_hint_and_the_question_again_never_silence():
    base = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"], "asked": {"slot": "ecog", "times": 1}}
    messages, _ = answer(base, "the weather is nice today", "ecog", intent="nlu_fallback", confidence=0.2)
    assert responses(messages)[-1] == "utter_question_ecog" and "utter_hint_ecog" in responses(messages)


def test_go_back_forgets_the_last_answer_and_asks_it_again():
    slots = {**CONSENTED, "age": 58, "tumor_site": "larynx", "answered": ["consent", "age", "tumor_site"]}
    messages, after = answer(slots, "go back", "stage", intent="go_back")
    assert after["tumor_site"] is None and after["requested_slot"] == "tumor_site"
    assert "tumor_site" not in after["answered"] and asked(messages) == ["tumor_site"]


def test_skip_marks_the_question_unknown():
    messages, after = answer({**CONSENTED, "age": 58, "tumor_site": "larynx"}, "skip", "stage", intent="skip")
    assert after["stage"] == "unknown" and asked(messages) == ["ecog"]


def test_correction_without_a_value_asks_that_question_again():
    messages, after = answer(
        {**IDEAL_B, "answered": ["age", "tumor_site", "stage"]},
        "I made a mistake in my age",
        "location",
        intent="correct",
    )
    assert after["age"] is None and asked(messages) == ["age"]


def test_restart_and_delete_are_left_to_their_rules():
    for text, intent in (
        ("start over", "restart"),
        ("delete my data", "delete_my_data"),
        ("/delete_my_data", "delete_my_data"),
    ):
        _, events, _ = run(ValidatePrescreeningForm(), tracker(CONSENTED, text, intent, requested="age"))
        assert events == []  # Rasa rejects the form, and the rule for the intent runs


def test_a_question_about_the_data_the_nlu_calls_delete_is_answered_not_obeyed():
    """ "who sees the record?" (NLU: delete_my_data, 0.95) deleted a simulated nurse's screening."""
    messages, slots = answer(
        {**CONSENTED, "age": 76}, "who sees the record?", "tumor_site", intent="delete_my_data", confidence=0.95
    )
    assert "utter_privacy_answer" in responses(messages) and asked(messages) == ["tumor_site"]
    assert slots["age"] == 76


def test_a_message_is_never_read_twice():
    t = tracker(CONSENTED, "58", requested="age")
    t.slots["read_message"] = t.latest_message["message_id"]
    messages, events, _ = run(ValidatePrescreeningForm(), t)
    assert "age" not in slot_events(events) and asked(messages) == ["age"]


# --- outside the form ----------------------------------------------------------------------------


def converse(slots: dict, text: str, intent: str, entities=None):
    messages, events, before = run(ActionConverse(), tracker(slots, text, intent, entities, active_loop=None))
    return messages, events


@pytest.mark.parametrize(
    "intent,text",
    [
        ("nlu_fallback", "hello, can you help me find a study?"),
        ("affirm", "yes please go ahead"),
        ("out_of_scope", "hi there"),
        ("ask_what_is_this", "what is this?"),
        ("inform", "I'm 61"),
    ],
)
def test_any_first_message_leads_into_the_screening(intent, text):
    """Issue 9, case 3: an opening that is not a greeting was a wall."""
    messages, events = converse({}, text, intent)
    assert starts_form(events)
    assert "utter_greet" in responses(messages)


def test_start_over_asks_the_first_question_at_once():
    """Issue 9, case 4: "start" answered "Let's start again" and asked nothing."""
    messages, events, _ = run(ActionRestart(), tracker({**IDEAL_B, "role": "nurse"}, "start over", "restart"))
    assert starts_form(events)
    assert slot_events(events)["role"] == "nurse"
    # the form then reads nothing of "start over" and asks consent
    t = tracker({"role": "nurse"}, "start over", "restart", requested=None)
    t.slots["read_message"] = t.latest_message["message_id"]
    messages, events, _ = run(ValidatePrescreeningForm(), t)
    assert asked(messages) == ["consent"]


def test_after_the_result_an_answer_reopens_the_same_screening():
    """Issue 9, case 6: "now it came back" after a result updates this screening."""
    done = {**IDEAL_B, "result_profile": {"age": 58}, "record_ref": "HN-AAAA-BBBB"}
    messages, events = converse(done, "sorry, he's actually 67", "inform", [{"entity": "age", "value": "67"}])
    assert starts_form(events)
    messages, events = converse(done, "thanks", "chitchat")
    assert responses(messages) == ["utter_after_result"]
    assert DOMAIN["responses"]["utter_after_result"][0]["buttons"]


def test_trial_details_and_why_not_after_the_result():
    done = {**IDEAL_B, "result_profile": {k: v for k, v in IDEAL_B.items() if k not in ("consent", "role")}}
    messages, _ = converse(done, "tell me more about NCT07320690", "ask_trial_details")
    text = messages[0]["text"]
    assert (
        "De-Escalation Surgery" in text
        and "Shanghai" in text
        and "https://clinicaltrials.gov/study/NCT07320690" in text
    )
    assert responses(messages) == ["utter_after_result"]
    profile = {**done["result_profile"], "prior_treatment": ["anti_pd1", "chemotherapy"]}
    messages, _ = converse({**done, "result_profile": profile}, "why not NCT06100497?", "ask_why_not")
    assert "Patients who have previously received PD-1/L1 combined chemotherapy drugs;" in messages[0]["text"]
    messages, _ = converse(done, "why not NCT12345678?", "ask_why_not")
    assert responses(messages)[0] == "utter_unknown_trial"


# --- results -----------------------------------------------------------------------------------------


def result(slots: dict):
    messages, events, before = run(ActionMatchTrials(), tracker(slots, intent="inform"))
    payload = next(m["custom"] for m in messages if m.get("custom"))
    summary = next(m["text"] for m in messages if m.get("text"))
    return summary, payload, {**before, **slot_events(events)}, messages


def test_result_lists_every_head_and_neck_trial_with_verdicts_and_the_trials_words():
    summary, payload, _, _ = result({**IDEAL_B, "location": "Beijing"})
    assert payload["type"] == "trial_matches"
    verdicts = {m["nct_id"]: m["verdict"] for m in payload["matches"]}
    assert len(verdicts) == 7 and verdicts["NCT07320690"] == "eligible"
    assert verdicts["NCT06100497"] == "uncertain"  # poorly differentiated? not asked of this profile
    assert all(v != "eligible" for n, v in verdicts.items() if n not in ("NCT07320690", "NCT06100497"))
    b = next(m for m in payload["matches"] if m["nct_id"] == "NCT07320690")
    assert "ECOG performance status of 0 or 1." in b["met"]
    assert b["url"] == "https://clinicaltrials.gov/study/NCT07320690"
    assert b["sites"][0]["city"] == "Shanghai" and b["sites"][0]["distance_km"] > 1000
    assert "not medical advice" in summary and "study team" in summary
    assert "Likely fits" in summary and "NCT07320690" in summary


def test_a_province_orders_sites_from_its_capital():
    _, payload, _, _ = result({**IDEAL_B, "location": "Guangdong"})
    b = next(m for m in payload["matches"] if m["nct_id"] == "NCT07320690")
    assert b["sites"][0]["distance_km"] is not None


def test_a_late_answer_says_what_changed_and_updates_the_same_record(tmp_path, monkeypatch):
    """Issue 9, case 6: one screening, one record; the change is said in one line per trial."""
    from screenings import store as records

    monkeypatch.setenv("TRIALBOT_RECORDS_DB", str(tmp_path / "records.db"))
    _, first, after, messages = result(IDEAL_B)
    ref = after["record_ref"]
    assert ref and "utter_record_saved" in responses(messages)
    later = {
        **IDEAL_B,
        **{k: after[k] for k in ("result_profile", "result_verdicts", "record_ref", "result_location")},
        "recurrent": "yes",
    }
    _, second, again, messages = result(later)
    assert again["record_ref"] == ref and "utter_record_updated" in responses(messages)
    changed = said(messages, "utter_result_updated")
    assert "NCT07320690: likely fits \u2192 does not fit, because" in changed
    assert len(list(records.export())) == 1
    assert records.get(ref)["profile"]["recurrent"] == "yes"
    # The same answers again: no new result, no new record, and the way on is offered.
    messages, events, _ = run(
        ActionMatchTrials(),
        tracker(
            {**later, **{k: again[k] for k in ("result_profile", "result_verdicts", "record_ref", "result_location")}}
        ),
    )
    assert responses(messages) == ["utter_result_unchanged", "utter_after_result"]
    assert len(list(records.export())) == 1


def test_result_when_nothing_fits_still_lists_the_trials_and_says_why():
    # Over every age limit, and not the squamous cell carcinoma the title-only trials name.
    summary, payload, _, _ = result({**CONSENTED, "age": 90, "tumor_site": "larynx", "histology": "other"})
    assert payload["matches"] and {m["verdict"] for m in payload["matches"]} == {"ineligible"}
    assert "none of the trials I know fit" in summary
    assert "Main reason:" in summary


def test_out_of_scope_patient_sees_the_head_and_neck_trials_as_not_fitting():
    _, payload, _, _ = result({**CONSENTED, "age": 50, "tumor_site": "breast"})
    assert len(payload["matches"]) == 7 and {m["verdict"] for m in payload["matches"]} == {"ineligible"}


def test_a_result_with_more_trials_than_it_explains_still_lists_every_verdict(monkeypatch):
    """At registry scale only the best-ranked trials are explained; the rest keep their verdicts
    and "why not" still quotes their failed criteria."""
    from actions import results

    _, full, _, _ = result(IDEAL_B)
    monkeypatch.setattr(results, "EXPLAINED_IN_FULL", 2)
    summary, payload, _, _ = result(IDEAL_B)
    assert [(m["nct_id"], m["verdict"]) for m in payload["matches"]] == [
        (m["nct_id"], m["verdict"]) for m in full["matches"]
    ]
    brief = [m for m in payload["matches"] if not m["explained"]]
    assert len(brief) == len(full["matches"]) - 2 and all(m["not_met"] == [] for m in brief)
    assert "Likely fits" in summary and "NCT07320690" in summary
    assert f"and {len([m for m in brief if m['verdict'] == 'ineligible'])} more" in summary
    failed = next(m for m in brief if m["verdict"] == "ineligible")
    reason = next(m for m in full["matches"] if m["nct_id"] == failed["nct_id"])["not_met"][0]
    profile = {k: v for k, v in IDEAL_B.items() if k not in ("consent", "role")}
    messages, _ = converse({**IDEAL_B, "result_profile": profile}, f"why not {failed['nct_id']}?", "ask_why_not")
    assert reason in messages[0]["text"]


def test_a_result_lists_the_best_trials_and_counts_the_rest_by_verdict(monkeypatch):
    """With more trials in scope than a result lists, the best-ranked are listed and the rest
    counted: the summary still counts every trial, and "why not" explains one not listed."""
    from actions import results

    _, full, _, _ = result(IDEAL_B)
    assert full["not_listed"] == {"eligible": 0, "uncertain": 0, "ineligible": 0}
    monkeypatch.setattr(results, "EXPLAINED_IN_FULL", 1)
    monkeypatch.setattr(results, "LISTED_IN_RESULT", 3)
    summary, payload, slots, _ = result(IDEAL_B)
    assert [m["nct_id"] for m in payload["matches"]] == [m["nct_id"] for m in full["matches"][:3]]
    rest = full["matches"][3:]
    assert payload["not_listed"] == {v: sum(1 for m in rest if m["verdict"] == v) for v in payload["not_listed"]}
    ineligible = sum(1 for m in full["matches"] if m["verdict"] == "ineligible")
    assert f"and {ineligible} more" in summary  # every trial counted, listed or not
    unlisted = next(m for m in rest if m["verdict"] == "ineligible")
    assert set(slots["result_verdicts"]) == {m["nct_id"] for m in payload["matches"]}  # late answers compare the listed
    profile = {k: v for k, v in IDEAL_B.items() if k not in ("consent", "role")}
    messages, _ = converse({**IDEAL_B, "result_profile": profile}, f"why not {unlisted['nct_id']}?", "ask_why_not")
    assert unlisted["not_met"][0] in messages[0]["text"]


def test_no_consent_means_no_result_and_answers_are_cleared():
    messages, events, _ = run(ActionMatchTrials(), tracker({"consent": False, "age": 58}))
    assert not any(m.get("custom") for m in messages)
    assert any(e.get("event") == "reset_slots" for e in events)


def test_missing_knowledge_base_gives_a_clear_answer_not_silence(monkeypatch, tmp_path):
    monkeypatch.setattr(db, "DB_PATH", tmp_path / "missing.db")
    messages, events, _ = run(ActionMatchTrials(), tracker(IDEAL_B))
    assert [m.get("response") for m in messages] == ["utter_cannot_check"]
    assert "can't check the trials right now" in DOMAIN["responses"]["utter_cannot_check"][0]["text"]
    # the answers given so far are kept: nothing clears a slot
    assert not [e for e in events if e.get("event") == "slot" and e["value"] is None]


def test_the_action_server_registers_every_domain_action():
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    assert set(DOMAIN["actions"]) <= set(executor.actions)


def test_a_volunteered_answer_arrives_as_its_code_and_is_accepted():
    base = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}
    messages, slots = answer(
        base, "it was poorly differentiated", "ecog", entities=[{"entity": "differentiation", "value": "poor"}]
    )
    assert slots["differentiation"] == "poor"
    assert "poor" in said(messages, "utter_noted")


# --- treatment answers as lines of therapy (issue 9 case 5, issue 10 cases 1-3) ---------------------


TREATMENT_Q = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"], "ecog": 0}


def test_planned_treatment_is_not_treatment_received():
    """Issue 9, case 5: "surgery is planned next" made NCT07320690 "does not fit"."""
    messages, slots = answer(
        TREATMENT_Q,
        "I had three cycles of pembrolizumab with chemotherapy and the tumour shrank a lot; surgery is planned next",
        "prior_treatment",
    )
    assert slots["prior_treatment"] == ["chemotherapy", "anti_pd1"]
    assert slots["immunotherapy_cycles"] == 3 and slots["immunotherapy_response"] == "PR"
    assert "surgery planned" in said(messages, "utter_treatment_noted")


@pytest.mark.parametrize(
    "text,cycles",
    [
        ("TPF 3 cycles, then pembrolizumab 8 cycles, partial response", 8),
        ("cisplatin and pembrolizumab for 2 cycles, then pembrolizumab alone for 6 more cycles", 8),
    ],
)
def test_cycles_are_the_immunotherapys_not_the_first_number(text, cycles):
    _, slots = answer(TREATMENT_Q, text, "prior_treatment")
    assert slots["immunotherapy_cycles"] == cycles


def test_a_count_the_answer_does_not_settle_is_asked_never_guessed():
    _, slots = answer({**TREATMENT_Q, "immunotherapy_cycles": 2}, "TPF 3 cycles and pembrolizumab", "prior_treatment")
    assert slots["prior_treatment"] == ["chemotherapy", "anti_pd1"] and slots["immunotherapy_cycles"] is None


def test_only_planned_treatment_asks_what_was_given():
    messages, slots = answer(TREATMENT_Q, "they want to operate next month", "prior_treatment")
    assert slots["prior_treatment"] is None and "utter_treatment_only_planned" in responses(messages)
    assert asked(messages) == ["prior_treatment"] and "utter_hint_prior_treatment" not in responses(messages)


def test_a_late_treatment_answer_adds_to_the_history_told_before():
    base = {
        **TREATMENT_Q,
        "prior_treatment": ["anti_pd1"],
        "treatment_text": "pembrolizumab 3 cycles, it shrank",
        "immunotherapy_cycles": 3,
        "immunotherapy_response": "PR",
    }
    text = "he had chemo and radiation 2 years ago, now it came back"
    entities = [
        {"entity": "treatment", "value": "chemoradiotherapy", "start": 7, "end": 26},
        {"entity": "recurrence", "value": "yes", "start": 48, "end": 57},
    ]
    _, slots = answer(base, text, "pregnant", entities=entities)
    assert set(slots["prior_treatment"]) >= {"anti_pd1", "chemoradiotherapy"} and slots["recurrent"] == "yes"
    assert slots["immunotherapy_cycles"] == 3


@pytest.mark.parametrize(
    "text,cycles", [("3", 3), ("4 or 5", [4, 5]), ("6 cycles of pembro", 6), ("6 of pembro, 3 of TPF", None)]
)  # two numbers the reader cannot place: asked
def test_the_cycles_question_reads_counts_and_ranges(text, cycles):
    _, slots = answer({**TREATMENT_Q, "prior_treatment": ["chemotherapy", "anti_pd1"]}, text, "immunotherapy_cycles")
    assert slots["immunotherapy_cycles"] == cycles


def test_who_judged_the_ecog_grade_is_kept():
    """Issue 10, case 13: a patient's own grade 2 is reviewed by the study team, a nurse's is not met."""
    base = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}
    _, slots = answer(base, "I had to stop working but I look after myself", "ecog")
    assert slots["ecog"] == 2 and slots["ecog_source"] == "patient"
    _, slots = answer({**base, "role": "nurse"}, "ECOG 2", "ecog")
    assert slots["ecog_source"] == "clinician"


def test_a_stage_from_a_tnm_keeps_its_ajcc7_reading():
    _, slots = answer({**CONSENTED, "age": 58, "tumor_site": "oropharynx", "p16": "positive"}, "T2N1M0", "stage")
    assert slots["stage"] == ["I"] and "III" in slots["stage_ajcc7"]


# --- what the simulator found (tests/simulator): each a real screening that went wrong -------------


def test_no_clue_is_dont_know_not_no():
    _, slots = answer({**IDEAL_B, "histology": None}, "no clue", "histology", intent="dont_know")
    assert slots["histology"] == "unknown"


def test_a_remark_with_one_in_it_is_no_age():
    messages, slots = answer(CONSENTED, "one moment", "age", intent="chitchat")
    assert slots["age"] is None and asked(messages) == ["age"]


def test_a_treatment_answer_nlu_reads_as_skip_is_still_read_not_skipped():
    text = "surgery is booked for next week"
    messages, slots = answer(
        TREATMENT_Q,
        text,
        "prior_treatment",
        intent="skip",
        confidence=0.76,
        entities=[{"entity": "treatment", "value": "surgery", "start": 0, "end": 7}],
    )
    assert slots["prior_treatment"] is None and "utter_treatment_only_planned" in responses(messages)
    assert "utter_skipped" not in responses(messages)


@pytest.mark.parametrize(
    "text,intent", [("I'm asking for my dad", "start_screening"), ("I'm here for my aunt", "i_am_nurse")]
)
def test_a_relative_named_in_the_first_message_is_asked_about_and_is_no_nurse(text, intent):
    messages, events = converse({}, text, intent)
    slots = slot_events(events)
    assert slots["carer"] is True and slots.get("role") != "nurse"
    assert "utter_carer_noted" in responses(messages) and "utter_nurse_mode" not in responses(messages)


def test_other_answers_numbers_are_no_treatment_numbers():
    text = "I'm 61, ECOG 2, had pembro x3"
    entities = [
        {"entity": "age", "value": "61", "start": 4, "end": 6},
        {"entity": "ecog", "value": "2", "start": 8, "end": 14},
        {"entity": "drug", "value": "pembrolizumab", "start": 20, "end": 26},
        {"entity": "cycles", "value": "3", "start": 27, "end": 29},
    ]
    _, slots = answer({**CONSENTED, "tumor_site": "larynx", "stage": ["III"]}, text, "age", entities=entities)
    assert slots["age"] == 61 and slots["prior_treatment"] == ["anti_pd1"] and slots["immunotherapy_cycles"] == 3


@pytest.mark.parametrize("text", ["nope", "no, it didn't say", "they never told us"])
def test_no_grade_in_the_report_is_an_unknown_grade_not_a_loop(text):
    base = {
        **CONSENTED,
        "age": 58,
        "tumor_site": "larynx",
        "stage": ["III"],
        "ecog": 1,
        "prior_treatment": [],
        "histology": "squamous_cell_carcinoma",
    }
    messages, slots = answer(base, text, "differentiation")
    assert slots["differentiation"] == "unknown" and slots["requested_slot"] != "differentiation", texts(messages)


def test_a_lay_description_of_light_work_is_ecog_1():
    base = {**CONSENTED, "age": 71, "tumor_site": "larynx", "stage": ["III"]}
    _, slots = answer(base, "he still gets out most days but can't manage anything heavy any more", "ecog")
    assert slots["ecog"] == 1


def test_an_answer_the_nlu_takes_for_a_correction_is_still_read():
    """ "I live in Suzhou but can travel to Shanghai" was classified as a correction and lost (seen
    in a typed screening); a correction naming another question, or at a yes/no question, is not read."""
    _, slots = answer({**CONSENTED}, "i live in suzhou but can travel to shanghai", "location", intent="correct")
    assert slots["location"] == "Suzhou"
    _, slots = answer({**CONSENTED, "age": 58}, "sorry, i got my age wrong", "location", intent="correct")
    assert slots.get("location") is None
    _, slots = answer({**CONSENTED}, "no sorry, i meant yes", "other_cancer_5y", intent="correct")
    assert slots.get("other_cancer_5y") is None


@pytest.mark.parametrize(
    "text, requested",
    [
        ("laryngeal cancer, not nasopharyngeal", "tumor_site"),
        ("我爸爸得了鼻咽癌以外的喉癌", "consent"),  # volunteered before any question (seen in a screening)
    ],
)
def test_two_different_sites_named_are_asked_about_not_taken_first(text, requested):
    """Where the cancer started is not settled by a message naming two sites: the form asks which."""
    from bot.nlu.components import extract

    entities = [{"entity": e.entity, "value": e.value, "start": e.start, "end": e.end} for e in extract(text)]
    slots = {**CONSENTED, "age": 60} if requested != "consent" else {}
    messages, slots = answer(slots, text, requested, entities=entities)
    assert slots.get("tumor_site") is None
    if requested == "tumor_site":
        assert "more than one place (laryngeal cancer, nasopharyngeal)" in texts(messages)
        buttons = {b["payload"] for m in messages for b in m.get("buttons") or []}
        assert any("larynx" in p for p in buttons) and any("nasopharynx" in p for p in buttons)


@pytest.mark.parametrize(
    "text, named",
    [
        ("laryngeal cancer, not nasopharyngeal", "laryngeal cancer, nasopharyngeal"),
        ("it started on his tongue and spread to the lung", "tongue, lung"),
    ],
)
def test_two_sites_typed_without_any_entity_are_asked_about_too(text, named):
    """The words alone (no NLU entity, e.g. the model missed them) give the same question."""
    messages, slots = answer({**CONSENTED, "age": 60}, text, "tumor_site", entities=[])
    assert slots.get("tumor_site") is None
    assert f"more than one place ({named})" in texts(messages)


def test_one_site_named_twice_is_taken():
    from bot.nlu.components import extract

    text = "cancer of the tonsil, which is in the oropharynx"
    entities = [{"entity": e.entity, "value": e.value, "start": e.start, "end": e.end} for e in extract(text)]
    _, slots = answer({**CONSENTED}, text, "tumor_site", entities=entities)
    assert slots["tumor_site"] == "oropharynx"


@pytest.mark.parametrize(
    "slots, requested, text, intent, explained",
    [
        ({"age": 60, "tumor_site": "larynx"}, "stage", "not sure what you mean", "dont_know", "utter_explain_stage"),
        ({}, "age", "what do you mean?", "ask_what_is_this", "utter_hint_age"),
        (
            {"age": 60, "tumor_site": "larynx", "stage": ["III"]},
            "ecog",
            "不知道你什么意思",
            "dont_know",
            "utter_explain_ecog",
        ),
        ({"age": 60}, "tumor_site", "no idea what you mean", "chitchat", "utter_hint_tumor_site"),
    ],
)
def test_what_do_you_mean_explains_the_question_and_records_nothing(slots, requested, text, intent, explained):
    """ "Not sure what you mean" holds "not sure" but is no don't-know: the question is
    explained and asked again, whatever intent the NLU guessed (seen in a typed screening)."""
    messages, after = answer({**CONSENTED, **slots}, text, requested, intent=intent)
    assert after.get(requested) is None
    said = responses(messages)
    assert explained in said and asked(messages) == [requested]
    assert "utter_what_is_this" not in said or requested == "consent"


def test_not_sure_is_still_a_dont_know():
    _, after = answer({**CONSENTED, "age": 60, "tumor_site": "larynx"}, "not sure", "stage", intent="dont_know")
    assert after["stage"] == "unknown"


def test_the_terminal_chat_shows_each_verdict_in_the_conversations_language(capsys):
    """Seen in a typed Chinese screening: bot.chat's one-line-per-trial table said "might fit"."""
    from bot.chat import show

    for language, words in (("en", "might fit"), ("zh", "有待核对")):
        _, payload, _, messages = result({**IDEAL_B, "language": language})
        assert payload["verdict_words"]["uncertain"] == words
        capsys.readouterr()
        show(messages, as_json=False)
        table = [line for line in capsys.readouterr().out.splitlines() if "NCT06100497" in line and "  " in line]
        assert any(words in line for line in table), table


def test_nurse_shorthand_age_and_sex_are_both_noted():
    """ "pt 71M, SCC left piriform fossa": seen in a typed nurse screening, which then asked "Sex?"."""
    from bot.nlu.components import extract

    text = "pt 71M, SCC left piriform fossa, cT3N2bM0"
    entities = [{"entity": e.entity, "value": e.value, "start": e.start, "end": e.end} for e in extract(text)]
    _, slots = answer({"role": "nurse"}, text, "consent", entities=entities)
    assert (slots["age"], slots["sex"], slots["tumor_site"]) == (71, "male", "hypopharynx")


def test_a_mistyped_site_beside_an_ambiguous_entity_is_the_answer():
    """The NLU tags "neck" (several places); the words also say "tounge": the form takes the tongue."""
    from bot.nlu.components import extract

    text = "it started on the side of my tounge and went into the lymph nodes in my neck"
    entities = [{"entity": e.entity, "value": e.value, "start": e.start, "end": e.end} for e in extract(text)]
    assert any(e["entity"] == "tumor_site" and "|" in e["value"] for e in entities)
    _, slots = answer({**CONSENTED, "age": 47}, text, "tumor_site", entities=entities)
    assert slots["tumor_site"] == "oral_cavity"


def test_ok_lets_do_it_is_consent_and_two_descriptions_volunteered_are_a_range():
    """From one typed screening: "ok lets do it" was asked again, and "I still work but I'm
    wiped out by evening", said before the ECOG question, was read as its first words only."""
    from bot.nlu.components import extract

    _, slots = answer({}, "ok lets do it", "consent", intent="inform")
    assert slots["consent"] is True
    text = "i still work but i'm wiped out by evening"
    entities = [{"entity": e.entity, "value": e.value, "start": e.start, "end": e.end} for e in extract(text)]
    messages, slots = answer({**CONSENTED}, text, "age", entities=entities)
    assert slots["ecog"] == [0, 1]
    # Said back, both grades, so the person can correct it.
    assert 'I understood ECOG 0 or 1: "Does everything as before the illness" or "Can\'t do heavy' in texts(messages)


@pytest.mark.parametrize(
    "text, stage",
    [
        ("the doctor wrote T3 N1 M0", ["III"]),  # the NLU said ask_what_is_stage (a typed screening)
        ("what does T3 N1 M0 mean", None),  # a question about the words: explained, nothing taken
    ],
)
def test_an_answer_the_nlu_takes_for_a_question_is_read_a_question_is_explained(text, stage):
    from bot.nlu.components import extract

    entities = [{"entity": e.entity, "value": e.value, "start": e.start, "end": e.end} for e in extract(text)]
    base = {**CONSENTED, "age": 66, "tumor_site": "larynx"}
    messages, slots = answer(base, text, "stage", intent="ask_what_is_stage", entities=entities)
    assert slots.get("stage") == stage
    assert ("utter_explain_stage" in responses(messages)) == (stage is None)


def test_a_greeting_mid_screening_resumes_but_the_first_message_says_no_carry_on():
    """The first message ("hi there, I'm looking into this for my father", NLU: greet) heard
    "Let's carry on." before anything was asked (a typed screening)."""
    messages, _ = answer({}, "hi there, I'm looking into this for my father", "consent", intent="greet")
    assert "utter_resume" not in responses(messages) and asked(messages) == ["consent"]
    messages, _ = answer({**CONSENTED, "asked": {"slot": "age", "times": 1}}, "hello again", "age", intent="greet")
    assert "utter_resume" in responses(messages) and asked(messages) == ["age"]


@pytest.mark.parametrize(
    "text, nurse",
    [
        ("i'm at the hospital now", False),  # a patient (the simulator, seed 20261127): NLU said i_am_nurse
        ("my doctor said I should try this", False),
        ("I'm a research nurse", True),
        ("我是头颈外科医生", True),
    ],
)
def test_nurse_mode_needs_words_that_say_so_not_only_the_intent(text, nurse):
    """Nurse mode makes an ECOG grade the clinician's: a patient's grade 2 then "does not fit"
    where it needs review. It never rests on the NLU's i_am_nurse alone."""
    messages, slots = answer({**CONSENTED}, text, "age", intent="i_am_nurse", confidence=0.9)
    assert (slots.get("role") == "nurse") == nurse
    assert ("utter_nurse_mode" in responses(messages)) == nurse
