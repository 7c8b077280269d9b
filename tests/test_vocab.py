"""The vocabulary is the one home of clinical words: it must be consistent."""

from __future__ import annotations

from collections import defaultdict

import pytest

from knowledge import vocab


@pytest.mark.parametrize(
    "pairs",
    [
        vocab.site_terms,
        vocab.treatment_terms,
        vocab.drug_terms,
        vocab.response_terms,
        vocab.histology_terms,
        vocab.differentiation_terms,
        vocab.p16_terms,
        vocab.ecog_terms,
        vocab.cancer_type_terms,
    ],
)
def test_no_word_means_two_things_in_one_list(pairs):
    meanings = defaultdict(set)
    for term, value in pairs():
        meanings[term.lower()].add(value)
    clashes = {t: v for t, v in meanings.items() if len(v) > 1}
    assert clashes == {}


def test_category_values_fit_in_a_bit_mask_and_codes_are_unique():
    for f in vocab.fields().values():
        assert len(f.values) == len(set(f.values)), f.name
        if f.type in ("category", "set"):
            assert 1 <= len(f.values) <= 62, f.name
            assert f.codes(f.full_mask) == list(f.values)


def test_every_site_belongs_to_a_known_cancer_type_and_staging_table():
    kinds = set(vocab.cancer_types())
    for code, site in vocab.sites().items():
        assert site["cancer_type"] in kinds, code
        assert site["staging"] in ("general", "oropharynx", "nasopharynx", "none"), code
    assert set(vocab.head_and_neck_sites()) >= {
        "oral_cavity",
        "oropharynx",
        "hypopharynx",
        "larynx",
        "nasal_cavity_paranasal_sinuses",
        "nasopharynx",
        "salivary_gland",
        "unknown_primary",
    }


def test_ambiguous_words_name_known_sites_and_drugs_name_known_categories():
    for term, codes in vocab.ambiguous_site_terms():
        assert set(codes) <= set(vocab.sites()), term
    categories = set(vocab.field("prior_treatment").values)
    assert {d["category"] for d in vocab.drugs().values()} <= categories


def test_response_words_match_the_profile_fields():
    assert {c for _, c in vocab.response_terms()} == set(vocab.field("immunotherapy_response").values)
    assert {c for _, c in vocab.pathologic_response_terms()} == set(vocab.field("pathologic_response").values)
    assert {c for _, c in vocab.differentiation_terms()} == set(vocab.field("differentiation").values)


def test_ecog_grades_are_0_to_4():
    grades = [g["grade"] for g in vocab.load("ecog")["grades"]]
    assert grades == [0, 1, 2, 3, 4]


def test_longest_term_wins():
    found = list(vocab.find_terms("pyriform sinus, base of tongue", vocab.site_terms()))
    assert [value for *_, value in found] == ["hypopharynx", "oropharynx"]


def test_every_karnofsky_table_covers_every_score_and_names_its_source():
    tables = vocab.load("ecog")["karnofsky_tables"]
    assert len(tables) >= 2
    for table in tables:
        covered = set()
        for band in table["bands"]:
            covered |= set(range(band["min"], band["max"] + 1, 10))
        assert covered == set(range(10, 101, 10)), table["name"]
        assert len(table["source"]) > 40, table["name"]
    # Issue 10, case 5: the tables disagree at KPS 70 and 90; both grades are kept.
    assert vocab.karnofsky_grades(70) == {1, 2} and vocab.karnofsky_grades(90) == {0, 1}
    assert vocab.karnofsky_grades(80) == {1} and vocab.karnofsky_grades(100) == {0}


def test_therapy_cues_name_known_statuses_intents_and_treatments():
    cues = vocab.load("therapy")
    assert set(cues["status"]) == {"planned", "offered", "refused", "ongoing", "not_received", "received"}
    treatments = set(vocab.field("prior_treatment").values)
    for name, spec in cues["intent"].items():
        assert set(spec["applies_to"]) <= treatments, name
    for entry in vocab.load("treatments")["also_means"]:
        assert set(entry["adds"]) <= treatments
        assert all(any(t.lower() == term.lower() for t, _ in vocab.treatment_terms()) for term in entry["terms"])
    # A cue means one status: a word in two lists would be read by whichever is longer.
    seen = {}
    for status, words in cues["status"].items():
        for word in words:
            assert seen.setdefault(word.lower(), status) == status, word


def test_site_dependent_histology_names_known_sites_and_codes():
    codes = set(vocab.field("histology").values)
    for entry in vocab.load("histology")["site_dependent"]:
        assert set(entry["by_site"]) <= set(vocab.sites())
        assert set(entry["by_site"].values()) | set(entry["otherwise"]) <= codes
        assert not {t.lower() for t in entry["terms"]} & {t.lower() for t, _ in vocab.histology_terms()}


def test_fields_set_by_the_dialogue_are_not_asked():
    assert not vocab.field("ecog_source").ask and not vocab.field("stage_ajcc7").ask
    assert vocab.field("sex").ask and vocab.field("sex").priority < vocab.field("pregnant").priority
    assert vocab.field("stage_ajcc7").values == vocab.field("stage").values
