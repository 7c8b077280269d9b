"""knowledge.recognise: the one recogniser per kind of word, as the parser, the normalisers
and the NLU component use it."""

from __future__ import annotations

import re

import pytest

from knowledge import normalize, parse, recognise, vocab

# --- number words ------------------------------------------------------------------------------


def test_number_words_come_from_the_vocabulary_with_their_compounds():
    words = recognise.number_words()
    assert words.value("six") == 6
    assert words.value("twenty") == 20
    assert words.value("twenty-one") == 21
    assert words.value("twenty one") == 21
    assert words.value(" Ninety-Nine ") == 99
    assert words.value("twenty-zero") is None  # no compound with zero
    assert words.value("eleventy") is None
    assert words.units == {str(k): v for k, v in vocab.load("answers")["number_words"]["units"].items()}


def test_number_word_pattern_prefers_the_longest_word():
    pattern = re.compile(rf"\b(?:{recognise.number_words().pattern()})\b", re.I)
    assert pattern.search("for twenty-one days").group(0) == "twenty-one"
    assert pattern.search("seventeen cycles").group(0) == "seventeen"  # not "seven"
    small = re.compile(rf"(?:{recognise.number_words().pattern(compounds=False, up_to=4)})\Z")
    assert small.match("four") and small.match("zero")
    assert not small.match("five") and not small.match("twenty-one")


# --- vocabulary terms ----------------------------------------------------------------------------


def test_an_abbreviation_is_only_capitals_up_to_the_longest_length():
    assert recognise.is_abbreviation("CUP")
    assert not recognise.is_abbreviation("cup")
    assert not recognise.is_abbreviation("C")
    assert not recognise.is_abbreviation("PD-1")
    assert recognise.is_abbreviation("OPSCC", longest=5)
    assert not recognise.is_abbreviation("OPSCC", longest=3)


def test_variants_swap_inner_hyphens_and_spaces_and_optionally_determiners():
    assert {"HPV-positive", "HPV positive"} <= recognise.variants("HPV-positive")
    assert "base-of-tongue" in recognise.variants("base of tongue")
    assert "back of my nose" not in recognise.variants("back of the nose")
    assert "back of my nose" in recognise.variants("back of the nose", any_determiner=True)
    # A trailing hyphen is part of the term: "p16-" must never become a bare "p16".
    assert all(v.strip() != "p16" for v in recognise.variants("p16-"))


def test_a_bare_p16_in_criteria_text_is_no_p16_result():
    # The parser's old variants rule turned the term "p16-" (negative) into "p16 ", a bare "p16".
    parsed = parse.parse_criteria("Inclusion Criteria:\n* p16 status must be known").criteria
    assert [c for c in parsed if c["field"] == "p16"] == []
    (rule,) = [
        c for c in parse.parse_criteria("Inclusion Criteria:\n* p16- oropharyngeal SCC").criteria if c["field"] == "p16"
    ]
    assert rule["in"] == ["negative"]


def _found(matcher: recognise.TermMatcher, text: str) -> list[tuple[str, str, str]]:
    doc = matcher.nlp.make_doc(vocab.prepare(text) if matcher.reading.prepared else text)
    return [(label, value, span.text) for label, value, span in matcher(doc)]


TABLE = {
    "SITE": [("CUP", "unknown_primary"), ("back of the nose", "nasopharynx"), ("喉癌", "larynx")],
    "TREATMENT": [("IMRT", "radiotherapy"), ("HPV-positive", "positive")],
}


def test_an_abbreviation_in_lower_case_is_not_matched():
    for reading in (recognise.CRITERIA, recognise.MESSAGE):
        matcher = recognise.TermMatcher(TABLE, reading)
        assert _found(matcher, "a cup of tea") == []
        assert _found(matcher, "CUP, primary unknown") == [("SITE", "unknown_primary", "CUP")]


def test_each_context_reads_terms_its_own_way():
    criteria = recognise.TermMatcher(TABLE, recognise.CRITERIA)
    message = recognise.TermMatcher(TABLE, recognise.MESSAGE)
    # Four capitals: criteria text writes them in capitals; a patient may not.
    assert _found(criteria, "had imrt") == []
    assert _found(message, "had imrt") == [("TREATMENT", "radiotherapy", "imrt")]
    # "my" for "the" is a patient's way of saying it.
    assert _found(criteria, "back of my nose") == []
    assert _found(message, "back of my nose") == [("SITE", "nasopharynx", "back of my nose")]
    # Chinese is matched in prepared text, one word per character.
    assert _found(message, "我爸喉癌") == [("SITE", "larynx", "喉 癌")]
    # Hyphens and spaces are the same in both.
    for matcher in (criteria, message):
        assert [v for _, v, _ in _found(matcher, "HPV positive")] == ["positive"]


def test_matchers_can_share_one_pipeline():
    first = recognise.TermMatcher(TABLE, recognise.MESSAGE)
    second = recognise.TermMatcher({"CITY": [("Changsha", "city")]}, recognise.MESSAGE, nlp=first.nlp)
    assert second.nlp is first.nlp
    assert _found(second, "near changsha") == [("CITY", "city", "changsha")]


# --- ECOG and Karnofsky -----------------------------------------------------------------------------


def test_grades_and_scores_come_from_ecog_yaml():
    assert recognise.ecog_grades() == (0, 1, 2, 3, 4)
    assert recognise.karnofsky_scores() == (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
    grade = re.compile(rf"{recognise.grade_pattern(words=True)}\Z", re.I)
    assert grade.match("3") and grade.match("Zero") and grade.match("four")
    assert not grade.match("5") and not grade.match("five")
    score = re.compile(rf"{recognise.score_pattern()}\Z")
    assert score.match("100") and score.match("70")
    assert not score.match("75") and not score.match("0")


def test_score_prefixes_in_both_contexts():
    for touching in (True, False):
        prefix = re.compile(recognise.score_prefix("ecog", touching_numbers=touching), re.I)
        assert prefix.search("ECOG PS 0-1").group(0) == "ECOG PS"
        assert prefix.search("ECOG-PS 1").group(0) == "ECOG-PS"
        assert prefix.search("PSA 4.2") is None  # inside a longer word
        assert re.search(recognise.score_prefix("karnofsky", touching), "Karnofsky score 80").group(0)
    assert re.search(recognise.score_prefix("ecog", touching_numbers=True), "PS0")
    assert not re.search(recognise.score_prefix("ecog", touching_numbers=False), "PS0")
    # Chinese prefixes are prepared like the text they are read in.
    assert re.search(recognise.score_prefix("ecog", True), vocab.prepare("体力评分1分"))


def test_ps_0_1_is_read_by_the_normaliser_and_the_parser():
    assert normalize.ecog("PS 0-1").value == (0, 1)
    (rule,) = [c for c in parse.parse_criteria("Inclusion Criteria:\n* PS 0-1").criteria if c["field"] == "ecog"]
    assert rule["max"] == 1 and "min" not in rule


def test_ps_0_1_is_read_by_the_nlu_component():
    pytest.importorskip("rasa")
    from bot.nlu import components

    assert [(f.entity, f.value) for f in components.extract("PS 0-1")] == [("ecog", "0-1")]


# --- word lists ----------------------------------------------------------------------------------


def test_phrase_regex_reads_spaces_apostrophes_and_endings():
    words = recognise.phrase_regex(["malignan*", "years old", "i'm"])
    pattern = re.compile(rf"\b(?:{words})\b", re.I)
    assert pattern.search("other malignancies").group(0) == "malignancies"
    assert pattern.search("18 years  old").group(0) == "years  old"
    assert pattern.search("I’m 61").group(0) == "I’m"
    assert pattern.search("malign") is None


def test_the_normalisers_and_the_action_server_import_no_spacy_or_tensorflow():
    """spaCy comes in where a matcher is built (the parser, the Rasa component); importing it
    pulls in TensorFlow through thinc, some 400 MB in an action server that needs neither."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import actions.forms, actions.results, actions.converse, actions.privacy, knowledge.normalize\n"
        "print(sorted(m for m in ('spacy', 'thinc', 'tensorflow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
