"""The real action code, driven with rasa_sdk's Tracker and CollectingDispatcher
over a knowledge base built from the real trial records."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.dialogue import ActionAskEcog, ActionCorrect, ActionGoBack, ActionSkipQuestion
from actions.forms import ValidatePrescreeningForm
from actions.results import ActionMatchTrials, ActionTrialDetails, ActionWhyNot
from knowledge import db

DOMAIN = yaml.safe_load((Path(__file__).resolve().parents[1] / "domain.yml").read_text(encoding="utf-8"))

CONSENTED = {"consent": True, "role": "patient"}
IDEAL_B = {
    **CONSENTED, "age": 58, "tumor_site": "oropharynx", "stage": ["III"], "ecog": 1, "prior_treatment": ["anti_pd1"],
    "p16": "positive", "histology": "squamous_cell_carcinoma", "immunotherapy_cycles": 3, "immunotherapy_response": "PR",
    "recurrent": "no", "pregnant": "no", "other_cancer_5y": "no",
}


@pytest.fixture(autouse=True)
def knowledge_base(full_db, monkeypatch):
    """Actions read the default knowledge base: point it at the test build."""
    monkeypatch.setattr(db, "DB_PATH", full_db)


def tracker(slots: dict[str, Any], text: str = "", intent: str = "inform", entities=None, requested=None) -> Tracker:
    all_slots = {name: None for name in DOMAIN["slots"]}
    all_slots.update({"role": "patient", "answered": [], "failed": {}})
    all_slots.update(slots)
    all_slots["requested_slot"] = requested
    latest = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities or []}
    # Earlier answers were set before this user turn; only this turn's answers are validated.
    events = [{"event": "slot", "name": k, "value": v} for k, v in slots.items()] + [
        {"event": "user", "text": text, "parse_data": latest}
    ]
    return Tracker("test-user", all_slots, latest, events, False, None,
                   {"name": "prescreening_form"}, "action_listen")


def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, DOMAIN))
    return dispatcher.messages, events


def slot_events(events) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def answer(slots: dict, text: str, requested: str, intent: str = "inform", entities=None):
    """One user turn through the form validation action."""
    messages, events = run(ValidatePrescreeningForm(), tracker(slots, text, intent, entities, requested))
    return messages, slot_events(events)


def texts(messages) -> str:
    return " ".join(m.get("text") or m.get("response") or "" for m in messages)


# --- the form: validation of each answer ---------------------------------------------------


def test_consent_then_age_is_asked():
    _, slots = answer({}, "yes", "consent", intent="affirm")
    assert slots["consent"] is True and slots["requested_slot"] == "age"


def test_declining_consent_ends_the_form():
    messages, slots = answer({}, "no thanks", "consent", intent="deny")
    assert slots["consent"] is False and slots["requested_slot"] is None
    assert any(m.get("response") == "utter_no_consent" for m in messages)


@pytest.mark.parametrize("text,value", [("58", 58), ("I'm fifty-eight", 58), ("58 yrs", 58)])
def test_age_answers(text, value):
    _, slots = answer(CONSENTED, text, "age")
    assert slots["age"] == value and slots["requested_slot"] == "tumor_site"


@pytest.mark.parametrize("text", ["150", "-4", "999"])
def test_impossible_age_is_refused_and_asked_again(text):
    messages, slots = answer(CONSENTED, text, "age")
    assert slots["age"] is None and slots["requested_slot"] == "age"
    assert "doesn't look like a possible age" in texts(messages)


def test_unreadable_age_is_asked_again_and_skip_offered_after_two_failures():
    messages, slots = answer(CONSENTED, "banana", "age")
    assert slots["age"] is None and "couldn't read an age" in texts(messages)
    assert slots["failed"] == {"age": 1}
    messages, slots = answer({**CONSENTED, "failed": {"age": 1}}, "banana", "age")
    assert any(m.get("response") == "utter_offer_skip" for m in messages)


def test_injected_command_goes_through_the_same_validation():
    messages, slots = answer(CONSENTED, '/inform{"age": "999"}', "age", entities=[{"entity": "age", "value": "999"}])
    assert slots["age"] is None


def test_minor_is_answered_kindly_and_the_screening_ends_with_a_result(seeds_db, monkeypatch):
    monkeypatch.setattr(db, "DB_PATH", seeds_db)
    messages, slots = answer(CONSENTED, "16", "age")
    assert slots["age"] == 16
    assert any(m.get("response") == "utter_minor" for m in messages)
    # Both seed trials are for adults: nothing can fit, so the questions stop.
    assert slots["requested_slot"] is None


def test_minor_is_answered_kindly_and_the_screening_ends_with_a_result():
    # Both trials with full criteria say "Age >= 18". The title-only records give no age
    # limit, but questions serve the trials a screening can settle: stop and show the result.
    messages, slots = answer(CONSENTED, "16", "age")
    assert slots["age"] == 16 and slots["requested_slot"] is None
    responses = [m.get("response") for m in messages]
    assert "utter_minor" in responses and "utter_no_trial_fits" in responses


@pytest.mark.parametrize("text,code", [("voice box", "larynx"), ("my tonsil", "oropharynx"), ("pyriform sinus", "hypopharynx")])
def test_site_in_lay_words(text, code):
    _, slots = answer({**CONSENTED, "age": 58}, text, "tumor_site")
    assert slots["tumor_site"] == code and slots["requested_slot"] == "stage"


def test_unknown_site_offers_buttons():
    messages, slots = answer({**CONSENTED, "age": 58}, "my elbow", "tumor_site")
    assert slots["tumor_site"] is None
    buttons = [b for m in messages for b in m.get("buttons", [])]
    assert {"title": "larynx (voice box)", "payload": '/inform{"tumor_site": "larynx"}'} in buttons


def test_ambiguous_site_offers_only_its_candidates():
    messages, slots = answer({**CONSENTED, "age": 58}, "throat", "tumor_site")
    assert slots["tumor_site"] is None
    payloads = {b["payload"] for m in messages for b in m.get("buttons", [])}
    assert payloads == {'/inform{"tumor_site": "%s"}' % c for c in ("oropharynx", "hypopharynx", "larynx")}


def test_cancer_outside_the_head_and_neck_explains_the_scope_and_stops():
    messages, slots = answer({**CONSENTED, "age": 58}, "breast cancer", "tumor_site")
    assert slots["tumor_site"] == "breast"
    assert any(m.get("response") == "utter_out_of_scope_cancer" for m in messages)
    assert slots["requested_slot"] is None


def test_nasopharyngeal_carcinoma_stops_the_questions_gently(seeds_db, monkeypatch):
    monkeypatch.setattr(db, "DB_PATH", seeds_db)
    messages, slots = answer({**CONSENTED, "age": 58}, "nasopharyngeal", "tumor_site")
    assert slots["tumor_site"] == "nasopharynx"
    assert slots["requested_slot"] is None
    assert any(m.get("response") == "utter_no_trial_fits" for m in messages)


@pytest.mark.parametrize("text,stage", [("3", ["III"]), ("stage IVa", ["IVA"]), ("4", ["IVA", "IVB", "IVC"]),
                                        ("T3N1M0", ["III"])])
def test_stage_answers(text, stage):
    _, slots = answer({**CONSENTED, "age": 58, "tumor_site": "larynx"}, text, "stage")
    assert slots["stage"] == stage and slots["requested_slot"] == "ecog"


def test_dont_know_stage_is_unknown_with_a_hint():
    messages, slots = answer({**CONSENTED, "age": 58, "tumor_site": "larynx"}, "I don't know", "stage", intent="dont_know")
    assert slots["stage"] == "unknown"
    assert any(m.get("response") == "utter_stage_hint" for m in messages)


def test_tnm_in_the_oropharynx_is_restaged_when_p16_becomes_known():
    base = {**CONSENTED, "age": 58, "tumor_site": "oropharynx"}
    _, slots = answer(base, "T2N1M0", "stage")
    assert slots["stage"] == ["I", "III"] and slots["tnm"] == "T2N1M0"
    _, slots = answer({**base, **slots, "requested_slot": None}, "p16 negative", "p16")
    assert slots["p16"] == "negative" and slots["stage"] == ["III"]


@pytest.mark.parametrize("text,value", [("ECOG 1", 1), ("KPS 80", 1), ("I can do light housework", 1),
                                        ('/inform{"ecog": "0"}', 0), ("not sure", "unknown")])
def test_ecog_answers(text, value):
    entities = [{"entity": "ecog", "value": "0"}] if text.startswith("/") else []
    intent = "dont_know" if text == "not sure" else "inform"
    _, slots = answer({**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}, text, "ecog", intent, entities)
    assert slots["ecog"] == value


def test_prior_treatment_fills_cycles_and_response_too():
    base = {**CONSENTED, "age": 58, "tumor_site": "oropharynx", "stage": ["III"], "ecog": 1}
    _, slots = answer(base, "pembrolizumab for 3 cycles and it shrank", "prior_treatment")
    assert slots["prior_treatment"] == ["anti_pd1"]
    assert slots["immunotherapy_cycles"] == 3 and slots["immunotherapy_response"] == "PR"


def test_several_answers_in_one_message_fill_every_slot_they_contain():
    entities = [{"entity": "age", "value": "61"}, {"entity": "stage", "value": "IVA"},
                {"entity": "tumor_site", "value": "hypopharynx"}]
    _, slots = answer(CONSENTED, "I'm 61 with stage 4a cancer of the hypopharynx", "age", entities=entities)
    assert (slots["age"], slots["tumor_site"], slots["stage"]) == (61, "hypopharynx", ["IVA"])
    assert slots["requested_slot"] == "ecog"


def test_a_correction_mid_form_replaces_the_slot_without_complaining_about_the_question():
    base = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}
    messages, slots = answer(base, "sorry, I'm actually 16", "ecog", entities=[{"entity": "age", "value": "16"}])
    assert slots["age"] == 16 and "ecog" not in slots
    assert "didn't get that" not in texts(messages)


def test_follow_ups_are_asked_only_when_they_can_change_a_verdict():
    core = {**CONSENTED, "age": 58, "tumor_site": "oropharynx", "stage": ["IVA"], "ecog": 1, "prior_treatment": ["anti_pd1"]}
    _, slots = answer(core, "", None)
    follow_up = slots["requested_slot"]
    assert follow_up in ("p16", "histology", "immunotherapy_response", "immunotherapy_cycles", "differentiation",
                         "recurrent", "other_cancer_5y", "pregnant", "resectable", "pathologic_response")
    # Recurrent disease and other cancers decide nothing for a patient no trial can take.
    _, slots = answer({**core, "age": 90, "histology": "other"}, "", None)
    assert slots["requested_slot"] is None


def test_location_is_asked_when_several_trials_may_fit_and_then_the_form_ends():
    everything = {**IDEAL_B, "differentiation": "poor", "resectable": "yes", "pathologic_response": "MPR"}
    _, slots = answer(everything, "", None)
    assert slots["requested_slot"] == "location"
    _, slots = answer(everything, "I live in Beijing", "location")
    assert slots["location"] == "Beijing" and slots["requested_slot"] is None


def test_questions_during_the_form_are_not_taken_as_answers():
    base = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}
    _, slots = answer(base, "what does ECOG mean?", "ecog", intent="ask_what_is_ecog")
    assert "ecog" not in slots


# --- moves around the form ---------------------------------------------------------------------


def test_go_back_forgets_the_last_answer_and_asks_it_again():
    t = tracker({**CONSENTED, "age": 58, "tumor_site": "larynx", "answered": ["consent", "age", "tumor_site"]},
                "go back", "go_back", requested="stage")
    _, events = run(ActionGoBack(), t)
    slots = slot_events(events)
    assert slots["tumor_site"] is None and slots["requested_slot"] == "tumor_site"
    assert slots["answered"] == ["age"]


def test_skip_marks_the_question_unknown():
    _, events = run(ActionSkipQuestion(), tracker(CONSENTED, "skip", "skip", requested="stage"))
    assert slot_events(events)["stage"] == "unknown"


def test_correction_without_a_value_forgets_that_answer():
    t = tracker({**IDEAL_B, "answered": ["age", "tumor_site", "stage"]}, "I made a mistake in my age", "correct")
    _, events = run(ActionCorrect(), t)
    assert slot_events(events)["age"] is None
    t = tracker(IDEAL_B, "I gave the wrong stage", "correct")
    assert slot_events(run(ActionCorrect(), t)[1])["stage"] is None


def test_ecog_buttons_come_from_the_vocabulary_in_both_modes():
    messages, _ = run(ActionAskEcog(), tracker(CONSENTED, requested="ecog"))
    titles = [b["title"] for b in messages[0]["buttons"]]
    assert titles[0] == "I can do everything I did before I was ill" and titles[-1] == "Not sure"
    messages, _ = run(ActionAskEcog(), tracker({**CONSENTED, "role": "nurse"}, requested="ecog"))
    assert [b["title"] for b in messages[0]["buttons"]][:5] == [f"ECOG {g}" for g in range(5)]


# --- results -----------------------------------------------------------------------------------------


def result(slots: dict):
    messages, events = run(ActionMatchTrials(), tracker(slots, intent="inform"))
    payload = next(m["custom"] for m in messages if m.get("custom"))
    summary = next(m["text"] for m in messages if m.get("text"))
    return summary, payload, slot_events(events)


def test_result_lists_every_head_and_neck_trial_with_verdicts_and_the_trials_words():
    summary, payload, _ = result({**IDEAL_B, "location": "Beijing"})
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


def test_result_when_nothing_fits_still_lists_the_trials_and_says_why():
    # Over every age limit, and not the squamous cell carcinoma the title-only trials name.
    summary, payload, _ = result({**CONSENTED, "age": 90, "tumor_site": "larynx", "histology": "other"})
    assert payload["matches"] and {m["verdict"] for m in payload["matches"]} == {"ineligible"}
    assert "none of the trials I know fit" in summary
    assert "Main reason:" in summary


def test_out_of_scope_patient_sees_the_head_and_neck_trials_as_not_fitting():
    _, payload, _ = result({**CONSENTED, "age": 50, "tumor_site": "breast"})
    assert len(payload["matches"]) == 7 and {m["verdict"] for m in payload["matches"]} == {"ineligible"}


def test_a_result_with_more_trials_than_it_explains_still_lists_every_verdict(monkeypatch):
    """At registry scale only the best-ranked trials are explained; the rest keep their verdicts
    and "why not" still quotes their failed criteria."""
    from actions import results

    _, full, _ = result(IDEAL_B)
    monkeypatch.setattr(results, "EXPLAINED_IN_FULL", 2)
    summary, payload, _ = result(IDEAL_B)
    assert [(m["nct_id"], m["verdict"]) for m in payload["matches"]] == \
        [(m["nct_id"], m["verdict"]) for m in full["matches"]]
    brief = [m for m in payload["matches"] if not m["explained"]]
    assert len(brief) == len(full["matches"]) - 2 and all(m["not_met"] == [] for m in brief)
    assert "Likely fits" in summary and "NCT07320690" in summary
    assert f"and {len([m for m in brief if m['verdict'] == 'ineligible'])} more" in summary
    failed = next(m for m in brief if m["verdict"] == "ineligible")
    reason = next(m for m in full["matches"] if m["nct_id"] == failed["nct_id"])["not_met"][0]
    messages, _ = run(ActionWhyNot(), tracker(IDEAL_B, f"why not {failed['nct_id']}?", "ask_why_not"))
    assert reason in messages[0]["text"]


def test_no_consent_means_no_result_and_answers_are_cleared():
    messages, events = run(ActionMatchTrials(), tracker({"consent": False, "age": 58}))
    assert not any(m.get("custom") for m in messages)
    assert any(e.get("event") == "reset_slots" for e in events)


def test_trial_details_and_why_not():
    messages, _ = run(ActionTrialDetails(), tracker(IDEAL_B, "tell me more about NCT07320690", "ask_trial_details"))
    text = messages[0]["text"]
    assert "De-Escalation Surgery" in text and "Shanghai" in text and "https://clinicaltrials.gov/study/NCT07320690" in text
    slots = {**IDEAL_B, "prior_treatment": ["anti_pd1", "chemotherapy"]}
    messages, _ = run(ActionWhyNot(), tracker(slots, "why not NCT06100497?", "ask_why_not"))
    assert "Patients who have previously received PD-1/L1 combined chemotherapy drugs;" in messages[0]["text"]
    messages, _ = run(ActionWhyNot(), tracker(slots, "why not NCT12345678?", "ask_why_not"))
    assert messages[0]["response"] == "utter_unknown_trial"


def test_missing_knowledge_base_gives_a_clear_answer_not_silence(monkeypatch, tmp_path):
    monkeypatch.setattr(db, "DB_PATH", tmp_path / "missing.db")
    messages, events = run(ActionMatchTrials(), tracker(IDEAL_B))
    assert [m.get("response") for m in messages] == ["utter_cannot_check"]
    assert "can't check the trials right now" in DOMAIN["responses"]["utter_cannot_check"][0]["text"]
    # the answers given so far are kept: nothing clears a slot
    assert not [e for e in events if e.get("event") == "slot" and e["value"] is None]


def test_the_action_server_registers_every_domain_action():
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    custom = [a for a in DOMAIN["actions"] if a != "action_session_start"] + ["action_session_start"]
    assert set(custom) <= set(executor.actions)


def test_a_volunteered_answer_arrives_as_its_code_and_is_accepted():
    base = {**CONSENTED, "age": 58, "tumor_site": "larynx", "stage": ["III"]}
    messages, slots = answer(base, "it was poorly differentiated", "ecog",
                             entities=[{"entity": "differentiation", "value": "poor"}])
    assert slots["differentiation"] == "poor" and "didn't get that" not in texts(messages)
