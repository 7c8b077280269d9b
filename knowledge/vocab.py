"""The clinical vocabulary, read from ``knowledge/vocabulary/*.yaml``.

Every other part of the project (normalisers, the spaCy patterns, the criteria
parser, the builder, the engine and the Rasa side) asks this module for words
and codes instead of keeping its own lists, so a clinician reviews one set of
files and a new synonym reaches every part at once.

Category and set values are stored in the database as bit masks: the n-th value
of a field is bit ``1 << n``. A patient whose value is uncertain (``stage 4``:
IVA, IVB or IVC) carries several bits; an unknown value carries all of them.
That is why value lists may only ever be appended to.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import yaml

VOCABULARY_DIR = Path(__file__).parent / "vocabulary"

# Where a field's values come from when it says `values_from:`.
_VALUE_SOURCES = {
    "sites": ("sites", "sites"),
    "cancer_types": ("sites", "cancer_types"),
    "treatments": ("treatments", "treatments"),
    "histology": ("histology", "histology"),
}


@functools.lru_cache(maxsize=None)
def load(name: str) -> dict:
    """Parsed contents of ``vocabulary/<name>.yaml`` (cached: files are read once)."""
    with open(VOCABULARY_DIR / f"{name}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


@dataclass(frozen=True)
class Field:
    """One fact of the patient profile, as declared in fields.yaml."""

    name: str
    type: str  # number | category | set
    label: str
    priority: int
    core: bool = False
    derived: bool = False
    ask: bool = True  # False: set by the dialogue from how another answer was given, never asked
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None

    def bit(self, code: str) -> int:
        try:
            return 1 << self.values.index(code)
        except ValueError:
            raise KeyError(f"{code!r} is not a known {self.name} (known: {', '.join(self.values)})") from None

    def mask(self, codes: Iterable[str]) -> int:
        result = 0
        for code in codes:
            result |= self.bit(code)
        return result

    @property
    def full_mask(self) -> int:
        return (1 << len(self.values)) - 1

    def codes(self, mask: int) -> list[str]:
        """The codes whose bits are set in ``mask``, in vocabulary order."""
        return [code for i, code in enumerate(self.values) if mask >> i & 1]


@functools.lru_cache(maxsize=None)
def fields() -> dict[str, Field]:
    """Every profile field by name, in question-priority order."""
    result = {}
    for name, spec in load("fields")["fields"].items():
        values: tuple[str, ...] = tuple(str(v) for v in spec.get("values", ()))
        if "values_from" in spec:
            file, key = _VALUE_SOURCES[spec["values_from"]]
            values = tuple(entry["code"] for entry in load(file)[key])
        if spec["type"] in ("category", "set") and len(values) > 62:
            raise ValueError(f"field {name} has more than 62 values: bit masks would overflow")
        result[name] = Field(
            name=name,
            type=spec["type"],
            label=spec.get("label", name),
            priority=spec.get("priority", 99),
            core=spec.get("core", False),
            derived=spec.get("derived", False),
            ask=spec.get("ask", True) and not spec.get("derived", False),
            values=values,
            min=spec.get("min"),
            max=spec.get("max"),
        )
    return dict(sorted(result.items(), key=lambda item: item[1].priority))


def field(name: str) -> Field:
    try:
        return fields()[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a profile field (known: {', '.join(fields())})") from None


# --- sites -------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def sites() -> dict[str, dict]:
    """Tumour sites by code, each with label, cancer_type, staging and terms."""
    return {entry["code"]: entry for entry in load("sites")["sites"]}


def site(code: str) -> dict:
    return sites()[code]


def cancer_type_of(site_code: str) -> str:
    """The kind of cancer a site belongs to (``head_and_neck`` for this assistant's scope)."""
    return sites()[site_code]["cancer_type"]


@functools.lru_cache(maxsize=None)
def cancer_types() -> dict[str, dict]:
    return {entry["code"]: entry for entry in load("sites")["cancer_types"]}


def head_and_neck_sites() -> list[str]:
    return [code for code, entry in sites().items() if entry["cancer_type"] == "head_and_neck"]


# --- term tables ---------------------------------------------------------------
# Each returns (term, code) pairs; matchers sort them longest first.


def site_terms() -> list[tuple[str, str]]:
    return [(term, code) for code, entry in sites().items() for term in entry["terms"]]


def ambiguous_site_terms() -> list[tuple[str, list[str]]]:
    return [(entry["term"], entry["codes"]) for entry in load("sites").get("ambiguous", [])]


def cancer_type_terms() -> list[tuple[str, str]]:
    return [(term, code) for code, entry in cancer_types().items() for term in entry["terms"]]


def treatment_terms() -> list[tuple[str, str]]:
    """Category words ("radiotherapy", "PD-1 inhibitor") -> treatment code."""
    return [(term, entry["code"]) for entry in load("treatments")["treatments"] for term in entry["terms"]]


def no_treatment_terms() -> list[str]:
    """Phrases that say no treatment was given ("treatment-naive", "no prior therapy")."""
    return list(load("treatments").get("no_treatment_terms", []))


def drug_terms() -> list[tuple[str, str]]:
    """Drug generic names, aliases and brands -> the drug's generic name."""
    pairs = []
    for drug in load("treatments")["drugs"]:
        for term in [drug["name"], *drug.get("aliases", []), *drug.get("brands", [])]:
            pairs.append((term, drug["name"]))
    return pairs


@functools.lru_cache(maxsize=None)
def drugs() -> dict[str, dict]:
    """Drugs by generic name, each with its treatment category."""
    return {drug["name"]: drug for drug in load("treatments")["drugs"]}


def response_terms() -> list[tuple[str, str]]:
    return [(term, entry["code"]) for entry in load("treatments")["responses"] for term in entry["terms"]]


def pathologic_response_terms() -> list[tuple[str, str]]:
    return [(term, entry["code"]) for entry in load("treatments")["pathologic_responses"] for term in entry["terms"]]


def histology_terms() -> list[tuple[str, str]]:
    return [(term, entry["code"]) for entry in load("histology")["histology"] for term in entry["terms"]]


def differentiation_terms() -> list[tuple[str, str]]:
    return [(term, entry["code"]) for entry in load("histology")["differentiation"] for term in entry["terms"]]


def p16_terms() -> list[tuple[str, str]]:
    return [(term, entry["code"]) for entry in load("histology")["p16"] for term in entry["terms"]]


def ecog_terms() -> list[tuple[str, int]]:
    """Descriptions of daily life -> ECOG grade. The button texts (``patient``, ``carer``) and
    the clinical wording are terms too, so a pressed button always reads back."""
    return [
        (term, grade["grade"])
        for grade in load("ecog")["grades"]
        for term in [grade["patient"], grade.get("carer"), grade["clinical"], *grade["terms"]]
        if term
    ]


def karnofsky_grades(score: int) -> frozenset[int]:
    """Every ECOG grade a Karnofsky score is given by the published tables in ecog.yaml.

    Why a set: the tables disagree (KPS 70 is ECOG 1 in the common table, 2 in
    two empirical ones), and the engine carries that uncertainty instead of
    choosing a table. Empty for a score no table covers (0, above 100).
    """
    return frozenset(band["ecog"] for table in load("ecog")["karnofsky_tables"] for band in table["bands"]
                     if band["min"] <= score <= band["max"])


def sex_in_passing_terms() -> list[tuple[str, str]]:
    """Plain words that tell the patient's sex in a sentence about something else -> female | male."""
    words = load("answers").get("sex_in_passing") or {}
    return [(str(t), code) for code in ("female", "male") for t in words.get(code, [])]


def answer_terms() -> list[tuple[str, str]]:
    """Everyday yes / no / don't-know words -> "yes" | "no" | "unknown"."""
    answers = load("answers")
    return [(str(term), kind) for kind in ("yes", "no", "unknown") for term in answers[kind]]


# --- matching helpers -------------------------------------------------------------


def term_regex(term: str) -> str:
    """A regex for a vocabulary term: whole words, any case, flexible spaces/hyphens."""
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", term.strip()) if p]
    body = r"[\s\-]*".join(parts)
    # \b only where the term starts/ends with a word character ("p16+" ends with "+").
    start = r"\b" if re.match(r"\w", term) else r"(?<!\w)"
    end = r"\b" if re.search(r"\w$", term) else r"(?!\w)"
    return f"{start}{body}{end}"


@functools.lru_cache(maxsize=None)
def _term_pattern(term: str) -> re.Pattern:
    """``term_regex(term)`` compiled once (re's own cache holds 512 patterns; the vocabulary has more)."""
    return re.compile(term_regex(term), re.IGNORECASE)


def find_terms(text: str, pairs: Iterable[tuple[str, object]]) -> Iterator[tuple[int, int, str, object]]:
    """Non-overlapping matches of the terms in ``text``, longest term first.

    Yields (start, end, matched text, value) in text order. "base of tongue"
    wins over "tongue" because longer terms claim their span first.
    """
    taken: list[tuple[int, int]] = []
    found = []
    for term, value in sorted(pairs, key=lambda p: -len(p[0])):
        for m in _term_pattern(term).finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append((m.start(), m.end(), m.group(0), value))
    yield from sorted(found, key=lambda f: f[0])
