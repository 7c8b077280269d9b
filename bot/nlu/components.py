"""Rasa graph component: the clinical entities of a patient's or nurse's message.

``ClinicalEntityExtractor`` tags the entities listed in docs/conversation.md
(age, tumor_site, stage, tnm, ecog, treatment, drug, cycles, response, p16,
differentiation, histology, recurrence, sex, nct_id, number). Every entity's ``value`` is canonical (what
``knowledge.normalize`` returns for the words); ``start``/``end`` are the
character offsets of the words the user typed (``text`` repeats them).

How it reads a message:

* Vocabulary words (sites and the ambiguous site words, drug names, aliases and
  brands, treatment words, responses, p16, differentiation, ECOG descriptions
  including the ECOG button texts) are found by ``knowledge.recognise.TermMatcher`` (a
  spaCy ``PhraseMatcher`` on a blank English pipeline, the same one the criteria parser
  uses, reading as a message is: ``recognise.MESSAGE``). Its patterns are generated from ``knowledge.vocab``:
  no clinical word list lives here, so a synonym added to
  ``knowledge/vocabulary`` reaches the bot without touching this file. Matching
  is on spaCy's NORM (lower case, "can't" = "cannot" = "cant"); hyphens and
  spaces are interchangeable ("HPV-positive" = "HPV positive"), and "the" in a
  term stands for any determiner ("back of my nose" = "back of the nose"). Abbreviations of
  two or three capitals ("CR", "PD", "RT", "CUP", "NPC") only count when
  written in capitals, so "cup" or "pd" in running text are not read.
* Numbers with a meaning are small regular expressions: ages ("58 years old",
  "aged 61", "I'm fifty-eight", "61M"), stages (the stage words of
  ``staging.yaml``: "stage 4a", "stage IV", or a whole answer "IVa"), TNM
  (``staging``'s TNM expression), ECOG / PS / Karnofsky scores, cycles
  ("3 cycles", "three rounds", "x4") and NCT ids.
* Everything else that is a number ("58", "1", "two", "0-1") is ``number``:
  the form decides what it answers.
* Chinese is read through ``knowledge.vocab.prepare`` (the one place that knows
  how Chinese is written): Chinese numerals that count become digits and every
  Chinese character becomes a word of its own, so "我爸喉癌晚期，今年六十六岁" is
  matched as "我 爸 喉 癌 晚 期 , 今 年 66 岁" by the same patterns (the Chinese
  terms of the vocabulary are prepared the same way) and each entity's offsets
  are mapped back to the message as typed.
* The longest match wins and entities never overlap: "base of tongue"
  (oropharynx) beats "tongue" (oral cavity), "ECOG 1" beats the bare "1",
  "PD-L1" (treatment) beats "PD" (response).

Only the first ``MAX_CHARS`` characters of a message are read, so a pasted
letter cannot slow the bot down. The pipeline is built once per process.

``ClinicalEntityFeaturizer`` turns the same entities into sparse features for
DIET (which kind of entity each token is), so a drug, site or age never seen in
the training data still reads as an answer (``inform``).

``extract(text)`` is usable without Rasa (tests, scripts): it returns ``Found``
tuples (entity, value, start, end).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Text, Tuple

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.featurizers.sparse_featurizer.sparse_featurizer import SparseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge import normalize, recognise, staging, therapy, vocab

logger = logging.getLogger(__name__)

MAX_CHARS = 2000  # only this much of a message is read

# Entity names (docs/conversation.md).
AGE, TUMOR_SITE, STAGE, TNM, ECOG = "age", "tumor_site", "stage", "tnm", "ecog"
TREATMENT, DRUG, CYCLES, RESPONSE = "treatment", "drug", "cycles", "response"
P16, DIFFERENTIATION, HISTOLOGY, RECURRENCE, SEX = "p16", "differentiation", "histology", "recurrence", "sex"
NCT_ID, NUMBER = "nct_id", "number"
ENTITY_NAMES = (
    AGE,
    TUMOR_SITE,
    STAGE,
    TNM,
    ECOG,
    TREATMENT,
    DRUG,
    CYCLES,
    RESPONSE,
    P16,
    DIFFERENTIATION,
    HISTOLOGY,
    RECURRENCE,
    SEX,
    NCT_ID,
    NUMBER,
)
# Cities (knowledge/vocabulary/cities.yaml) are no entity (the form reads the city from
# the text with knowledge.geo) but are a feature for DIET: "Changsha" is an answer.
CITY = "city"
FEATURE_NAMES = ENTITY_NAMES + (CITY,)

# When two candidates cover exactly the same characters, the earlier name wins.
_PRIORITY = {
    name: i
    for i, name in enumerate(
        (
            NCT_ID,
            TNM,
            STAGE,
            ECOG,
            AGE,
            CYCLES,
            DRUG,
            TREATMENT,
            TUMOR_SITE,
            P16,
            DIFFERENTIATION,
            HISTOLOGY,
            RECURRENCE,
            SEX,
            RESPONSE,
            NUMBER,
        )
    )
}


@dataclass(frozen=True)
class Found:
    """One entity: name, canonical value and character offsets in the message."""

    entity: str
    value: str
    start: int
    end: int


# --- vocabulary patterns -------------------------------------------------------------------------


def _term_table() -> Dict[str, List[Tuple[str, str]]]:
    """(term, canonical value) pairs per entity, all from ``knowledge.vocab``.

    A value is the term's vocabulary code: exactly what the ``knowledge.normalize``
    function of that kind of word returns for the term (tests/test_components.py
    checks every term), looked up once here instead of once per message.
    """
    ambiguous = [(term, "|".join(codes)) for term, codes in vocab.ambiguous_site_terms()]
    return {
        TUMOR_SITE: [(t, c) for t, c in vocab.site_terms()] + ambiguous,
        DRUG: vocab.drug_terms(),
        TREATMENT: vocab.treatment_terms() + [(t, "none") for t in vocab.no_treatment_terms()],
        RESPONSE: vocab.response_terms(),
        P16: vocab.p16_terms(),
        DIFFERENTIATION: vocab.differentiation_terms(),
        HISTOLOGY: vocab.histology_terms(),
        SEX: vocab.sex_in_passing_terms(),
        ECOG: [(term, str(grade)) for term, grade in vocab.ecog_terms()],
    }


# --- regular expressions for numbers with a meaning -----------------------------------------------


def _alternation(words: Iterable[str]) -> str:
    """Words as the patterns see them (Chinese prepared: "个周期" -> "个 周 期"), longest first."""
    return "|".join(re.escape(w) for w in sorted({vocab.prepare(str(w)) for w in words}, key=len, reverse=True))


@dataclass(frozen=True)
class _Regexes:
    spoken: str  # a spoken number: "fifty-eight", "three", "a hundred and two"
    number: re.Pattern
    spoken_number: re.Pattern
    age_unit: re.Pattern
    age_cue: re.Pattern
    age_pronoun: re.Pattern
    age_shorthand: re.Pattern
    age_zh: re.Pattern
    ecog: re.Pattern
    karnofsky: re.Pattern
    cycles_after: re.Pattern
    cycles_before: re.Pattern
    cycles_times: re.Pattern
    nct: re.Pattern


def _build_regexes() -> _Regexes:
    numbers = recognise.number_words()
    units, tens = numbers.units, numbers.tens
    small = [w for w, n in units.items() if 0 < n < 10]
    spoken = (
        rf"(?:(?:a|one)\s+hundred(?:\s+and\s+(?:(?:{_alternation(tens)})(?:[\s\-]+(?:{_alternation(small)}))?|{_alternation(units)}))?"
        rf"|(?:{_alternation(tens)})(?:[\s\-]+(?:{_alternation(small)}))?"
        rf"|{_alternation(units)})"
    )
    digits = r"\d{1,3}"
    num = rf"(?:{digits}|{spoken})"
    b = r"(?<![\w.])"  # a number starts a word
    e = r"(?![\w])"
    # Words allowed between "ECOG"/"KPS" and the score (ecog.yaml): "ECOG is probably 1", "KPS should be 80";
    # Chinese characters too: "ECOG 评 分 是 1", "KPS 评 分 80".
    fillers = recognise.phrase_regex(vocab.load("ecog")["score_fillers"])
    filler = rf"(?:[\s:=#(\-]+|\b(?:{fillers})\b|[{vocab.CJK}])*?"
    treatments = vocab.load("treatments")
    cycle_words = _alternation(treatments["cycle_words"])
    cycle_filler = rf"(?:(?:{recognise.phrase_regex(treatments['cycle_fillers'])})\s+)?"
    # "my aunt is 61": the relatives of people.yaml (knowledge/speaker.py reads the same words).
    people_words = vocab.load("people")
    people = _alternation(w for words in people_words["relatives"].values() for w in words)
    said = people_words["age_statements"]
    grade = recognise.grade_pattern()
    return _Regexes(
        spoken=spoken,
        number=re.compile(rf"{b}(\d{{1,4}}(?:\.\d+)?)(?:\s*(?:-|–|to|or)\s*(\d{{1,3}}(?:\.\d+)?))?\s*%?(?![\w])", re.I),
        spoken_number=re.compile(rf"\b{spoken}\b", re.I),
        # "58 years old", "58-year-old", "61 yo", "61 y/o", "58 yrs"
        age_unit=re.compile(
            rf"{b}(?P<num>{num})\s*-?\s*(?:(?P<old>years?[\s\-]*old|yrs?[\s\-]*old|year[\s\-]*old|years?\s+of\s+age|y\.?\s?o\.?(?!\w)|y/o|周\s岁|岁)|(?P<bare>years?|yrs?))(?![\w/])",
            re.I,
        ),
        # "aged 61", "age 45", "age: 45", "my age is 58", "at the age of 45"
        age_cue=re.compile(
            rf"\b(?:aged|age)(?:\s*(?::|=|-|is|of|was|to)\s*|\s+)(?:about\s+|around\s+)?(?P<num>{num}){e}", re.I
        ),
        # "I'm 61", "I am fifty-eight", "he's 70", "the patient is 52", "just turned 60"
        age_pronoun=re.compile(
            rf"(?:\b(?:{recognise.phrase_regex(said['subjects'])}|(?:{recognise.phrase_regex(said['named_then_is'])}|{people})\s+is)"
            rf"|\b(?:{recognise.phrase_regex(said['turning'])}))\s+(?:(?:{recognise.phrase_regex(said['softeners'])})\s+)?(?P<num>{num})"
            rf"(?![\w])(?!\s*(?:%|percent|cycles?|rounds?|courses?|doses?|weeks?|months?|days?|hours?|kg|cm|mm|times|x\b|or\s+\d))",
            re.I,
        ),
        # nurse shorthand "61M", "58F": the age, and the letter is the sex
        age_shorthand=re.compile(rf"{b}(?P<num>\d{{2,3}})(?P<sex>M|F)(?![\w])"),
        # "年 龄 62", "今 年 66" (prepared Chinese), not "今 年 3 月" (a month) or "今 年 3 个 周 期"
        age_zh=re.compile(
            r"(?:年\s龄|年\s纪|岁\s数|今\s年)\s*(?:是\s|为\s|:\s*|已\s经\s|都\s|也\s)?(?P<num>\d{1,3})"
            r"(?!\s*(?:月|号|日|年|个|次|期|级|分|周|天|%|\.\d|\d))"
        ),
        ecog=re.compile(
            rf"{recognise.score_prefix('ecog', touching_numbers=True)}{filler}(?<!\d)({grade})(?:\s*(?:-|–|~|～|to|or|到|或|至)\s*({grade}))?(?!\d|\.\d)",
            re.I,
        ),
        karnofsky=re.compile(
            rf"{recognise.score_prefix('karnofsky', touching_numbers=True)}{filler}(?<!\d)(\d{{1,3}})(?:\s*%)?(?!\d|\.\d)",
            re.I,
        ),
        # not an ordinal: "第 1 次" is "the first time" (prepared Chinese)
        cycles_after=re.compile(rf"{b}(?<!第\s)(?:\d{{1,2}}|{spoken})\s+{cycle_filler}(?:{cycle_words})\b", re.I),
        cycles_before=re.compile(rf"\b(?:{cycle_words})\s*(?:x|×|:)?\s*(?:\d{{1,2}}|{spoken}){e}", re.I),
        cycles_times=re.compile(r"(?:\bx|×)\s*\d{1,2}\b", re.I),
        nct=re.compile(r"(?<![A-Za-z0-9])NCT[\s\-]?(\d{8})(?!\d)", re.I),
    )


# --- the pipeline ----------------------------------------------------------------------------------


@dataclass
class _Pipeline:
    nlp: Any
    terms: recognise.TermMatcher  # the vocabulary words of every entity
    regexes: _Regexes
    cities: recognise.TermMatcher  # city names, a feature for DIET (no entity)


@functools.lru_cache(maxsize=1)
def pipeline() -> _Pipeline:
    """The blank English pipeline and its matchers, built once from the vocabulary, read as a
    message is (``recognise.MESSAGE``)."""
    terms = recognise.TermMatcher(_term_table(), recognise.MESSAGE)
    cities = recognise.TermMatcher({CITY: [(t, CITY) for t in _city_terms()]}, recognise.MESSAGE, nlp=terms.nlp)
    return _Pipeline(nlp=terms.nlp, terms=terms, regexes=_build_regexes(), cities=cities)


def _city_terms() -> List[str]:
    """City names and aliases from knowledge/vocabulary/cities.yaml (none if it is missing)."""
    if not (vocab.VOCABULARY_DIR / "cities.yaml").exists():
        return []
    return [
        str(t)
        for e in vocab.load("cities")["cities"]
        for t in [e["name"], *([e["name_zh"]] if e.get("name_zh") else []), *e.get("aliases", [])]
    ]


# --- values ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _age_value(text: str) -> Optional[str]:
    result = normalize.age(text)
    if result is None:
        return None
    if result.value is not None:
        return str(result.value)
    number = normalize.first_number(text)  # implausible (150): the form says so
    return str(int(number)) if number is not None else None


@functools.lru_cache(maxsize=4096)
def _stage_value(text: str) -> Optional[str]:
    result = normalize.stage(text)
    if result is None or result.unknown:
        return None
    return ",".join(result.value)


@functools.lru_cache(maxsize=4096)
def _ecog_value(text: str) -> Optional[str]:
    result = normalize.ecog(text)
    if result is None or result.value is None:
        return None
    if isinstance(result.value, tuple):
        return f"{result.value[0]}-{result.value[1]}"
    return str(result.value)


@functools.lru_cache(maxsize=4096)
def _cycles_value(text: str) -> Optional[str]:
    # normalize.treatment() reads cycles with this helper; calling it directly skips
    # the drug and treatment word searches, which the PhraseMatcher has already done.
    cycles = normalize.cycles(text, vocab.load("treatments")["cycle_words"])
    return None if cycles is None else str(cycles)


def _tnm_value(match: re.Match) -> Optional[str]:
    tnm = staging.parse_tnm(match.group(0))
    if tnm is None:
        return None
    return f"{tnm.prefix}{tnm.t}{tnm.n}{tnm.m or ''}"


def _number_text_value(text: str) -> Optional[str]:
    if re.fullmatch(r"\d+", text):
        return str(int(text))
    if re.fullmatch(r"\d+\.\d+", text):
        return text
    n = normalize.words_to_number(text)
    return None if n is None else str(n)


# --- candidates -----------------------------------------------------------------------------------


_LONG_RUN = re.compile(r"\S{65,}")  # no vocabulary term is this long without a space


def _phrase_candidates(pipe: _Pipeline, text: str) -> List[Found]:
    # spaCy's tokenizer is slow on very long runs without spaces (2,000 emoji take
    # ~0.4 s); such runs hold no vocabulary term, so they are blanked out, keeping offsets.
    doc = pipe.nlp.make_doc(_LONG_RUN.sub(lambda m: " " * len(m.group()), text))
    return [Found(entity, value, span.start_char, span.end_char) for entity, value, span in pipe.terms(doc)]


def _regex_candidates(pipe: _Pipeline, text: str) -> List[Found]:
    rx = pipe.regexes
    found: List[Found] = []

    def add(entity: str, start: int, end: int, value: Optional[str]) -> None:
        if value is not None and end > start:
            found.append(Found(entity, value, start, end))

    for m in rx.nct.finditer(text):
        add(NCT_ID, m.start(), m.end(), "NCT" + m.group(1))
    for m in staging.TNM_PATTERN.finditer(text):
        add(TNM, m.start(), m.end(), _tnm_value(m))
    found.extend(_stage_candidates(text))
    for m in rx.ecog.finditer(text):
        # The grade(s) alone: "PS1" or "ECOG of 1 to 2" read the same as "1" / "1-2".
        add(ECOG, m.start(), m.end(), _ecog_value(m.group(1) + (f"-{m.group(2)}" if m.group(2) else "")))
    for m in rx.karnofsky.finditer(text):
        add(ECOG, m.start(), m.end(), _ecog_value(f"KPS {m.group(1)}"))
    for pattern in (rx.cycles_after, rx.cycles_before, rx.cycles_times):
        for m in pattern.finditer(text):
            add(CYCLES, m.start(), m.end(), _cycles_value(m.group(0)))
    # "now it came back" / "it hasn't come back": knowledge.therapy reads recurrence words (and
    # knows "the scan came back clear" is none).
    found.extend(Found(RECURRENCE, value, start, end) for start, end, value in therapy.recurrence_mentions(text))
    found.extend(_age_candidates(rx, text))
    found.extend(_number_candidates(rx, text))
    return found


def _age_candidates(rx: _Regexes, text: str) -> List[Found]:
    found = []
    for m in rx.age_unit.finditer(text):
        if m.group("bare"):
            # "58 years" is an age, "2 years ago" / "for 30 years" are not.
            before = text[: m.start()].split()
            after = text[m.end() :].lstrip().lower()
            value = _age_value(m.group("num"))
            if (
                value is None
                or int(value) < 10
                or (before and before[-1].lower() in _not_age_before())
                or re.match(r"(?:ago|since|later|before|after|back|now|of|in|with|on|post|out|into|and\s+\d)\b", after)
            ):
                continue
        value = _age_value(m.group(0))
        if value is not None:
            found.append(Found(AGE, value, m.start(), m.end()))
    for m in rx.age_cue.finditer(text):
        value = _age_value(m.group("num"))
        if value is not None:
            found.append(Found(AGE, value, m.start(), m.end()))
    for m in rx.age_pronoun.finditer(text):
        value = _age_value(m.group("num"))
        if value is not None and int(value) >= 10:  # "I'm 2 weeks post-op", "I'm one of..." are no ages
            found.append(Found(AGE, value, m.start("num"), m.end("num")))
    for m in rx.age_shorthand.finditer(text):
        value = _age_value(m.group("num"))
        if value is not None:
            found.append(Found(AGE, value, m.start("num"), m.end("num")))
            found.append(Found(SEX, "male" if m.group("sex") == "M" else "female", m.start("sex"), m.end("sex")))
    for m in rx.age_zh.finditer(text):
        value = _age_value(m.group("num"))
        if value is not None and int(value) >= 10:
            found.append(Found(AGE, value, m.start(), m.end()))
    return found


@functools.lru_cache(maxsize=1)
def _not_age_before() -> frozenset:
    """Words before "<n> years" that make it a time, not an age ("for 30 years"): people.yaml."""
    return frozenset(str(w) for w in vocab.load("people")["age_statements"]["not_before_years"])


def _stage_candidates(text: str) -> List[Found]:
    """Stage groups after a stage word anywhere ("stage 4a", "Stage IV or IVb"), or a whole
    answer written like a stage ("IVa", "it's III", "4b"). A bare digit or number word
    without a letter ("3", "four") is left to ``number``: the form knows what it asked."""
    prefixed, whole, pronoun, alternative = staging.stage_patterns()
    found = []

    def extend(match: re.Match) -> int:
        end = match.end()
        while (more := alternative.match(text, end)) is not None:
            end = more.end()
        return end

    for m in prefixed.finditer(text):
        if not staging.is_stage(m, text, pronoun):
            continue
        end = extend(m)
        value = _stage_value(text[m.start() : end])
        if value:
            found.append(Found(STAGE, value, m.start(), end))
    for m in staging.suffixed_stage_pattern().finditer(text):  # Chinese: "3 期", "IVA 期"
        value = _stage_value(text[m.start() : m.end()])
        if value:
            found.append(Found(STAGE, value, m.start(), m.end()))
    vague = staging.vague_stage(text)  # "晚期": every group it may be
    if vague is not None and not found:
        found.append(Found(STAGE, ",".join(s for s in staging.STAGE_ORDER if s in vague[2]), vague[0], vague[1]))
    if not found:
        m = whole.match(text)
        if m is not None:
            number = m["number"]
            letter = m["joined"] or m["spaced"]
            roman = number.isalpha() and re.fullmatch(r"[IVX]+", number, re.I) is not None and number.lower() != "i"
            if roman or (letter and number.lower() != "i"):
                end = extend(m)
                if not text[end:].strip(" .!?"):
                    value = _stage_value(text[m.start("number") : end])
                    if value:
                        found.append(Found(STAGE, value, m.start("number"), end))
    return found


def _number_candidates(rx: _Regexes, text: str) -> List[Found]:
    found = []
    for m in rx.number.finditer(text):
        if text[max(0, m.start() - 2) : m.start()] == "第 ":
            continue  # an ordinal in Chinese ("第 1 个 试 验"): which one, not a number answered
        low = _number_text_value(m.group(1))
        if low is None:
            continue
        value = low if m.group(2) is None else f"{low}-{_number_text_value(m.group(2))}"
        found.append(Found(NUMBER, value, m.start(), m.end()))
    for m in rx.spoken_number.finditer(text):
        said = m.group(0)
        if said.lower() == "one" and normalize.one_is_no_number(
            text[max(0, m.start() - 20) : m.start()], text[m.end() : m.end() + 20]
        ):
            continue  # "this one", "one moment" (the rule and its words: knowledge.normalize)
        value = normalize.words_to_number(said)
        if value is not None:
            found.append(Found(NUMBER, str(value), m.start(), m.end()))
    return found


# --- the extractor ---------------------------------------------------------------------------------


def _resolve(candidates: List[Found]) -> List[Found]:
    """Longest first, then earliest, then by entity priority; no two entities overlap."""
    taken: List[Found] = []
    claimed = bytearray(max((c.end for c in candidates), default=0))
    for c in sorted(candidates, key=lambda f: (-(f.end - f.start), f.start, _PRIORITY[f.entity])):
        if any(claimed[c.start : c.end]):
            continue
        claimed[c.start : c.end] = b"\x01" * (c.end - c.start)
        taken.append(c)
    return sorted(taken, key=lambda f: f.start)


@functools.lru_cache(maxsize=256)
def _extract_cached(text: str) -> Tuple[Found, ...]:
    return tuple(extract(text))


@functools.lru_cache(maxsize=256)
def _feature_spans(text: str) -> Tuple[Found, ...]:
    """The entities, plus the cities outside them (value = the words), for the featurizer."""
    found = list(_extract_cached(text))
    pipe = pipeline()
    ready = vocab.prepared(text[:MAX_CHARS])
    doc = pipe.nlp.make_doc(_LONG_RUN.sub(lambda m: " " * len(m.group()), ready.text))
    for _, _, span in pipe.cities(doc):
        first, last = ready.span(span.start_char, span.end_char)
        if not any(f.start < last and first < f.end for f in found):
            found.append(Found(CITY, text[first:last], first, last))
    return tuple(found)


def extract(text: Optional[str]) -> List[Found]:
    """The clinical entities in ``text`` (only its first MAX_CHARS characters are read)."""
    if not text or not isinstance(text, str):
        return []
    text = text[:MAX_CHARS]
    if text.lstrip().startswith("/"):
        return []  # "/intent{...}": the RegexMessageHandler sets intent and entities
    pipe = pipeline()
    ready = vocab.prepared(text)  # Chinese: digits for numerals, one word per character
    prepared = ready.text
    candidates = _phrase_candidates(pipe, prepared) + _regex_candidates(pipe, prepared)
    # "no radiotherapy" is not a treatment given, and "no spread" no progression: leave them to
    # the form, which reads the whole answer with knowledge.normalize (same negation rule).
    kept = [
        f
        for f in _resolve(candidates)
        if not (f.entity in (TREATMENT, DRUG, RESPONSE) and f.value != "none" and normalize.negated(prepared, f.start))
    ]
    return [Found(f.entity, f.value, *ready.span(f.start, f.end)) for f in kept]


def entities(text: Optional[str]) -> List[Dict[Text, Any]]:
    """Rasa entity dicts for ``text`` (without the extractor name)."""
    if not text or not isinstance(text, str):
        return []
    return [
        {
            ENTITY_ATTRIBUTE_TYPE: f.entity,
            ENTITY_ATTRIBUTE_START: f.start,
            ENTITY_ATTRIBUTE_END: f.end,
            ENTITY_ATTRIBUTE_VALUE: f.value,
            "text": text[f.start : f.end],
            "confidence_entity": 1.0,
        }
        for f in _extract_cached(text)
    ]


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """A hash of everything the entities depend on: this module, the knowledge modules it
    calls and the vocabulary files. Rasa's training cache only fingerprints a component's
    class source and config, so without this a new synonym in knowledge/vocabulary or a
    changed pattern here would reuse stale cached features."""
    import hashlib
    from pathlib import Path

    knowledge = Path(vocab.__file__).parent
    files = [
        Path(__file__),
        knowledge / "vocab.py",
        knowledge / "normalize.py",
        knowledge / "staging.py",
        knowledge / "recognise.py",
        knowledge / "therapy.py",
        *sorted(vocab.VOCABULARY_DIR.glob("*.yaml")),
    ]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class ClinicalEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Rule-based clinical entities from ``knowledge/vocabulary`` (see the module docstring)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._config = {**self.get_default_config(), **(config or {})}

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ClinicalEntityExtractor":
        pipeline()  # build the matchers now, not on the first message
        extract("warm-up: I'm 58, stage 4a, T3N1M0, ECOG 1, KPS 80, three cycles of Keytruda x4, it shrank")
        return cls(config)

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        return source_fingerprint()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            try:
                found = entities(message.get(TEXT))
            except Exception:  # never let one odd message break the conversation
                logger.exception("ClinicalEntityExtractor failed on a message; no entities added")
                found = []
            found = self.add_extractor_name(found)
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training examples keep their annotated entities: nothing to add."""
        return training_data


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class ClinicalEntityFeaturizer(SparseFeaturizer, GraphComponent):
    """Sparse features for DIET: which kind of clinical entity each token belongs to.

    One dimension per entity name (age, tumor_site, ..., number) and one for a city
    of knowledge/vocabulary/cities.yaml: a token inside an
    entity found by ``extract`` gets a 1 in its entity's dimension, and the sentence
    feature marks every kind of entity in the message. DIET thus learns that "a drug
    name on its own" is an answer even for drugs, sites or ages it never saw in
    training ("methotrexate", "retromolar trigone", "I'm seventy-one"). Entities
    come from the same rules as ``ClinicalEntityExtractor``, so training and
    prediction see the same features.

    With ``mask_lemmas`` (default on) it also sets the lemma of every token inside an
    entity to a placeholder ("methotrexate" -> ``__drug__``, "voice box" ->
    ``__tumor_site__ __tumor_site__``). The CountVectorsFeaturizers read lemmas, so
    for DIET every drug name looks alike: a drug it never saw is as much an answer as
    one it did. List this featurizer before the CountVectorsFeaturizers.
    """

    @classmethod
    def required_components(cls) -> List[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**SparseFeaturizer.get_default_config(), "mask_lemmas": True}

    def __init__(self, config: Dict[Text, Any], execution_context: ExecutionContext) -> None:
        super().__init__(execution_context.node_name, {**self.get_default_config(), **config})
        self._mask_lemmas = bool(self._config["mask_lemmas"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "ClinicalEntityFeaturizer":
        pipeline()
        return cls(config, execution_context)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        pass

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        return source_fingerprint()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._featurize(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._featurize(message)
        return messages

    def _featurize(self, message: Message) -> None:
        text = message.get(TEXT)
        tokens = message.get(TOKENS_NAMES[TEXT], [])
        if not text or not tokens:
            return
        try:
            found = _feature_spans(text)
        except Exception:  # never let one odd message break training or a conversation
            logger.exception("ClinicalEntityFeaturizer failed on a message; no features added")
            found = ()
        sequence = np.zeros([len(tokens), len(FEATURE_NAMES)])
        sentence = np.zeros([1, len(FEATURE_NAMES)])
        for f in found:
            column = FEATURE_NAMES.index(f.entity)
            sentence[0, column] = 1.0
            for i, token in enumerate(tokens):
                if token.start < f.end and f.start < token.end:
                    sequence[i, column] = 1.0
                    if self._mask_lemmas:
                        token.lemma = f"__{f.entity}__"
        self.add_features_to_message(
            scipy.sparse.coo_matrix(sequence), scipy.sparse.coo_matrix(sentence), TEXT, message
        )


# --- tokens: words separated by spaces, Chinese cut into words by jieba ---------------------------------


@functools.lru_cache(maxsize=1)
def _jieba():
    """jieba, loaded once, with the vocabulary's Chinese terms as words of its dictionary so a
    drug, a site or a treatment is one token ("卡瑞利珠单抗", "同步放化疗", "梨状窝")."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    for table in _term_table().values():
        for term, _ in table:
            if vocab.has_cjk(str(term)) and not re.search(r"\s", str(term)):
                jieba.add_word(str(term), freq=50000)
    for term in _city_terms():
        if vocab.has_cjk(term):
            jieba.add_word(term, freq=50000)
    return jieba


_PUNCTUATION_ONLY = re.compile(r"[\W_]+")


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class MixedTokenizer(WhitespaceTokenizer):
    """One tokenizer for both languages: English exactly as Rasa's WhitespaceTokenizer cuts
    it; a token holding Chinese (which has no spaces) cut into words by jieba (pinned in
    requirements.lock), punctuation left out; a message with Chinese is cut by jieba whole. The CountVectorsFeaturizers then see Chinese
    words and, with ``char_wb``, their character n-grams."""

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        text = message.get(attribute) or ""
        if not vocab.has_cjk(text):
            return super().tokenize(message, attribute)
        # Rasa's whitespace rules drop what follows Chinese punctuation ("三次，肿瘤..."), so a
        # message with Chinese is cut by jieba alone (it keeps Latin words and numbers whole).
        return [
            Token(word, start, end)
            for word, start, end in _jieba().tokenize(text)
            if word.strip() and not _PUNCTUATION_ONLY.fullmatch(word)
        ]
