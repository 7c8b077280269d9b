"""The vocabulary is the one home of clinical words: it must be consistent."""
from __future__ import annotations

from collections import defaultdict

import pytest

from knowledge import vocab


@pytest.mark.parametrize("pairs", [vocab.site_terms, vocab.treatment_terms, vocab.drug_terms, vocab.response_terms,
                                   vocab.histology_terms, vocab.differentiation_terms, vocab.p16_terms,
                                   vocab.ecog_terms, vocab.cancer_type_terms])
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
    assert set(vocab.head_and_neck_sites()) >= {"oral_cavity", "oropharynx", "hypopharynx", "larynx",
                                                "nasal_cavity_paranasal_sinuses", "nasopharynx", "salivary_gland",
                                                "unknown_primary"}


def test_ambiguous_words_name_known_sites_and_drugs_name_known_categories():
    for term, codes in vocab.ambiguous_site_terms():
        assert set(codes) <= set(vocab.sites()), term
    categories = set(vocab.field("prior_treatment").values)
    assert {d["category"] for d in vocab.drugs().values()} <= categories


def test_response_words_match_the_profile_fields():
    assert {c for _, c in vocab.response_terms()} == set(vocab.field("immunotherapy_response").values)
    assert {c for _, c in vocab.pathologic_response_terms()} == set(vocab.field("pathologic_response").values)
    assert {c for _, c in vocab.differentiation_terms()} == set(vocab.field("differentiation").values)


def test_ecog_grades_and_karnofsky_bands_cover_every_score():
    grades = [g["grade"] for g in vocab.load("ecog")["grades"]]
    assert grades == [0, 1, 2, 3, 4]
    covered = set()
    for band in vocab.load("ecog")["karnofsky"]:
        covered |= set(range(band["min"], band["max"] + 1, 10))
    assert covered == set(range(10, 101, 10))


def test_longest_term_wins():
    found = list(vocab.find_terms("pyriform sinus, base of tongue", vocab.site_terms()))
    assert [value for *_, value in found] == ["hypopharynx", "oropharynx"]
