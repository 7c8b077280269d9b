"""Normalisers: what people type -> the canonical values the engine uses."""

from __future__ import annotations

import pytest

from knowledge import normalize as n
from knowledge import vocab


@pytest.mark.parametrize(
    "text,value",
    [
        ("58", 58),
        ("58 yrs", 58),
        ("I'm 58", 58),
        ("58 years old", 58),
        ("I'm fifty-eight", 58),
        ("fifty eight", 58),
        ("sixteen", 16),
        ("I am 16", 16),
        ("a hundred and two", 102),
        ("0", 0),
        ("120", 120),
        ("6 months", 0),
        (61, 61),
    ],
)
def test_age(text, value):
    assert n.age(text).value == value


@pytest.mark.parametrize("text", ["150", "999", "-3", "121"])
def test_impossible_age_is_flagged_not_accepted(text):
    result = n.age(text)
    assert result.value is None and result.problem == "implausible"


def test_age_without_a_number_is_none_and_minor_is_flagged():
    assert n.age("old enough") is None
    assert n.age("16").minor and not n.age("18").minor


@pytest.mark.parametrize(
    "text,code",
    [
        ("voice box", "larynx"),
        ("vocal cord", "larynx"),
        ("glottis", "larynx"),
        ("supraglottic", "larynx"),
        ("tonsil", "oropharynx"),
        ("base of tongue", "oropharynx"),
        ("soft palate", "oropharynx"),
        ("tongue", "oral_cavity"),
        ("it's on the side of my tongue", "oral_cavity"),
        ("gum", "oral_cavity"),
        ("floor of mouth", "oral_cavity"),
        ("cheek", "oral_cavity"),
        ("sinus", "nasal_cavity_paranasal_sinuses"),
        ("nasal", "nasal_cavity_paranasal_sinuses"),
        ("nasopharyngeal carcinoma", "nasopharynx"),
        ("pyriform sinus", "hypopharynx"),
        ("hypopharyngeal", "hypopharynx"),
        ("parotid", "salivary_gland"),
        ("unknown primary", "unknown_primary"),
        ("oral_cavity", "oral_cavity"),
    ],
)
def test_site_from_lay_and_clinical_words(text, code):
    site = n.site(text)
    assert site.code == code and site.in_scope


@pytest.mark.parametrize(
    "text,kind",
    [
        ("breast cancer", "breast"),
        ("lung", "lung"),
        ("prostate", "prostate"),
        ("bowel cancer", "colorectal"),
        ("melanoma", "skin"),
    ],
)
def test_cancers_outside_the_head_and_neck_are_out_of_scope(text, kind):
    site = n.site(text)
    assert site.cancer_type == kind and not site.in_scope


def test_throat_is_ambiguous_and_gibberish_is_none():
    throat = n.site("throat cancer")
    assert throat.ambiguous and set(throat.codes) == {"oropharynx", "hypopharynx", "larynx"}
    assert not throat.several and throat.named == ((throat.matched, throat.codes),)
    assert n.site("qwerty") is None


@pytest.mark.parametrize(
    "text, codes",
    [
        ("laryngeal cancer, not nasopharyngeal", ("larynx", "nasopharynx")),
        ("tongue cancer that spread to the lung", ("oral_cavity", "lung")),
        ("喉癌，不是鼻咽癌", ("larynx", "nasopharynx")),
    ],
)
def test_two_different_sites_are_both_kept_never_the_first_taken(text, codes):
    site = n.site(text)
    assert site.codes == codes and site.several and site.code is None


@pytest.mark.parametrize(
    "text, code",
    [
        ("cancer of the tonsil, which is in the oropharynx", "oropharynx"),
        ("throat cancer, in the voice box", "larynx"),  # a word that settles it wins over one that does not
    ],
)
def test_one_site_in_several_words_is_that_site(text, code):
    site = n.site(text)
    assert site.code == code and not site.several


@pytest.mark.parametrize(
    "text,groups",
    [
        ("3", {"III"}),
        ("III", {"III"}),
        ("stage IVa", {"IVA"}),
        ("4b", {"IVB"}),
        ("Stage 2", {"II"}),
        ("stage 4", {"IVA", "IVB", "IVC"}),
        ("stage four", {"IVA", "IVB", "IVC"}),
        ("4a i think", {"IVA"}),  # a hedge after a bare answer (typed in a screening)
        ("3, I believe.", {"III"}),
    ],
)
def test_stage_words(text, groups):
    assert n.stage(text).groups == groups


@pytest.mark.parametrize(
    "text,site,p16,groups",
    [
        ("T3N1M0", "larynx", None, {"III"}),
        ("cT2 N2b M0", "oral_cavity", None, {"IVA"}),
        ("T4b N0 M0", "hypopharynx", None, {"IVB"}),
        ("T2N1M0", "oropharynx", "negative", {"III"}),
        ("T2N1M0", "oropharynx", "positive", {"I"}),
        ("T2N1M0", "oropharynx", None, {"I", "III"}),  # p16 unknown: both, never a guess
        ("T1N3M0", "oropharynx", "positive", {"III"}),
        ("T3N2M0", "nasopharynx", None, {"III"}),
        ("T1N0M1", "nasopharynx", None, {"IVB"}),
    ],
)
def test_tnm_to_ajcc8_stage_group(text, site, p16, groups):
    result = n.stage(text, site, p16)
    assert result.groups == groups and result.tnm is not None


def test_dont_know_is_a_stage_value_not_an_error():
    for text in ["I don't know", "not sure", "no idea"]:
        result = n.stage(text)
        assert result.unknown and result.value == "unknown"
    assert n.stage("banana") is None


def test_tnm_for_a_site_without_a_staging_table_is_unknown():
    assert n.stage("T2N0M0", "thyroid").unknown


@pytest.mark.parametrize(
    "text,value,source",
    [
        ("0", 0, "ecog"),
        ("ECOG 1", 1, "ecog"),
        ("PS 2", 2, "ecog"),
        ("ecog performance status 3", 3, "ecog"),
        ("1 or 2", (1, 2), "ecog"),
        # Karnofsky: every grade the published tables give (vocabulary/ecog.yaml), never one table's guess.
        ("KPS 100", 0, "karnofsky"),
        ("KPS 90", (0, 1), "karnofsky"),
        ("Karnofsky 80", 1, "karnofsky"),
        ("KPS 70", (1, 2), "karnofsky"),
        ("KPS 60", (2, 3), "karnofsky"),
        ("KPS 50", (2, 3), "karnofsky"),
        ("KPS 40", (3, 4), "karnofsky"),
        ("KPS 30", (3, 4), "karnofsky"),
        ("KPS 20", 4, "karnofsky"),
        ("KPS 10", 4, "karnofsky"),
        ("KPS 85", (0, 1), "karnofsky"),
        ("I can do everything I did before", 0, "description"),
        ("I can't do heavy work but I do light housework", 1, "description"),
        ("I look after myself but I can't work", 2, "description"),
        ("I'm in bed or chair more than half the day", 3, "description"),
        ("bedridden", 4, "description"),
        ("he gets tired walking far", 1, "description"),  # seen in a typed screening, read as nothing
        ("走远了就累", 1, "description"),
        ("i still work but i'm wiped out by evening", (0, 1), "description"),  # two grades' words: the range
        ("he still works part time", 1, "description"),  # the longer words win
    ],
)
def test_ecog(text, value, source):
    result = n.ecog(text)
    assert (result.value, result.source) == (value, source)


def test_every_ecog_button_text_reads_back_as_its_grade():
    for grade in vocab.load("ecog")["grades"]:
        assert n.ecog(grade["patient"]).value == grade["grade"], grade["patient"]


def test_ecog_unknown_and_nonsense():
    assert n.ecog("not sure").unknown
    assert n.ecog("5") is None and n.ecog("purple") is None


@pytest.mark.parametrize(
    "text,categories",
    [
        ("none yet", set()),
        ("I haven't had any treatment", set()),
        ("surgery", {"surgery"}),
        ("radiotherapy", {"radiotherapy"}),
        ("chemoradiation", {"chemoradiotherapy"}),
        ("chemo", {"chemotherapy"}),
        ("cetuximab", {"targeted"}),
        ("Erbitux", {"targeted"}),
        ("pembrolizumab", {"anti_pd1"}),
        ("Keytruda", {"anti_pd1"}),
        ("Opdivo", {"anti_pd1"}),
        ("toripalimab", {"anti_pd1"}),
        ("camrelizumab", {"anti_pd1"}),
        ("tislelizumab", {"anti_pd1"}),
        ("sintilimab", {"anti_pd1"}),
        ("penpulimab", {"anti_pd1"}),
        ("serplulimab", {"anti_pd1"}),
        ("durvalumab", {"anti_pdl1"}),
        ("atezolizumab", {"anti_pdl1"}),
        ("cisplatin and 5-FU", {"chemotherapy"}),
        ("carboplatin, nab-paclitaxel", {"chemotherapy"}),
        ("docetaxel", {"chemotherapy"}),
        ("albumin-bound paclitaxel", {"chemotherapy"}),
        ("PD-1 inhibitor with chemotherapy", {"anti_pd1", "chemotherapy"}),
        ("immunotherapy", {"immunotherapy_unspecified"}),
        ("immunotherapy with Keytruda", {"anti_pd1"}),
        ("operation then radiation", {"surgery", "radiotherapy"}),
    ],
)
def test_treatment_categories(text, categories):
    assert set(n.treatment(text).categories) == categories


def test_treatment_drugs_cycles_and_response():
    t = n.treatment("pembrolizumab and cisplatin for 3 cycles, it shrank")
    assert t.drugs == ("pembrolizumab", "cisplatin") and t.cycles == 3 and t.response == "PR"
    assert n.treatment("three rounds of nivolumab").cycles == 3
    assert n.treatment("Keytruda x4, complete response").cycles == 4
    assert n.treatment("Keytruda x4, complete response").response == "CR"
    assert n.treatment("toripalimab, stable disease").response == "SD"
    assert n.treatment("nivolumab but it progressed").response == "PD"
    assert n.treatment("surgery, pathological complete response").pathologic_response == "pCR"


def test_treatment_unknown_and_nonsense():
    assert n.treatment("not sure").unknown
    assert n.treatment("blue sky") is None


@pytest.mark.parametrize(
    "text,answer",
    [
        ("yes", "yes"),
        ("yeah it is", "yes"),
        ("no", "no"),
        ("nope", "no"),
        ("not sure", "unknown"),
        ("I don't know", "unknown"),
        ("purple", None),
        ("ok lets do it", "yes"),  # seen at the consent question, asked again
        ("okay", "yes"),
        ("ok, no he hasn't", "no"),  # "ok" is a yes only when nothing else answers
        ("ok not sure", "unknown"),
        ("not sure what you mean", None),  # a question about the question
    ],
)
def test_yes_no(text, answer):
    assert n.yes_no(text) == answer


def test_small_categorical_answers():
    assert n.p16("p16 positive") == "positive" and n.p16("HPV-negative") == "negative"
    assert n.p16("never tested, not tested") == "unknown"
    assert n.differentiation("poorly differentiated") == "poor"
    assert n.histology("squamous cell carcinoma") == "squamous_cell_carcinoma"


def test_profile_answers_make_an_engine_profile():
    profile = n.ProfileAnswers(
        {
            "age": "fifty-eight",
            "tumor_site": "tonsil",
            "p16": "p16 positive",
            "stage": "T2N1M0",
            "ecog": "KPS 80",
            "prior_treatment": "Keytruda x3, partial response",
            "recurrent": "no",
        }
    ).profile()
    assert profile == {
        "age": 58,
        "tumor_site": ["oropharynx"],
        "p16": "positive",
        "stage": ["I"],
        "stage_ajcc7": ["III", "IVA"],
        "ecog": 1,
        "prior_treatment": ["anti_pd1"],
        "immunotherapy_cycles": 3,
        "immunotherapy_response": "PR",
        "recurrent": "no",
    }
    with pytest.raises(ValueError, match="age"):
        n.ProfileAnswers({"age": "999"}).profile()


@pytest.mark.parametrize(
    "text,expected",
    [
        # A treatment named after "no", "never", "without"... in the same clause was not given.
        ("surgery but no radiation", ["surgery"]),
        ("never had radiotherapy, only surgery", ["surgery"]),
        ("pembrolizumab x3, no chemo", ["anti_pd1"]),
        ("I have not had surgery but had cisplatin", ["chemotherapy"]),
        ("no pain, had surgery", ["surgery"]),  # the negation belongs to another clause
        ("I had chemo and radiotherapy", ["radiotherapy", "chemotherapy"]),
        # Only a denial: we learn what was not given, not what was.
        ("no chemo", "unknown"),
        ("without chemotherapy", "unknown"),
        ("not sure if I had chemo", "unknown"),
        ("no prior therapy", []),
        ("treatment-naive", []),
    ],
)
def test_treatment_negation(text, expected):
    assert n.treatment(text).value == expected


@pytest.mark.parametrize(
    "text,drug", [("pembro x3", "pembrolizumab"), ("nivo", "nivolumab"), ("carbo and 5-FU", "carboplatin")]
)
def test_drug_nicknames(text, drug):
    assert drug in n.treatment(text).drugs


def test_carcinoma_in_situ_is_not_cisplatin():
    assert n.treatment("CIS of the cervix") is None


# --- issue 10 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text,grades", [("KPS 70", (1, 2)), ("Karnofsky 90", (0, 1))])
def test_case_5_an_ambiguous_karnofsky_score_is_a_range_with_a_note(text, grades):
    result = n.ecog(text)
    assert result.value == grades
    assert f"ECOG {grades[0]} or {grades[1]}" in result.note and "ecog.yaml" in result.note
    assert n.ecog("KPS 80").note is None  # every table agrees


@pytest.mark.parametrize(
    "site,code",
    [
        ("oropharynx", "squamous_cell_carcinoma"),
        ("nasal_cavity_paranasal_sinuses", "squamous_cell_carcinoma"),
        ("larynx", "squamous_cell_carcinoma"),
        ("nasopharynx", "nasopharyngeal_carcinoma"),
        (None, ["squamous_cell_carcinoma", "nasopharyngeal_carcinoma"]),
        ("salivary_gland", ["squamous_cell_carcinoma", "nasopharyngeal_carcinoma"]),
    ],
)
def test_case_6_non_keratinizing_carcinoma_depends_on_the_site(site, code):
    assert n.histology("non-keratinizing carcinoma", site) == code
    assert n.histology("Nonkeratinizing carcinoma", site) == code
    # Words that mean the same everywhere do not depend on the site.
    assert n.histology("lymphoepithelial carcinoma", site) == "nasopharyngeal_carcinoma"


def test_case_6_the_issue_command_line_keeps_both_seeds_possible():
    profile = n.ProfileAnswers(
        {"tumor_site": "tonsil", "p16": "positive", "stage": "T4N1M0", "histology": "non-keratinizing carcinoma"}
    ).profile()
    assert profile["histology"] == "squamous_cell_carcinoma" and profile["stage"] == ["III"]


@pytest.mark.parametrize(
    "text,value",
    [
        ("female", "female"),
        ("Male", "male"),
        ("I'm a woman", "female"),
        ("man", "male"),
        ("F", "female"),
        ("prefer not to say", "unknown"),
        ("don't know", "unknown"),
        ("banana", None),
        ("a man, not a woman", None),
    ],
)
def test_case_10_sex(text, value):
    assert n.sex(text) == value


def test_case_10_sex_is_never_guessed_in_a_profile():
    with pytest.raises(ValueError, match="sex"):
        n.ProfileAnswers({"sex": "banana"}).profile()
    assert n.ProfileAnswers({"sex": "rather not say"}).profile() == {"sex": "unknown"}


@pytest.mark.parametrize(
    "text,site,p16,groups,ajcc7",
    [
        ("T2N1M0", "oropharynx", "positive", {"I"}, {"III", "IVA"}),  # case 9
        ("T2N2bM0", "oropharynx", "positive", {"I"}, {"IVA"}),  # case 12: N2b is cN1
        ("T1N0M0", "oropharynx", "positive", {"I"}, {"I"}),
        ("T3N0M0", "larynx", None, {"III"}, {"III"}),
        ("stage IVa", "oropharynx", None, {"IVA"}, {"IVA"}),  # case 4: a group both editions have
        ("stage 1", "oropharynx", "positive", {"I"}, None),  # may be AJCC 8's own p16-positive I
        ("stage 2", "larynx", None, {"II"}, {"II"}),
        ("T3N1M0", "nasopharynx", None, {"III"}, None),  # no AJCC 7 table kept
    ],
)
def test_stage_carries_its_ajcc7_reading(text, site, p16, groups, ajcc7):
    result = n.stage(text, site, p16)
    assert result.groups == groups
    assert result.ajcc7 == (frozenset(ajcc7) if ajcc7 else None)


@pytest.mark.parametrize("site", ["larynx", "oral_cavity", "hypopharynx", "nasal_cavity_paranasal_sinuses"])
def test_case_12_t0_has_no_stage_where_ajcc8_has_no_t0(site):
    assert n.stage("T0N1M0", site).unknown


def test_case_12_t0_is_staged_where_ajcc8_has_it():
    assert n.stage("T0N1M0", "oropharynx", "positive").groups == {"I"}
    assert n.stage("T0N1M0", "salivary_gland").groups == {"III"}


def test_treatment_wrapper_keeps_its_shape_and_fixes_cases_1_2_7():
    t = n.treatment("TPF 2 cycles with partial response, then pembrolizumab 8 cycles, progressive disease")
    assert (t.cycles, t.response, t.value) == (8, "PD", ["chemotherapy", "anti_pd1"])
    t = n.treatment("diagnostic tonsillectomy, then pembrolizumab 3 cycles; radiotherapy for breast cancer")
    assert t.value == ["anti_pd1"] and t.drugs == ("pembrolizumab",)
    assert n.treatment("surgery is planned").unknown  # not received: the form asks again
    assert n.treatment("TPF 3 cycles and pembrolizumab").derived.unsettled == {
        "immunotherapy_cycles": "cycles_of_combined_line"
    }


def test_profile_from_a_treatment_answer_takes_the_derived_fields_and_explicit_answers_win():
    profile = n.ProfileAnswers(
        {
            "prior_treatment": "TPF 3 cycles, then pembrolizumab 8 cycles, it shrank, now it came back",
            "ecog": "2",
            "ecog_source": "patient",
        }
    ).profile()
    assert profile == {
        "prior_treatment": ["chemotherapy", "anti_pd1"],
        "immunotherapy_cycles": 8,
        "immunotherapy_response": "PR",
        "recurrent": "yes",
        "ecog": 2,
        "ecog_source": "patient",
    }
    profile = n.ProfileAnswers(
        {"prior_treatment": "TPF 3 cycles and pembrolizumab", "immunotherapy_cycles": "5"}
    ).profile()
    assert profile["immunotherapy_cycles"] == 5
    assert n.ProfileAnswers({"prior_treatment": "surgery is planned"}).profile() == {"prior_treatment": "unknown"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Guangzhou", "Guangzhou"),
        ("anywhere in China is fine", "anywhere"),
        ("I don't mind where", "anywhere"),
        ("无所谓，哪都行", "anywhere"),
        ("地点不限", "anywhere"),
        ("no", "unknown"),
        ("I'd rather not say", "unknown"),
        ("not sure", "unknown"),
        ("the weather is nice", None),
    ],
)
def test_a_location_answer_names_a_place_before_a_no_word_counts(text, expected):
    place = n.location(text)
    assert (place.name if place else None) == expected


@pytest.mark.parametrize("text, grades", [("ECOG 0~1", (0, 1)), ("ECOG 1～2分", (1, 2)), ("ECOG 0-1", (0, 1))])
def test_an_ecog_range_with_a_tilde_is_a_range(text, grades):
    assert n.ecog(text).value == grades


@pytest.mark.parametrize(
    "text, code",
    [
        ("larnyx", "larynx"),
        ("cancer of the larinx", "larynx"),
        ("salivery gland", "salivary_gland"),
        ("orophranx", "oropharynx"),
        ("tounge cancer", "oral_cavity"),  # a letter moved
    ],
)
def test_a_site_typed_with_a_letter_wrong_is_read_at_the_site_question(text, code):
    assert n.site(text, typos=True).codes == (code,)
    assert n.site(text) is None  # elsewhere, exact words only


def test_a_mistyped_word_that_settles_the_place_wins_over_an_exact_one_that_does_not():
    """Seen in a typed screening: "neck" (five places) was asked about, "tounge" lost."""
    text = "it started on the side of my tounge and went into the lymph nodes in my neck"
    assert n.site(text, typos=True).codes == ("oral_cavity",)
    assert n.site(text).ambiguous  # outside the site question, exact words only


@pytest.mark.parametrize(
    "text",
    [
        "tongs",
        "it throws me",
        "the weather is lovely",
        "months ago",
        "it's been a hard month",
        "can you check trials for my dad?",
    ],
)
def test_ordinary_words_near_a_site_word_are_no_site(text):
    assert n.site(text, typos=True) is None


def test_edits_count_two_swapped_letters_as_one():
    assert vocab.edits("larnyx", "larynx", 2) == 1 and vocab.edits("tonsle", "tonsil", 1) == 2


@pytest.mark.parametrize(
    "text, code",
    [
        ("poorly", "poor"),
        ("Moderately.", "moderate"),
        ("well", "well"),
        ("well, it was a while ago", None),
        ("it went poorly", None),
    ],
)
def test_a_bare_grade_word_is_a_grade_only_as_the_whole_answer(text, code):
    assert n.differentiation(text) == code


@pytest.mark.parametrize(
    "text, count",
    [
        ("pembrolizumab twenty-one cycles, stable disease", 21),
        ("pembrolizumab twenty one cycles", 21),
        ("three rounds of keytruda", 3),
    ],
)
def test_a_count_in_words_is_read_whole_not_from_its_last_word(text, count):
    """ "twenty-one cycles" is 21: neither the "one" after the hyphen nor a stray "twenty"."""
    assert n.treatment(text).cycles == count
    assert n.cycles(text, vocab.load("treatments")["cycle_words"]) == count


def test_why_not_a_trial_is_no_no_answer():
    """ "why not NCT06100497" typed at the differentiation question asks about a trial: its "not"
    answered the question as an unknown grade and the question was lost (seen in a screening)."""
    assert n.yes_no("why not NCT06100497") is None
    assert n.differentiation("why not NCT06100497") is None
    assert n.yes_no("not really") == "no"


@pytest.mark.parametrize("text", ["3 or so people", "4a lot of pain", "2 years ago, i think"])
def test_a_bare_number_followed_by_other_words_is_no_stage(text):
    assert n.stage(text) is None
