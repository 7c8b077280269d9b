"""One recogniser per kind of word: vocabulary terms, number words and ECOG / Karnofsky scores.

Why this module exists: the criteria parser (``knowledge.parse``), the normalisers
(``knowledge.normalize``, ``knowledge.therapy``) and the Rasa entity component
(``bot.nlu.components``) all read the same kinds of words. Each used to carry its own copy
of the rules (which capitals make an abbreviation, which spellings of a term count, which
words are numbers, what introduces an ECOG grade), and the copies had drifted apart. The
rules now live here once; a context that reads differently (a registry's criteria text
versus a patient's message) says so with an option, not with a copy.

What it offers:

* ``is_abbreviation`` and ``variants``: the shared rules for vocabulary terms;
  ``TermMatcher``: a spaCy ``PhraseMatcher`` on a blank English pipeline, built from
  (term, value) pairs per label, that drops an abbreviation written in lower case. How a
  context reads terms is a ``Reading`` (``CRITERIA`` or ``MESSAGE``).
* ``number_words``: the spoken numbers of ``vocabulary/answers.yaml``, compounds
  ("twenty-one") included.
* ``ecog_grades``, ``karnofsky_scores``, ``grade_pattern``, ``score_pattern`` and
  ``score_prefix``: what introduces a performance status and which values it takes, from
  ``vocabulary/ecog.yaml`` and the number words.
* ``phrase_regex``: a word list of the vocabulary (``vocabulary/criteria_cues.yaml``,
  ``people.yaml``...) as a regular expression.

Stage groups and TNM have their own reader, ``knowledge.staging`` (``stage_patterns``,
``is_stage``, ``suffixed_stage_pattern``, ``TNM_PATTERN``); this module does not repeat it.
Nothing here imports Rasa.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, NamedTuple

from . import vocab

if TYPE_CHECKING:  # spaCy is imported where a matcher is built: the normalisers (and so the action
    # server) need none, and importing it pulls in TensorFlow through thinc (~400 MB per process).
    import spacy
    from spacy.tokens import Doc, Span

# --- vocabulary terms ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """How one context reads vocabulary terms.

    attr: the spaCy token attribute compared ("LOWER"; "NORM" also equates "can't" and "cannot").
    abbreviation_letters: the longest all-capital term that only counts when written in capitals.
    any_determiner: "the" in a term stands for any determiner of people.yaml ("back of my nose").
    prepared: the text is ``vocab.prepare``d (Chinese as one-character words), so the terms are too.
    """

    attr: str
    abbreviation_letters: int
    any_determiner: bool
    prepared: bool


# A registry's criteria text: clinical English, abbreviations in capitals ("OPSCC", "IMRT").
CRITERIA = Reading(attr="LOWER", abbreviation_letters=5, any_determiner=False, prepared=False)
# A patient's or nurse's message, in English or Chinese: people write "my" for "the", and type
# longer abbreviations in lower case ("imrt"), so only two or three capitals must stay capitals.
MESSAGE = Reading(attr="NORM", abbreviation_letters=3, any_determiner=True, prepared=True)


def is_abbreviation(term: str, longest: int = 5) -> bool:
    """True for a term of 2 to ``longest`` capital letters ("RT", "CUP", "NPC").

    Why: such a term is also an everyday word in lower case ("cup", "rt"), so it only
    counts when written in capitals."""
    return bool(re.fullmatch(rf"[A-Z]{{2,{longest}}}", term))


@functools.lru_cache(maxsize=1)
def _determiners() -> tuple[str, ...]:
    return tuple(str(w) for w in vocab.load("people")["determiners"])


def variants(term: str, any_determiner: bool = False) -> set[str]:
    """The spellings of a term that mean it: as written, inner hyphens as spaces, spaces as
    hyphens ("HPV-positive" = "HPV positive"); with ``any_determiner``, "the" as any determiner.

    Only hyphens between two word characters are spaces: "p16-" (negative) keeps its hyphen,
    so it never becomes a bare "p16"."""
    term = term.strip()
    forms = {term, re.sub(r"(?<=\w)-(?=\w)", " ", term), re.sub(r"\s+", "-", term)}
    if any_determiner and re.search(r"\bthe\b", term, re.I):
        forms |= {re.sub(r"\bthe\b", d, term, flags=re.I) for d in _determiners()}
    return forms


class TermMatch(NamedTuple):
    """One vocabulary term found: its label, its value and the tokens it covers."""

    label: str
    value: str
    span: Span


class TermMatcher:
    """A spaCy ``PhraseMatcher`` for (term, value) pairs per label, read the way ``reading`` says.

    Within a label, terms of the same value share one pattern name ("<label>|<value>"), so
    a caller sees the value of whatever matched. An abbreviation written in lower case is
    not returned. Pass ``nlp`` to share one blank English pipeline between matchers."""

    def __init__(
        self, tables: dict[str, list[tuple[str, str]]], reading: Reading, nlp: spacy.Language | None = None
    ) -> None:
        import spacy
        from spacy.matcher import PhraseMatcher

        self.nlp = nlp if nlp is not None else spacy.blank("en")
        self.reading = reading
        self.matcher = PhraseMatcher(self.nlp.vocab, attr=reading.attr)
        self.caps_only: dict[str, set[str]] = {}  # label -> lower-case forms that must be written in capitals
        for label, pairs in tables.items():
            self._add(label, pairs)

    def _add(self, label: str, pairs: list[tuple[str, str]]) -> None:
        longest = self.reading.abbreviation_letters
        plain = {str(t).lower() for t, _ in pairs if not is_abbreviation(str(t), longest)}
        self.caps_only[label] = {str(t).lower() for t, _ in pairs if is_abbreviation(str(t), longest)} - plain
        attr = self.reading.attr.lower() + "_"
        by_value: dict[str, list[Doc]] = {}
        seen: set[tuple[str, ...]] = set()
        for term, value in pairs:
            for variant in variants(str(term), self.reading.any_determiner):
                doc = self.nlp.make_doc(vocab.prepare(variant) if self.reading.prepared else variant)
                key = (str(value), *(getattr(t, attr) for t in doc))
                if len(doc) and key not in seen:
                    seen.add(key)
                    by_value.setdefault(str(value), []).append(doc)
        for value, docs in by_value.items():
            self.matcher.add(f"{label}|{value}", docs)

    def __call__(self, doc: Doc) -> list[TermMatch]:
        """Every term in ``doc`` (overlapping matches included: the caller decides which win)."""
        found = []
        for match_id, start, end in self.matcher(doc):
            label, value = self.nlp.vocab.strings[match_id].split("|", 1)
            span = doc[start:end]
            if span.text.lower() in self.caps_only[label] and span.text != span.text.upper():
                continue  # "cup", "rt": not the abbreviation
            found.append(TermMatch(label, value, span))
        return found


# --- number words ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberWords:
    """The spoken numbers of vocabulary/answers.yaml."""

    units: dict[str, int]  # "zero" .. "nineteen"
    tens: dict[str, int]  # "twenty" .. "ninety"
    compounds: dict[str, int]  # "twenty-one" and "twenty one" .. "ninety-nine"

    @property
    def all(self) -> dict[str, int]:
        """Every word or compound -> its value: "six" 6, "twenty" 20, "twenty-one" 21."""
        return {**self.units, **self.tens, **self.compounds}

    def value(self, words: str) -> int | None:
        """The value of one number said in words ("Twenty-One" -> 21), None if it is none."""
        return self.all.get(words.strip().lower())

    def pattern(self, compounds: bool = True, up_to: int | None = None) -> str:
        """A regex alternation of the words (no group, no boundaries), longest first.

        ``compounds=False``: units and tens only; ``up_to``: only values up to this one."""
        words = {**self.units, **self.tens, **(self.compounds if compounds else {})}
        chosen = [w for w, n in words.items() if up_to is None or n <= up_to]
        return "|".join(re.escape(w) for w in sorted(chosen, key=len, reverse=True))


@functools.lru_cache(maxsize=1)
def number_words() -> NumberWords:
    """The number words, read once from vocabulary/answers.yaml (``number_words``)."""
    spoken = vocab.load("answers")["number_words"]
    units = {str(k): int(v) for k, v in spoken["units"].items()}
    tens = {str(k): int(v) for k, v in spoken["tens"].items()}
    compounds = {}
    for ten, ten_value in tens.items():
        for unit, unit_value in units.items():
            if 1 <= unit_value <= 9:
                compounds[f"{ten}-{unit}"] = compounds[f"{ten} {unit}"] = ten_value + unit_value
    return NumberWords(units=units, tens=tens, compounds=compounds)


# --- ECOG and Karnofsky scores -----------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def ecog_grades() -> tuple[int, ...]:
    """The ECOG grades of vocabulary/ecog.yaml, in order (0 to 4)."""
    return tuple(sorted(int(g["grade"]) for g in vocab.load("ecog")["grades"]))


@functools.lru_cache(maxsize=1)
def karnofsky_scores() -> tuple[int, ...]:
    """The Karnofsky scores the conversion tables of ecog.yaml cover, in tens (10 to 100)."""
    bands = [band for table in vocab.load("ecog")["karnofsky_tables"] for band in table["bands"]]
    return tuple(s for s in range(0, 101, 10) if any(b["min"] <= s <= b["max"] for b in bands))


def grade_pattern(words: bool = False) -> str:
    """A regex group for one ECOG grade: a digit, or with ``words`` also "zero" .. "four"."""
    digits = "".join(str(g) for g in ecog_grades())
    if not words:
        return f"[{digits}]"
    return f"(?:[{digits}]|{number_words().pattern(compounds=False, up_to=max(ecog_grades()))})"


def score_pattern() -> str:
    """A regex group for one Karnofsky score of the tables ("70", "100"), longest first."""
    return "(?:" + "|".join(str(s) for s in sorted(karnofsky_scores(), key=lambda s: -len(str(s)))) + ")"


def score_prefix(scale: str, touching_numbers: bool) -> str:
    """A regex for the words that introduce a score: ``scale`` "ecog" ("ECOG PS", "PS",
    "体力评分") or "karnofsky" ("KPS", "Karnofsky score"), from ecog.yaml.

    Words of a prefix may be joined by spaces or hyphens, or written together ("ECOG-PS",
    "ECOGPS"); Chinese prefixes are prepared like the texts they are read in. A prefix is
    never inside a longer word ("PSA" is no "PS"), and starts a word. ``touching_numbers``: a
    number may follow it directly ("PS0", "KPS80"), as people type; otherwise it ends a word too."""
    parts = []
    for prefix in sorted(vocab.load("ecog")[f"{scale}_prefixes"], key=len, reverse=True):
        words = [re.escape(w) for w in re.split(r"[\s\-]+", vocab.prepare(str(prefix)).strip()) if w]
        parts.append(r"[\s\-]*".join(words))
    after = r"(?![A-Za-z])" if touching_numbers else r"(?!\w)"
    return rf"(?<!\w)(?:{'|'.join(parts)}){after}"


# --- word lists of the vocabulary as regular expressions -----------------------------------------


def phrase_regex(phrases: Iterable[str]) -> str:
    """A regex alternation (no group) for the phrases of a vocabulary word list, longest first.

    The list is plain words a clinician can read; only three marks mean something: a space
    is any run of spaces, an apostrophe is either apostrophe ("i'm" = "i’m"), and a final
    "*" is any ending ("malignan*": malignant, malignancy...)."""
    parts = []
    for phrase in sorted({str(p) for p in phrases}, key=len, reverse=True):
        stem, any_ending = (phrase[:-1], True) if phrase.endswith("*") else (phrase, False)
        words = [re.escape(w).replace("'", "['’]") for w in stem.split()]
        parts.append(r"\s+".join(words) + (r"\w*" if any_ending else ""))
    return "|".join(parts)
