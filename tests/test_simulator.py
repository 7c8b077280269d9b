"""The dialogue simulator (tests/simulator): generated screenings against the real stack.

The slow part plays ``TRIALBOT_SIM_N`` (300) seeded screenings over REST on the shared
stack, ``TRIALBOT_SIM_WORKERS`` (2) conversations at a time, and asserts for every one
(tests/simulator/checks.py): a ``trial_matches`` result within 25 turns, and a new one after
a late answer; no question asked more than three times in a row (from the bot events'
``utter_action``), and after the third ask the answer or "unknown" recorded; never two
replies in a row without a question, buttons or the result; the verdicts of every result
equal ``knowledge.engine`` on the profile the simulated user meant then, with what the bot
derives by rule (``ecog_source``, ``stage_ajcc7``; trials with full criteria exactly; partial
trials never eligible and equal on the fields the bot collected); exactly one record per
conversation, under one reference. A failing screening shows its whole transcript. The
figures (questions and turns to the result, median and p90, screenings that needed a skip,
late answers, wall time) are printed and written to results/simulator/.

The fast part tests the simulator itself, without a stack: the phrase banks (at least 8
phrasings per kind of answer; every phrasing means, through knowledge.normalize, exactly
what the bank claims), reproducible generation, and a reference bot that keeps the
dialogue contract passing every invariant while known-bad bots are caught.
"""

from __future__ import annotations

import functools
import json
import os
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from knowledge import engine
from tests.simulator import bank as banks
from tests.simulator import catalogue
from tests.simulator.checks import format_outcome
from tests.simulator.fakebot import ReferenceBot
from tests.simulator.generator import generate, make_plan
from tests.simulator.profiles import CORE, UNKNOWN, relative_words
from tests.simulator.report import figures, run, text_summary, write
from tests.simulator.user import SimulatedUser
from tests.stack import MODEL, ROOT

SEED = int(os.environ.get("TRIALBOT_SIM_SEED", "20261126"))
N = int(os.environ.get("TRIALBOT_SIM_N", "300"))
# Chinese screenings (phrases/zh.yaml): the same personas and invariants, typed in Chinese.
N_ZH = int(os.environ.get("TRIALBOT_SIM_N_ZH", "150"))
WORKERS = int(os.environ.get("TRIALBOT_SIM_WORKERS", "2"))
LANGUAGES = banks.languages()


@pytest.fixture(autouse=True)
def fast_reading():
    """The knowledge readers, with their term regexes cached (catalogue.fast_vocabulary)."""
    with catalogue.fast_vocabulary():
        yield


# --- the phrase banks ------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def phrasings(language: str, exhaustive: bool = True) -> tuple[catalogue.Item, ...]:
    """Every phrasing of a language's bank (catalogue.items), enumerated once per process:
    four tests read the same ~8,000 (1-2 s to enumerate). Items are never changed."""
    return tuple(catalogue.items(banks.load(language), exhaustive=exhaustive))


def _group(item: catalogue.Item) -> tuple:
    """A kind of answer: the kind, and the value it means (numbers: any value)."""
    if item.kind in ("age", "immunotherapy_cycles") or (item.kind, item.key) == ("correction", "age"):
        return item.kind, item.key
    if "prior_treatment_open" in item.claims:  # answers the reader leaves open, whatever the reason
        return item.kind, None, "open"
    value = json.dumps(next(iter(item.claims.values())), sort_keys=True) if item.claims else None
    return item.kind, item.key if item.kind in ("correction", "opening", "offtopic_question") else None, value


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_of_answer_has_at_least_8_phrasings(language):
    bank = banks.load(language)
    texts: dict[tuple, set[str]] = defaultdict(set)
    for item in phrasings(language):
        texts[_group(item)].add(item.text.lower())
    few = {group: len(t) for group, t in texts.items() if len(t) < 8}
    assert not few, f"fewer than 8 phrasings: {few}"
    # The kinds the issue names, each with its own words.
    for kind in ("dont_know", "correction", "offtopic_question", "remark", "nudge", "opening"):
        assert any(g[0] == kind for g in texts), f"no {kind} phrasings"
    assert len(texts[("opening", "other", None)]) >= 8, "openings that are not a greeting"
    several = bank.answers["several"]["clauses"]
    assert set(CORE) <= set(several), "several facts at once: a clause for each core question"
    assert len(bank.typos["filler"]) >= 8 and len(bank.typos["terms"]) >= 8, "typos"
    assert bank.settings.get("lower_case") is not None


@pytest.mark.parametrize("language", LANGUAGES)
def test_relatives_and_nurses_have_their_own_words_for_every_answer(language):
    """A relative speaks in the third person, a nurse in clinical words: every answer kind
    has templates in both registers (lay/self for the patient)."""
    bank = banks.load(language)
    for kind in (
        "age",
        "tumor_site",
        "stage",
        "ecog",
        "p16",
        "differentiation",
        "histology",
        "immunotherapy_response",
        "immunotherapy_cycles",
        "pathologic_response",
    ):
        for voice in bank.voices:
            assert bank.templates(kind, None, voice), f"{kind}: no templates for {voice}"
    for history in bank.keys("prior_treatment"):
        for voice in bank.voices:
            assert bank.templates("prior_treatment", history, voice), f"{history}: no templates for {voice}"
    other = [t.text for t in bank.templates("age", None, "carer")]
    assert any("{he}" in t or "{He}" in t for t in other), "relatives speak of the patient in the third person"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_phrasing_means_what_the_bank_claims(language):
    """Through knowledge.normalize (what the form's validation uses), every phrasing
    (every template and every term at least once) means exactly its claimed value.

    Consent phrasings are left out: consent is read from the NLU's affirm intent or the
    button, not by a normaliser. Phrasings tagged ``gap`` are known normaliser gaps
    (next test)."""
    bank = banks.load(language)
    wrong = []
    for item in phrasings(bank.language, exhaustive=False):
        if item.kind == "consent" or item.phrase.gaps:
            continue
        got, meant = catalogue.read(item), catalogue.expected(item)
        if got != meant:
            wrong.append(
                f"{item.kind} {item.text!r} ({item.speaker.voice}): normalises to {got}, the bank claims {meant}"
            )
    assert not wrong, f"{len(wrong)} unfaithful phrasings:\n" + "\n".join(wrong[:40])


@pytest.mark.parametrize("language", LANGUAGES)
def test_known_normaliser_gaps_are_still_gaps(language):
    """A phrasing tagged ``gap`` must still be misread somewhere, else the tag is stale:
    remove it (the normaliser learnt it, and the simulator should stop excusing it)."""
    bank = banks.load(language)
    outcome: dict[str, list[bool]] = defaultdict(list)
    for item in phrasings(bank.language, exhaustive=False):
        for gap in item.phrase.gaps:
            outcome[gap].append(catalogue.read(item) == catalogue.expected(item))
    stale = sorted(gap for gap, ok in outcome.items() if all(ok))
    assert not stale, f"gap tags that normalise correctly everywhere now: {stale}"
    # The gaps themselves are part of the report: print them.
    print("known normaliser gaps:", *sorted(outcome), sep="\n  ")


def test_several_facts_in_one_message_mean_every_fact():
    """Each clause of a several-facts message means its fact (read alone, as the bot's
    entity extraction must find it in the whole message: that part is the bot's job)."""
    bank = banks.load("en")
    wrong, checked = [], 0
    for index in range(400):
        plan = make_plan(SEED, index, bank)
        plan.several_at, plan.several_count, plan.correction = "age", 5, None
        user = SimulatedUser(plan, bank)
        message = user._several("age")
        if message is None:
            continue
        checked += 1
        truth = plan.persona.truth
        for _name, clause, claims in message.parts:
            if clause.gaps:
                continue
            p16 = truth["p16"] if truth["p16"] in ("positive", "negative") else None
            item = catalogue.Item(
                "several", None, user.speaker, clause, claims, {"site": truth["tumor_site"], "p16": p16}
            )
            got = catalogue.read(item)
            if got != catalogue.expected(item):
                wrong.append(f"{clause.text!r} in {message.text!r}: reads {got}, meant {claims}")
    assert checked >= 100
    assert not wrong, "\n".join(wrong[:30])


def test_a_typo_in_a_filler_word_never_changes_the_meaning():
    bank = banks.load("en")
    rng = random.Random(1)
    changed = []
    for item in phrasings(bank.language, exhaustive=False):
        if item.kind == "consent" or item.phrase.gaps or not item.claims:
            continue
        text, made = bank.typo(item.text, rng, prefer="filler", terms=item.phrase.terms)
        if made != "filler":
            continue
        typo = catalogue.Item(item.kind, item.key, item.speaker, item.phrase.with_text(text), item.claims, item.context)
        if catalogue.read(typo) != catalogue.expected(item):
            changed.append(f"{item.text!r} -> {text!r}")
    assert not changed, changed[:20]


# --- generation --------------------------------------------------------------------------------


def test_generation_is_reproducible_with_a_seed():
    bank = banks.load("en")
    first = [p.to_dict() for p in generate(60, SEED, bank)]
    again = [p.to_dict() for p in generate(60, SEED, bank)]
    assert first == again
    assert [p.to_dict() for p in generate(10, SEED, bank, start=50)] == first[50:60], "screening i does not depend on n"
    assert [p.to_dict() for p in generate(60, SEED + 1, bank)] != first
    # The play is seeded too: the same screening against the same bot says the same words.
    plans = generate(20, SEED, bank)
    a, _ = run(ReferenceBot(), plans, bank, workers=1)
    b, _ = run(ReferenceBot(), plans, bank, workers=2)
    assert [[t.sent.text for t in o.transcript.turns] for o in a] == [
        [t.sent.text for t in o.transcript.turns] for o in b
    ]


def test_the_generated_screenings_cover_the_patients_the_issue_lists():
    """Over the screenings `make test` plays: every head-and-neck site (nasopharynx
    included), the age boundaries 17/18/75/76, stage in words, alone and as TNM, every
    ECOG grade, the treatment histories, and each voice and perturbation."""
    bank = banks.load("en")
    plans = generate(300, SEED, bank)  # the first 300 are played by `make test` whatever TRIALBOT_SIM_N is
    truth = [p.persona.truth for p in plans]
    sites = Counter(t["tumor_site"] for t in truth)
    for site in (
        "oral_cavity",
        "oropharynx",
        "hypopharynx",
        "larynx",
        "nasal_cavity_paranasal_sinuses",
        "nasopharynx",
        "salivary_gland",
        "unknown_primary",
    ):
        assert sites[site] >= 2, (site, sites)
    ages = Counter(t["age"] for t in truth)
    assert all(ages[a] >= 2 for a in (17, 18, 75, 76)), ages
    assert {"words", "alone", "tnm", "unknown"} <= {p.persona.stage_form for p in plans}
    grades = {tuple(t["ecog"]) if isinstance(t["ecog"], list) else t["ecog"] for t in truth}
    assert {0, 1, 2, 3, 4, UNKNOWN} <= grades, grades
    assert len([g for g in grades if isinstance(g, tuple)]) >= 3, "KPS scores that mean two ECOG grades"
    histories = Counter(p.persona.history for p in plans)
    for history in (
        "none",
        "planned",
        "pd1_chemo",
        "pd1_only",
        "chemo_only",
        "surgery",
        "radiotherapy",
        "surgery_radiotherapy",
        "chemoradiotherapy",
        "refused",
    ):
        assert histories[history] >= 2, (history, histories)
    locations = Counter(p.persona.location_kind for p in plans)
    assert all(locations[k] >= 2 for k in ("city", "province", "anywhere", "country", "rather_not_say", "skip")), (
        locations
    )
    relatives = Counter(p.persona.relative for p in plans if p.persona.relative)
    assert len(relatives) >= 6, relatives
    tags = Counter(t.split(":")[0] for p in plans for t in p.perturbations)
    for tag in (
        "voice",
        "opening",
        "dont_know",
        "correction",
        "several",
        "offtopic",
        "remark",
        "typo",
        "lower_case",
        "late",
    ):
        assert tags[tag] >= 10, (tag, tags)
    late = Counter(t for p in plans for t in p.perturbations if t.startswith("late:"))
    assert all(late[f"late:{k}"] >= 3 for k in ("age", "recurrent", "location")), late
    assert Counter(p.persona.voice for p in plans).keys() == {"patient", "carer", "nurse"}
    for plan in plans:  # every intended profile is a valid engine profile
        engine.encode_profile({k: v for k, v in plan.persona.truth.items()})


# --- the simulator against a reference bot -------------------------------------------------------


@functools.lru_cache(maxsize=None)
def played_against(bugs: frozenset[str] = frozenset()) -> list:
    """The first 150 generated screenings played against the reference bot with ``bugs``:
    once per set of bugs (two invariants are checked on the same bot). Deterministic."""
    bank = banks.load("en")
    outcomes, _ = run(ReferenceBot(bugs), generate(150, SEED, bank), bank, workers=1)
    return outcomes


def test_a_bot_that_keeps_the_contract_passes_every_invariant():
    outcomes = played_against()
    failed = [o for o in outcomes if not o.ok]
    assert not failed, format_outcome(failed[0])
    fig = figures(outcomes, 1.0, 1)
    assert fig["questions_to_result"]["median"] is not None


@pytest.mark.parametrize(
    "bug, invariant",
    [
        ("reask_forever", "asked_more_than_3"),
        ("moves_on_silently", "not_unknown_after_3"),
        ("statements", "two_replies_without_question"),
        ("ignores_corrections", "late_answer_no_result"),
        ("record_per_result", "records"),
        ("record_per_result", "record_reference"),
    ],
)
def test_each_invariant_catches_a_bot_that_breaks_it(bug, invariant):
    outcomes = played_against(frozenset({bug}))
    caught = Counter(f.code for o in outcomes for f in o.failures)
    assert caught[invariant] >= 1, caught


def test_late_answers_update_the_same_screening_and_the_reference_bot_keeps_the_contract():
    """After the result some users correct their age, say it came back, or name a city: a new
    result follows, checked against what they mean now, and the record keeps its reference."""
    bank = banks.load("en")
    plans = [p for p in generate(300, SEED, bank) if p.late][:40]
    assert {p.late[0] for p in plans} == {"age", "recurrent", "location"}
    outcomes, _ = run(ReferenceBot(), plans, bank, workers=1)
    for o in outcomes:
        assert o.ok, format_outcome(o)
        results = o.transcript.results
        assert len(results) >= 2, format_outcome(o)
        late = next(t for t in o.transcript.turns if t.sent.kind == "late")
        assert results[-1][0] >= late.number
        if late.sent.field in ("age", "recurrent"):  # the updated result is checked on the updated meaning
            assert o.transcript.turns[results[-1][0] - 1].meant[late.sent.field] == late.sent.claims[late.sent.field]
        assert o.transcript.records == ["SIM-0001"]


def test_a_relative_asked_with_the_patients_wording_is_reported():
    bank = banks.load("en")
    known = {
        relative_words(e)[0]
        for sex in ("male", "female")
        for e in bank.data["relatives"][sex]
        if not relative_words(e)[1]
    }  # a relative word the vocabulary lacks is a known gap
    plans = [p for p in generate(200, SEED, bank) if p.persona.voice == "carer" and p.persona.relative in known][:25]
    good, _ = run(ReferenceBot(), plans, bank, workers=1)
    bad, _ = run(ReferenceBot({"second_person"}), plans, bank, workers=1)
    assert sum(bool(o.diagnostics["second_person_to_relative"]) for o in good) == 0
    assert sum(bool(o.diagnostics["second_person_to_relative"]) for o in bad) >= 20


def test_a_wrong_verdict_is_caught_with_the_misread_field():
    """A bot that hears every age as 80 gives other verdicts than the user meant."""
    bank = banks.load("en")

    class Misreads(ReferenceBot):
        def say(self, sender, message, metadata):
            if "age" in message.claims:
                message.claims = {**message.claims, "age": 80}
            return super().say(sender, message, metadata)

    outcomes, _ = run(Misreads(), generate(60, SEED, bank), bank, workers=1)
    verdicts = [f for o in outcomes for f in o.failures if f.code == "verdict"]
    assert verdicts and "age: bot 80" in verdicts[0].detail


# --- against the real stack ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(shared_stack):
    return shared_stack


@pytest.fixture(scope="module")
def played(stack):
    from tests.simulator.player import StackClient

    bank = banks.load("en")
    with catalogue.fast_vocabulary():  # the checks read stage words too (module scope: the autouse one is not on yet)
        outcomes, wall = run(
            StackClient(stack), generate(N, SEED, bank), bank, workers=WORKERS, run_id=os.urandom(3).hex()
        )
    fig = figures(outcomes, wall, WORKERS)
    fig.update({"seed": SEED, "language": "en"})
    summary = text_summary(fig, outcomes)
    write(ROOT / "results" / "simulator", fig, outcomes, summary)
    return outcomes, fig, summary


needs_model = pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make train` (make test does)")


@pytest.mark.slow
@needs_model
def test_simulated_screenings_figures(played, capsys):
    """Prints the distribution (always, not only on failure) and where the reports are."""
    outcomes, fig, summary = played
    assert len(outcomes) == N
    head = summary.split("\n\n--- ")[0]
    with capsys.disabled():
        print(f"\n\ndialogue simulator, seed {SEED}:\n{head}\nreports: {ROOT / 'results' / 'simulator'}\n")


@pytest.mark.slow
@needs_model
@pytest.mark.parametrize("index", range(N))
def test_simulated_screening(played, index):
    outcome = played[0][index]
    assert outcome.ok, "\n" + format_outcome(outcome)


def test_reports_folder_is_git_ignored():
    assert "results/" in Path(ROOT / ".gitignore").read_text().split()


# --- the same, in Chinese ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def played_zh(stack):
    from tests.simulator.player import StackClient

    bank = banks.load("zh")
    outcomes, wall = run(
        StackClient(stack), generate(N_ZH, SEED, bank), bank, workers=WORKERS, run_id=os.urandom(3).hex()
    )
    fig = figures(outcomes, wall, WORKERS)
    fig.update({"seed": SEED, "language": "zh"})
    summary = text_summary(fig, outcomes)
    write(ROOT / "results" / "simulator_zh", fig, outcomes, summary)
    return outcomes, fig, summary


@pytest.mark.slow
@needs_model
def test_simulated_chinese_screenings_figures(played_zh, capsys):
    """Prints the Chinese run's distribution and where its reports are."""
    outcomes, fig, summary = played_zh
    assert len(outcomes) == N_ZH
    head = summary.split("\n\n--- ")[0]
    with capsys.disabled():
        print(
            f"\n\ndialogue simulator in Chinese, seed {SEED}:\n{head}\nreports: {ROOT / 'results' / 'simulator_zh'}\n"
        )


@pytest.mark.slow
@needs_model
@pytest.mark.parametrize("index", range(N_ZH))
def test_simulated_chinese_screening(played_zh, index):
    outcome = played_zh[0][index]
    assert outcome.ok, "\n" + format_outcome(outcome)
