"""Lines of therapy: a treatment answer read as what was given, in order, and why.

Each test is a way patients and nurses answer "what treatment have you had?",
and what the trials need from it: NCT07320690 counts the cycles of the
checkpoint inhibitor (at most six) and the response after it; NCT06100497
excludes a PD-1/L1 drug given with chemotherapy; neither may count planned,
refused, diagnostic or another cancer's treatment as received.
"""

from __future__ import annotations

import pytest

from knowledge import normalize, therapy


def derived(text: str) -> therapy.Derived:
    return therapy.derive(therapy.read(text))


# --- the examples -------------------------------------------------------------------


def test_case_1_cycles_are_the_immunotherapys_not_the_first_number():
    d = derived("TPF 3 cycles, then pembrolizumab 8 cycles, partial response")
    assert d.fields["immunotherapy_cycles"] == 8
    assert d.fields["prior_treatment"] == ["chemotherapy", "anti_pd1"]
    history = therapy.read("TPF 3 cycles, then pembrolizumab 8 cycles, partial response")
    assert [line.categories for line in history.lines] == [("chemotherapy",), ("anti_pd1",)]
    assert [line.cycles for line in history.lines] == [3, 8]


def test_case_1_cycles_of_two_immunotherapy_lines_are_added():
    d = derived("cisplatin and pembrolizumab for 2 cycles, then pembrolizumab alone for 6 more cycles")
    assert d.fields["immunotherapy_cycles"] == 8
    assert "immunotherapy_cycles" not in d.unsettled


def test_case_1_the_old_reader_no_longer_takes_the_chemotherapy_count():
    # normalize.treatment is what actions/forms.py copies into the cycles slot
    assert normalize.treatment("TPF 3 cycles, then pembrolizumab 8 cycles, partial response").cycles == 8


def test_case_2_response_is_the_one_after_the_immunotherapy():
    text = "TPF 2 cycles with partial response, then pembrolizumab 2 cycles, progressive disease"
    d = derived(text)
    assert d.fields["immunotherapy_response"] == "PD"
    history = therapy.read(text)
    assert history.lines[0].responses == ("PR",) and history.lines[1].responses == ("PD",)
    assert normalize.treatment(text).response == "PD"


def test_case_2_a_response_said_only_of_chemotherapy_is_not_the_immunotherapy_response():
    d = derived("TPF 2 cycles, it shrank, then pembrolizumab 2 cycles")
    assert "immunotherapy_response" not in d.fields and "immunotherapy_response" not in d.unsettled


def test_case_3_pd1_with_chemoradiotherapy_keeps_both():
    assert derived("pembrolizumab with chemoradiotherapy").fields["prior_treatment"] == [
        "chemoradiotherapy",
        "anti_pd1",
    ]
    assert derived("immunotherapy with chemoradiation").fields["prior_treatment"] == [
        "chemoradiotherapy",
        "immunotherapy_unspecified",
    ]


def test_case_7_a_diagnostic_operation_is_not_treatment():
    d = derived("diagnostic tonsillectomy, then pembrolizumab 3 cycles, partial response")
    assert d.fields["prior_treatment"] == ["anti_pd1"]
    assert therapy.read("diagnostic tonsillectomy").lines[0].intent == "diagnostic"
    assert derived("only a biopsy so far").fields["prior_treatment"] == []


def test_case_7_another_cancers_radiotherapy_is_not_this_tumours():
    text = "diagnostic tonsillectomy, then pembrolizumab 3 cycles, partial response; radiotherapy for breast cancer 10 years ago"
    history = therapy.read(text)
    assert [(line.categories, line.target) for line in history.lines][-1] == (("radiotherapy",), "other")
    assert therapy.derive(history).fields["prior_treatment"] == ["anti_pd1"]
    assert derived("radiotherapy for breast cancer").unsettled["prior_treatment"] == "other_cancer_only"


def test_planned_surgery_after_a_combined_line_the_dialogue_example():
    text = "I had three cycles of pembrolizumab with chemotherapy and the tumour shrank a lot; surgery is planned next"
    history = therapy.read(text)
    assert [(line.categories, line.status) for line in history.lines] == [
        (("chemotherapy", "anti_pd1"), "received"),
        (("surgery",), "planned"),
    ]
    d = therapy.derive(history)
    assert d.fields == {
        "prior_treatment": ["chemotherapy", "anti_pd1"],
        "immunotherapy_cycles": 3,
        "immunotherapy_response": "PR",
    }
    # The derivation says why 3 counts for the immunotherapy of a combined line.
    assert "every cycle" in d.notes["immunotherapy_cycles"]
    assert therapy.describe(history) == "pembrolizumab with chemotherapy, 3 cycles, shrank; surgery planned"


def test_a_status_is_said_with_its_treatment_not_after_the_response():
    """A typed screening heard "pembrolizumab, 4 cycles, shrank ongoing"."""
    history = therapy.read("had 4 rounds of keytruda so far, surgery is booked for next week. the tumour shrank a lot")
    assert therapy.describe(history) == "pembrolizumab ongoing, 4 cycles, shrank; surgery planned"
    assert therapy.describe(history, "zh").startswith("帕博利珠单抗（进行中），4")


# --- counts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,cycles",
    [
        ("Keytruda x3, partial response", 3),
        ("three rounds of nivolumab", 3),
        ("pembrolizumab 4 cycles and cisplatin 2 cycles", 4),  # each count said of its own drug
        ("3 cycles of pembrolizumab and cisplatin", 3),
        ("pembrolizumab and cisplatin for 3 cycles, it shrank", 3),
        ("2-3 cycles of toripalimab", [2, 3]),
        ("I'm on my 4th cycle of pembrolizumab", 4),
        ("camrelizumab x2 then camrelizumab x2 more", 4),
    ],
)
def test_cycles_of_the_immunotherapy(text, cycles):
    assert derived(text).fields["immunotherapy_cycles"] == cycles


@pytest.mark.parametrize(
    "text,reason",
    [
        ("TPF 3 cycles and pembrolizumab", "cycles_of_combined_line"),
        ("pembrolizumab 3 cycles, 4 cycles", "several_numbers"),
        ("a few cycles of pembrolizumab", "cycles_not_a_number"),
        ("8 cycles in total: TPF then pembrolizumab", "total_of_several_lines"),
        ("nivolumab 2 cycles, then pembrolizumab", "cycles_not_given_for_every_line"),
    ],
)
def test_counts_the_words_do_not_settle_are_left_to_a_follow_up(text, reason):
    d = derived(text)
    assert "immunotherapy_cycles" not in d.fields
    assert d.unsettled["immunotherapy_cycles"] == reason
    assert reason in therapy.REASONS
    # normalize.treatment gives no number then, so the form asks instead of copying one.
    assert normalize.treatment(text).cycles is None


def test_a_count_without_immunotherapy_is_kept_for_old_callers_but_not_a_cycles_field():
    assert normalize.treatment("TPF 3 cycles").cycles == 3
    assert "immunotherapy_cycles" not in derived("TPF 3 cycles").fields


# --- responses -------------------------------------------------------------------------------------


def test_two_responses_for_the_immunotherapy_are_left_open():
    d = derived("pembrolizumab 3 cycles, it shrank at first, then it grew")
    assert "immunotherapy_response" not in d.fields
    assert d.unsettled["immunotherapy_response"] == "several_responses"


def test_a_denied_response_is_not_read_as_that_response():
    d = derived("nivolumab 3 cycles but it didn't get smaller")
    assert "immunotherapy_response" not in d.fields
    assert d.unsettled["immunotherapy_response"] == "response_unclear"


def test_a_reduced_dose_is_not_a_response():
    assert "immunotherapy_response" not in derived("pembrolizumab 3 cycles at a reduced dose").fields


# --- status: planned, offered, refused, not yet, denied ------------------------------------------------


@pytest.mark.parametrize(
    "text,status",
    [
        ("surgery is planned", "planned"),
        ("they want to operate", "planned"),
        ("I will have radiotherapy next month", "planned"),
        ("I was offered chemo", "offered"),
        ("I was offered chemo but refused", "refused"),
        ("I refused radiotherapy", "refused"),
        ("surgery not yet", "not_received"),
        ("no radiotherapy", "not_received"),
        ("currently on pembrolizumab", "ongoing"),
        ("I had surgery", "received"),
    ],
)
def test_status_of_a_treatment(text, status):
    [line] = therapy.read(text).lines
    assert line.status == status


@pytest.mark.parametrize("text", ["surgery is planned", "they want to operate", "I was offered chemo but refused"])
def test_treatment_only_planned_or_refused_is_not_prior_treatment(text):
    d = derived(text)
    assert "prior_treatment" not in d.fields and d.unsettled["prior_treatment"] == "only_planned"


def test_received_and_planned_in_one_answer():
    d = derived("I had chemo and surgery is planned")
    assert d.fields["prior_treatment"] == ["chemotherapy"]
    d = derived("surgery and radiotherapy are planned")  # the cue covers both
    assert d.unsettled["prior_treatment"] == "only_planned"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("surgery but no radiation", ["surgery"]),
        ("pembrolizumab x3, no chemo", ["anti_pd1"]),
        ("none yet", []),
        ("no treatment yet, surgery is planned", []),
        ("I haven't had any treatment", []),
    ],
)
def test_negation_and_none_yet(text, expected):
    assert derived(text).fields["prior_treatment"] == expected


def test_only_denials_leave_prior_treatment_open():
    assert derived("no chemo").unsettled["prior_treatment"] == "only_denials"


# --- recurrence -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,recurrent",
    [
        ("surgery and radiotherapy in 2020, now it came back", "yes"),
        ("chemoradiation two years ago, it recurred last spring", "yes"),
        ("surgery, then a relapse", "yes"),
        ("surgery in 2021 and it hasn't come back", "no"),
    ],
)
def test_recurrence_words_in_a_treatment_answer(text, recurrent):
    assert derived(text).fields["recurrent"] == recurrent


def test_a_scan_that_came_back_clear_is_no_recurrence():
    assert "recurrent" not in derived("the scan came back clear after 4 cycles of nivolumab").fields


@pytest.mark.parametrize(
    "text",
    ["they said stage three, p16 came back positive", "the HPV test came back positive", "pathology came back benign"],
)
def test_a_test_result_that_came_back_is_no_recurrence(text):
    """Typed at the stage question (seen in a screening): "came back" is the test's result here."""
    assert therapy.recurrence_mentions(text) == []


# --- words ------------------------------------------------------------------------------------------------


def test_a_drug_name_typo_is_read_and_said_back():
    history = therapy.read("pembrolizumib 3 cycles, it shrank")
    assert therapy.derive(history).fields["prior_treatment"] == ["anti_pd1"]
    assert '"pembrolizumib" read as pembrolizumab' in therapy.describe(history)


@pytest.mark.parametrize("text", ["carbonated drinks", "pembroke college", "immunocompromised"])
def test_ordinary_words_are_not_taken_for_drugs(text):
    assert therapy.read(text) is None


def test_lower_case_and_lay_words():
    d = derived("keytruda and chemo, 4 rounds, the lump got smaller")
    assert d.fields == {
        "prior_treatment": ["chemotherapy", "anti_pd1"],
        "immunotherapy_cycles": 4,
        "immunotherapy_response": "PR",
    }


def test_immunochemotherapy_is_immunotherapy_with_chemotherapy():
    assert derived("neoadjuvant immunochemotherapy").fields["prior_treatment"] == [
        "chemotherapy",
        "immunotherapy_unspecified",
    ]


def test_an_elaboration_names_the_immunotherapy_of_the_line_before():
    assert derived("I had immunotherapy. It was Keytruda.").fields["prior_treatment"] == ["anti_pd1"]


def test_nothing_about_treatment_is_none_and_dont_know_is_unknown():
    assert therapy.read("blue sky") is None and therapy.read("") is None
    history = therapy.read("I'm not sure")
    assert history.unknown and therapy.derive(history).fields == {}


def test_a_follow_up_can_correct_one_line():
    history = therapy.read("tonsillectomy, then pembrolizumab 3 cycles")
    assert therapy.derive(history).fields["prior_treatment"] == ["surgery", "anti_pd1"]
    corrected = history.with_line(0, intent="diagnostic")
    assert therapy.derive(corrected).fields["prior_treatment"] == ["anti_pd1"]


def test_words_of_two_intents_for_one_operation_are_asked_about():
    d = derived("radical diagnostic neck dissection")
    assert d.unsettled["prior_treatment"] == "intent_unclear" and "neck dissection" in d.about["prior_treatment"]


# --- more phrasings ---------------------------------------------------------------------------------------


def test_more_cycles_add_to_the_count_before_them():
    assert derived("pembrolizumab 2 cycles; then 2 more").fields["immunotherapy_cycles"] == 4
    assert derived("pembrolizumab 2 cycles then 2 more cycles, it shrank").fields["immunotherapy_cycles"] == 4
    # "2 more" with nothing before it: more than what? asked.
    assert derived("2 more cycles of nivolumab").unsettled["immunotherapy_cycles"] == "several_numbers"


def test_a_number_the_reader_cannot_place_is_asked_about():
    d = derived("they gave me immunotherapy, I don't know the name, 3 times")
    assert d.unsettled["immunotherapy_cycles"] == "stray_number" and d.about["immunotherapy_cycles"] == "3"
    # Doses, intervals, years, dates, stages and drug names are not counts.
    d = derived("Keytruda 200mg x 3 cycles every 3 weeks since 2023, cT2N1M0, ECOG 1, PD-1, on 12/03/2024")
    assert d.fields["immunotherapy_cycles"] == 3 and "immunotherapy_cycles" not in d.unsettled


def test_the_pd_of_pd1_is_not_progressive_disease():
    d = derived("PD-1 inhibitor 3 cycles, partial response")
    assert d.fields["immunotherapy_response"] == "PR"
    assert normalize.treatment("PD-1 inhibitor, partial response").response == "PR"


@pytest.mark.parametrize(
    "text,statuses",
    [
        ("they want me to have pembrolizumab before the operation", ["planned", "planned"]),
        ("I had chemo before surgery", ["received", "received"]),
        ("3 cycles of immunotherapy with chemo, the tumor got smaller, next is surgery", ["received", "planned"]),
    ],
)
def test_an_operation_named_as_a_time_or_next_step(text, statuses):
    assert [line.status for line in therapy.read(text).lines] == statuses


def test_arrows_separate_lines():
    d = derived("TPF x3 -> pembro x4 -> PR")
    assert d.fields == {
        "prior_treatment": ["chemotherapy", "anti_pd1"],
        "immunotherapy_cycles": 4,
        "immunotherapy_response": "PR",
    }


def test_lay_words_for_an_operation():
    assert derived("I had my tonsils out, then 4 cycles of toripalimab").fields["prior_treatment"] == [
        "surgery",
        "anti_pd1",
    ]
