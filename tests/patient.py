"""The scripted patient of the end-to-end tests: scenarios, the answers a patient gives
by default, playing a screening to its result, and the checks every complete screening
must pass.

Shared support, not tests: tests/test_conversations.py plays every scenario on the stack,
tests/test_scale_out.py across several Rasa workers, tests/test_security.py a screening
whose answers must never reach a log, and bench/bench_load.py times SEVERAL_AT_ONCE with
PATIENT_DEFAULTS under load. The answers are the user's words; the bot's question is read
from the tracker's ``requested_slot``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Protocol


class Chat(Protocol):
    """What playing needs of a running bot: tests/stack.Stack, or the scale-out test's cluster."""

    def say(self, sender: str, message: str, metadata: dict | None = None) -> list[dict]: ...

    def tracker(self, sender: str) -> dict: ...


SEED_A, SEED_B = "NCT06100497", "NCT07320690"  # PD-1 + chemo, poorly differentiated | surgery after immunotherapy
PARTIAL = {"NCT05854823", "NCT06323369", "NCT06345287", "NCT05343325", "NCT07090707"}
MAX_TURNS = 30

# Answers a patient gives to each question, unless a scenario says otherwise.
PATIENT_DEFAULTS = {
    "consent": "yes, I agree",
    "p16": "I don't know",
    "histology": "squamous cell carcinoma",
    "differentiation": "poorly differentiated",
    "immunotherapy_response": "not sure",
    "immunotherapy_cycles": "not sure",
    "pathologic_response": "not sure",
    "recurrent": "no",
    "resectable": "not sure",
    "other_cancer_5y": "no",
    "sex": "male",
    "pregnant": "no",
    "location": "Shanghai",
}


@dataclass
class Scenario:
    name: str
    opening: list[str]  # what the user says before the first question is answered
    answers: dict[str, str | list[str]]  # slot -> the user's words (or a button payload); a list: one per ask
    verdicts: dict[str, str]  # nct_id -> expected verdict
    metadata: dict | None = None
    reask: set[str] = field(default_factory=set)  # questions the bot may rightly ask again
    never_asked: set[str] = field(default_factory=set)  # not asked once the opening messages are said
    max_questions: int | None = None
    replies: list[str] = field(default_factory=list)  # words the bot must have said at some point

    def answer(self, slot: str, times_asked: int) -> str:
        if slot in self.answers:
            given = self.answers[slot]
            return given if isinstance(given, str) else given[min(times_asked, len(given) - 1)]
        if slot in PATIENT_DEFAULTS:
            return PATIENT_DEFAULTS[slot]
        raise AssertionError(f"{self.name}: the bot asked {slot!r}, which this screening did not expect")


# Three answers in the third message. Also the load benchmark's patient (bench/bench_load.py,
# with PATIENT_DEFAULTS): the consent, age, site and stage answers are there for a bot that
# asks them again anyway (the benchmark answers; this scenario's check fails on never_asked).
SEVERAL_AT_ONCE = Scenario(
    "several answers in one message are all taken; none is asked again",
    ["hello", "yes", "I'm 61 with stage 4a cancer of the hypopharynx"],
    {
        "consent": "yes",  # as in the opening
        "age": "I'm 61",
        "tumor_site": "hypopharynx",
        "stage": "stage 4a",
        "ecog": "ECOG 1",
        "prior_treatment": "no treatment yet",
    },
    {SEED_A: "eligible", SEED_B: "ineligible"},
    never_asked={"age", "tumor_site", "stage"},
)

SCENARIOS = [
    Scenario(
        "patient, hypopharynx IVA, ECOG by button, no treatment yet",
        ["hello"],
        {
            "age": "I'm 61",
            "tumor_site": "hypopharynx",
            "stage": "stage 4a",
            "ecog": '/inform{"ecog": "1"}',
            "prior_treatment": "no treatment yet",
        },
        # A: 61 >= 18, hypopharynx listed, IVA in III-IVB, ECOG 1 <= 1, poorly differentiated SCC,
        #    no PD-1 with chemo, no other cancer: every pre-screening criterion met.
        # B: "Received neoadjuvant immunotherapy" is required and none was given.
        {SEED_A: "eligible", SEED_B: "ineligible"},
        replies=["not medical advice"],
    ),
    Scenario(
        "patient, larynx T3N1M0 after pembrolizumab with a partial response",
        ["can you find me a trial?"],
        {
            "age": "58",
            "tumor_site": "the voice box",
            "stage": "T3N1M0",
            "ecog": "ECOG 0",
            "prior_treatment": "pembrolizumab and cisplatin, 3 cycles",
            "immunotherapy_response": "partial response",
            "immunotherapy_cycles": "3 cycles",
        },
        # A: "previously received PD-1/L1 combined chemotherapy drugs" excludes.
        # B: larynx T3N1M0 is stage III; PD-1 inhibitor for 3 (<= 6) cycles with a PR;
        #    no curative surgery or radiotherapy; not recurrent.
        {SEED_A: "ineligible", SEED_B: "eligible"},
    ),
    Scenario(
        "patient with nasopharyngeal cancer: the questions stop early",
        ["hi"],
        {"age": "I'm fifty-two", "tumor_site": "nasopharynx"},
        # Both seed trials exclude nasopharyngeal carcinoma in so many words.
        {SEED_A: "ineligible", SEED_B: "ineligible"},
        never_asked={"stage", "ecog", "prior_treatment", "location"},
        max_questions=3,  # consent, age, site
        replies=["none of the trials whose full criteria I have can fit"],
    ),
    Scenario(
        "patient with breast cancer: explained, and every head-and-neck trial listed as not fitting",
        ["hello"],
        {"age": "47", "tumor_site": "breast"},
        {SEED_A: "ineligible", SEED_B: "ineligible", **{nct: "ineligible" for nct in PARTIAL}},
        never_asked={"stage", "ecog"},
        replies=["cancers of the head and neck"],
    ),
    Scenario(
        "a 16-year-old is answered kindly and still gets a result",
        ["hello"],
        {"age": "I'm 16", "tumor_site": "tonsil", "stage": "stage 3", "ecog": "ECOG 0", "prior_treatment": "none"},
        {SEED_A: "ineligible", SEED_B: "ineligible"},  # both: "Age >= 18"
        replies=["for adults"],
    ),
    Scenario(
        "an impossible age is refused and asked again, then the screening goes on",
        ["hello"],
        {
            "age": ["250", "I'm 61"],
            "tumor_site": "larynx",
            "stage": "stage 4b",
            "ecog": "ECOG 2",
            "prior_treatment": "none",
        },
        # A patient's own ECOG 2 against "ECOG 0-1" is for the study team to assess (issue 10, case
        # 13): A stays open. B: no immunotherapy was received, so it does not fit.
        {SEED_A: "uncertain", SEED_B: "ineligible"},
        reask={"age"},
        replies=["doesn't look like a possible age"],
    ),
    Scenario(
        "don't-know answers stay unknown: nothing is called eligible",
        ["hello"],
        {
            "age": "64",
            "tumor_site": "hypopharynx",
            "stage": "I don't know",
            "ecog": "/dont_know",
            "prior_treatment": "none",
        },
        # A: stage and ECOG unknown -> cannot be eligible, nothing fails. B: no immunotherapy.
        {SEED_A: "uncertain", SEED_B: "ineligible"},
        replies=["pathology report"],
    ),
    SEVERAL_AT_ONCE,
    Scenario(
        "a correction at a later question replaces the age and re-checks it",
        ["hello"],
        {
            "age": "61",
            "tumor_site": "larynx",
            "stage": "stage 3",
            "ecog": ["sorry, I'm actually 80", "ECOG 1"],
            "prior_treatment": "none",
        },
        # The age becomes 80: B's "18-75 years" fails; A has no upper age limit.
        {SEED_B: "ineligible"},
        reask={"ecog"},
    ),
    Scenario(
        "nurse (role in the message metadata), clinical shorthand, TNM and KPS",
        ["hello"],
        {
            "age": "70",
            "tumor_site": "oropharynx",
            "p16": "p16 negative",
            "stage": "cT4a N2b M0",
            "ecog": "KPS 80",
            "prior_treatment": "nivolumab x2, PR",
            "immunotherapy_response": "PR",
            "immunotherapy_cycles": "2",
        },
        # p16-negative oropharynx cT4a N2b M0 = IVA. A: poorly differentiated SCC, PD-1 alone (no chemo)
        # does not exclude, ECOG 1 -> eligible. B: IVA allowed for p16-negative oropharynx, nivolumab
        # 2 cycles with PR, no curative treatment, not recurrent -> eligible.
        {SEED_A: "eligible", SEED_B: "eligible"},
        metadata={"role": "nurse"},
        replies=["ECOG 0"],  # nurse wording: grades, not everyday descriptions
    ),
    Scenario(
        "nurse who says so, in one message",
        ["I'm a nurse pre-screening a patient", "yes", "65 year old male, larynx, T3N0M0, ECOG 0, no prior therapy"],
        {},
        {SEED_A: "eligible", SEED_B: "ineligible"},
        never_asked={"age", "tumor_site", "stage", "ecog", "prior_treatment"},
        replies=["Nurse mode"],
    ),
    Scenario(
        "ECOG 3 by its everyday description rules both seed trials out",
        ["hello"],
        {"age": "59", "tumor_site": "larynx", "stage": "stage 3", "ecog": '/inform{"ecog": "3"}'},
        {SEED_A: "ineligible", SEED_B: "ineligible"},
    ),
]


def texts_of(replies: list[dict]) -> list[str]:
    """The texts of the bot's replies (REST channel), without buttons."""
    return [r["text"] for r in replies if r.get("text")]


def shown_in(replies: list[dict]) -> list[str]:
    """Texts and button titles: what the user sees."""
    return texts_of(replies) + [b["title"] for r in replies for b in r.get("buttons") or []]


def result_in(replies: list[dict]) -> dict | None:
    """The ``trial_matches`` result among the replies, if the bot sent one."""
    return next(
        (
            r["custom"]
            for r in replies
            if isinstance(r.get("custom"), dict) and r["custom"].get("type") == "trial_matches"
        ),
        None,
    )


def questions_in(tracker: dict) -> list[str]:
    """The questions the bot asked, in order: one per utter_question_<slot> it said."""
    asked = []
    for event in tracker["events"]:
        action = (event.get("metadata") or {}).get("utter_action") or ""
        if event.get("event") == "bot" and action.startswith("utter_question_"):
            asked.append(action[len("utter_question_") :].removesuffix("_choice"))
    return asked


def play(stack: Chat, scenario: Scenario, sender: str) -> tuple[dict, list[str], list[str], int]:
    """Play one screening to its result: (trial_matches, questions asked, everything the bot
    showed, how many questions were asked by the end of the opening messages)."""
    said: list[str] = []
    result = None
    for message in scenario.opening:
        replies = stack.say(sender, message, scenario.metadata)
        said += shown_in(replies)
        result = result or result_in(replies)
    after_opening = len(questions_in(stack.tracker(sender)))
    times: dict[str, int] = {}
    for _ in range(MAX_TURNS):
        if result is not None:
            break
        asking = stack.tracker(sender)["slots"].get("requested_slot")
        assert asking, f"{scenario.name}: the bot stopped asking without a result; it said {said[-3:]}"
        replies = stack.say(sender, scenario.answer(asking, times.get(asking, 0)), scenario.metadata)
        times[asking] = times.get(asking, 0) + 1
        assert replies, f"{scenario.name}: no reply to the {asking} answer"
        said += shown_in(replies)
        result = result_in(replies)
    assert result is not None, f"{scenario.name}: no result after {MAX_TURNS} answers"
    return result, questions_in(stack.tracker(sender)), said, after_opening


def check_complete_screening(stack: Chat, scenario: Scenario) -> None:
    """Play ``scenario`` to its result (sender ``e2e-`` + its name) and check the screening:
    the expected verdicts, the result's shape, no question asked twice (except straight after
    an answer the bot could not accept), never-asked questions, and the words the bot must say.
    tests/test_conversations.py runs it on the stack, tests/test_scale_out.py across workers."""
    sender = "e2e-" + re.sub(r"\W+", "-", scenario.name)[:40]
    result, questions, said, after_opening = play(stack, scenario, sender)

    verdicts = {m["nct_id"]: m["verdict"] for m in result["matches"]}
    assert {SEED_A, SEED_B} <= set(verdicts), "both seed trials are always listed"
    for nct_id, expected in scenario.verdicts.items():
        assert verdicts[nct_id] == expected, f"{nct_id}: {verdicts[nct_id]} (expected {expected})"
    for match in result["matches"]:
        if match["partial_criteria"]:
            assert match["verdict"] != "eligible", f"{match['nct_id']} has partial criteria"
        assert match["url"].startswith("https://clinicaltrials.gov/")
        for status in ("met", "not_met", "unknown"):
            assert all(isinstance(text, str) and text for text in match[status])  # the trial's own words
        if match["verdict"] == "ineligible":
            assert match["not_met"], f"{match['nct_id']} is ruled out without a reason"
    assert "study team" in result["disclaimer"]

    # No question asked twice, except straight after an answer the bot could not accept.
    repeats = [q for q, group in itertools.groupby(questions) if len(list(group)) > 1]
    assert set(repeats) <= scenario.reask, f"asked again: {repeats} in {questions}"
    distinct = [q for q, _ in itertools.groupby(questions)]
    assert len(distinct) == len(set(distinct)), f"a question came back later: {questions}"
    later = set(questions[after_opening:])
    assert not (later & scenario.never_asked), f"asked {later & scenario.never_asked} in {questions}"
    if scenario.max_questions is not None:
        assert len(questions) <= scenario.max_questions, questions
    everything = "\n".join(said)
    for words in scenario.replies:
        assert words.lower() in everything.lower(), f"the bot never said {words!r}"
