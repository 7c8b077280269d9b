"""Complete screenings against the real stack (action server included), over REST.

Rasa test stories (tests/stories/) check the dialogue's next actions but do not
run custom actions. Here every screening is played as a patient or a nurse
would: the bot asks, the test answers the question the bot is asking (from the
tracker's ``requested_slot``) in plain words or by pressing a button, until
the bot sends its ``trial_matches`` result. Each screening then asserts:

- the verdicts of the two seed trials (full criteria), argued from the trials'
  own words in the comments, and that no trial is called eligible on a partial record;
- that no question was asked twice (re-asking right after an answer the bot could
  not accept is allowed only where the scenario says so);
- what the scenario is about (nurse wording, stopping early, a correction...).

The scripted patient (scenarios, default answers, playing and checking a screening) is
tests/patient.py, shared with the scale-out and security tests and the load benchmark.
"""

from __future__ import annotations

import pytest

from tests.patient import (
    SCENARIOS,
    SEED_A,
    SEED_B,
    Scenario,
    check_complete_screening,
    play,
    questions_in,
    result_in,
    texts_of,
)
from tests.stack import MODEL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make train` (make test does)"),
]


@pytest.fixture(scope="module")
def stack(shared_stack):
    return shared_stack


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_a_complete_screening(stack, scenario):
    check_complete_screening(stack, scenario)


def test_declining_consent_asks_nothing_and_keeps_nothing(stack):
    sender = "e2e-decline"
    stack.say(sender, "hello")
    replies = stack.say(sender, "no thanks")
    assert "nothing more will be asked" in " ".join(texts_of(replies))
    assert result_in(replies) is None
    tracker = stack.tracker(sender)
    assert questions_in(tracker) == ["consent"]
    assert all(tracker["slots"].get(s) is None for s in ("age", "tumor_site", "stage", "ecog"))


def test_after_the_result_why_not_quotes_the_trial_and_details_say_how_to_take_part(stack):
    sender = "e2e-after-result"
    play(stack, SCENARIOS[0], sender)
    why_not = " ".join(texts_of(stack.say(sender, f"why not {SEED_B}?")))
    assert (
        "own words" in why_not and "immune checkpoint" in why_not.lower()
    )  # B's "Received preoperative immune checkpoint..."
    details = " ".join(texts_of(stack.say(sender, f"tell me more about {SEED_B}")))
    assert "How to take part" in details and "clinicaltrials.gov" in details.lower()
    assert "study team" in details


def test_a_correction_after_the_result_re_screens_with_the_new_answer(stack):
    sender = "e2e-correct-after"
    first, *_ = play(stack, SCENARIOS[0], sender)
    assert {m["nct_id"]: m["verdict"] for m in first["matches"]}[SEED_A] == "eligible"
    replies = stack.say(sender, "I made a mistake in my age")
    assert stack.tracker(sender)["slots"]["requested_slot"] == "age"
    replies = stack.say(sender, "I'm 16")
    second = result_in(replies)
    assert second is not None, "the corrected screening ends with a new result"
    assert second["profile"]["age"] == 16
    assert {m["nct_id"]: m["verdict"] for m in second["matches"]}[SEED_A] == "ineligible"


def test_skipping_the_city_ends_the_screening_with_sites_unsorted(stack):
    scenario = Scenario("skip city", ["hello"], {**SCENARIOS[0].answers, "location": "/skip"}, SCENARIOS[0].verdicts)
    result, questions, _, _ = play(stack, scenario, "e2e-skip-city")
    assert questions.count("location") == 1
    assert all(site["distance_km"] is None for m in result["matches"] for site in m["sites"])


def test_naming_a_city_after_the_result_sorts_the_sites_by_distance(stack):
    sender = "e2e-city-after"
    scenario = Scenario("city later", ["hello"], {**SCENARIOS[0].answers, "location": "skip"}, {})
    play(stack, scenario, sender)
    result = result_in(stack.say(sender, "I live in Beijing"))
    assert result is not None and result["profile"] is not None
    distances = [s["distance_km"] for m in result["matches"] for s in m["sites"] if s.get("lat") is not None]
    assert distances and all(d is not None for d in distances)


def test_nurse_mode_survives_a_restart(stack):
    sender = "e2e-nurse-restart"
    nurse = {"role": "nurse"}
    stack.say(sender, "hello", nurse)
    assert stack.tracker(sender)["slots"]["role"] == "nurse"
    stack.say(sender, "/restart", nurse)
    stack.say(sender, "hello", nurse)
    assert stack.tracker(sender)["slots"]["role"] == "nurse"


def test_questions_mid_form_are_answered_and_the_same_question_resumes(stack):
    sender = "e2e-mid-form"
    for message in ("hello", "yes", "I'm 61", "hypopharynx", "stage 4a"):
        stack.say(sender, message)
    assert stack.tracker(sender)["slots"]["requested_slot"] == "ecog"
    said = " ".join(texts_of(stack.say(sender, "what does ECOG mean?")))
    assert "day to day" in said and stack.tracker(sender)["slots"]["requested_slot"] == "ecog"
    replies = stack.say(sender, "why do you need this?")
    assert "criteria" in " ".join(texts_of(replies)) and stack.tracker(sender)["slots"]["requested_slot"] == "ecog"
    assert any(b["payload"] == "/skip" for r in replies for b in r.get("buttons") or []), "the third ask offers a skip"
    # A fourth time the question is not asked: ECOG is recorded as unknown and the screening goes on.
    replies = stack.say(sender, "are you a bot?")
    assert "computer program" in " ".join(texts_of(replies))
    slots = stack.tracker(sender)["slots"]
    assert slots["ecog"] == "unknown" and slots["requested_slot"] == "prior_treatment"
    stack.say(sender, "go back")
    slots = stack.tracker(sender)["slots"]
    assert slots["requested_slot"] == "ecog" and slots["ecog"] is None
    stack.say(sender, "go back")
    slots = stack.tracker(sender)["slots"]
    assert slots["requested_slot"] == "stage" and slots["stage"] is None
    stack.say(sender, "stage 3")
    stack.say(sender, "skip")
    slots = stack.tracker(sender)["slots"]
    assert slots["stage"] == ["III"] and slots["ecog"] == "unknown" and slots["requested_slot"] == "prior_treatment"


def test_the_terminal_chat_script_presses_buttons_by_number(stack):
    """`python -m bot.chat` (README): a tester types a number to press a button."""
    import subprocess
    import sys

    from tests.stack import ROOT

    url = f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook"
    out = subprocess.run(
        [sys.executable, "-m", "bot.chat", "--url", url],
        input="hello\n1\n58\n/quit\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-500:]
    assert "[1] I agree" in out.stdout  # the consent buttons, numbered
    assert "How old are you?" in out.stdout  # pressing 1 sent /affirm
    assert "Where in the head or neck did the cancer start?" in out.stdout  # 58 was taken as the age
