"""Propose structured criteria from a trial's free eligibility text.

A registry's inclusion/exclusion text is what a reviewer signs off against, so
the parser only *proposes*: every criterion it returns carries the bullet it
came from verbatim, every bullet it cannot turn into a rule is handed back in
``unparsed`` for a human, and an imported record stays ``unreviewed`` (the
engine never calls such a trial eligible).

How it reads a text:

* The text is split into Inclusion / Exclusion sections and bullets. ``kind``
  comes from the section; lines before any header count as inclusion.
* Clinical words (sites, cancer types, treatments and drug names, responses,
  histology, differentiation, p16) are found by ``recognise.TermMatcher`` (spaCy
  ``PhraseMatcher`` patterns, read as criteria text is: ``recognise.CRITERIA``)
  generated from ``knowledge/vocabulary`` (see ``vocab``), so a new
  synonym there reaches the parser without touching this file. Within one kind
  of word the longest match wins ("nasal cavity and sinus" beats "sinus",
  "pyriform sinus" beats "sinus"). All-capital abbreviations ("RT", "CR",
  "NPC") only match in capitals, so "cup" or "rt" in running text are not read.
* Cue phrases ("excluding", "with or without", "combined with", "no prior")
  are spaCy ``Matcher`` patterns and the words for a cancer, an age,
  recurrence and pregnancy are word lists, both in
  ``vocabulary/criteria_cues.yaml``; numbers, ages, ECOG grades and stage groups
  are read with plain regular expressions (number words and ECOG / KPS prefixes
  from ``recognise``).

Rules always state what an eligible patient looks like, whatever the section:
the exclusion "Current tumor is recurrent" becomes ``recurrent in [no]``, the
exclusion "Stage I or IV" becomes ``stage not_in [I, IVA, IVB, IVC]``.

Decisions worth knowing when reviewing a proposal:

* Sites: an "excluding X" inside an inclusion bullet gives a separate
  ``not_in: [X]`` criterion next to the ``in`` list, so the trial's explicit
  exclusion stays visible even if a reviewer widens the ``in`` list. Broad
  words ("head and neck", "throat") give no ``in`` list: they do not narrow
  the site. Sites are only read in inclusion bullets, in a clause that names a
  cancer; sites in exclusion bullets ("other malignancies ... of the breast")
  are left for review.
* Stage: "stage III-IVa for oropharyngeal ... (p16-negative)" gives a rule
  limited by ``when: {tumor_site: [oropharynx], p16: [negative]}``; the
  general stage rule then applies ``when: {tumor_site: {not_in: [oropharynx]}}``.
  A four without a letter means IVA, IVB and IVC; a letter on I-III (a breast
  "IIA") is read as its stage group (II).
* Age: in an inclusion bullet ">" and "over" are read as "18 or older"
  (registries write "> 18" and "over 18" for adults) and such a criterion
  carries a note to check the boundary; in an exclusion bullet the bound is
  exact ("exclude age > 75" -> max 75, "exclude age ≥ 76" -> max 75). ECOG
  grades and cycle counts are whole numbers, so "ECOG < 2" is exactly ``max: 1``.
* Bullets about another cancer ("other malignancies within 5 years, except
  ... stage 1 or 2 skin carcinoma") only give ``other_cancer_5y``: their sites
  and stages describe the other cancer, not the trial's.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

import spacy
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from . import recognise, records, vocab

try:  # the staging module owns the order of stage groups
    from .staging import STAGE_ORDER
except ImportError:  # pragma: no cover - only while staging.py is being written
    STAGE_ORDER = ("0", "I", "II", "III", "IVA", "IVB", "IVC")


@dataclass
class ParseResult:
    """Proposed criteria (record schema form) and the bullets left for a human."""

    criteria: list[dict] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)


# --- sections and bullets ------------------------------------------------------------

_HEADER = re.compile(
    r"^\s*(?:key\s+|main\s+|major\s+)?(?P<kind>inclusion|exclusion)(?:\s+criteria)?\b(?:\s*\([^)]*\))?\s*(?::\s*(?P<rest>.*))?$",
    re.IGNORECASE,
)
# "* ", "- ", "• ", "1. ", "2)", "(a)", "iv." at the start of a line; "1.5 x ULN" is no bullet.
_BULLET = re.compile(
    r"^\s*(?:[*\-•·▪●◦‣]+|\(?\d{1,2}[.)](?!\d)|\(?[a-z][.)](?=\s)|\(?[ivx]{1,4}[.)](?=\s))\s*", re.IGNORECASE
)
# The registry's own summary line ("Ages: 18 Years to 75 Years. Sex: ALL.") is no exclusion.
_SUMMARY_LINE = re.compile(r"^\s*(?:ages?|sex|accepts healthy volunteers)\s*:", re.IGNORECASE)
_MARKDOWN_ESCAPE = re.compile(r"\\([<>*_\[\]()#+\-.!|~`\\])")


def unescape(text: str) -> str:
    """Undo the registry's Markdown escapes (``\\>`` -> ``>``, ``\\<`` -> ``<``)."""
    return _MARKDOWN_ESCAPE.sub(r"\1", text)


def split_bullets(text: str) -> list[tuple[str, str]]:
    """(kind, bullet text) for every bullet or line, in order.

    Every non-blank line is one item: registry bullets are one line each, and a
    line without a marker ("FFPE tumor tissue block must be ...") is a
    criterion of its own, not a continuation to guess about.
    """
    kind = "inclusion"
    items = []
    for line in unescape(text or "").splitlines():
        header = _HEADER.match(line)
        if header:
            kind = header["kind"].lower()
            line = header["rest"] or ""
        item = _BULLET.sub("", line, count=1).strip()
        if item:
            items.append(("inclusion" if _SUMMARY_LINE.match(item) else kind, item))
    return items


# --- the spaCy pipeline -----------------------------------------------------------------------

# Labels of the vocabulary words the parser looks for, each matched on its own so
# one piece of text can be both a site and a histology ("lymphoma").
SITE, CANCER_TYPE, TREATMENT, RESPONSE, PATH_RESPONSE, HISTOLOGY, DIFFERENTIATION, P16 = (
    "SITE",
    "CANCER_TYPE",
    "TREATMENT",
    "RESPONSE",
    "PATH_RESPONSE",
    "HISTOLOGY",
    "DIFFERENTIATION",
    "P16",
)


def _p16_markers() -> set[str]:
    """The words that make a p16 term about p16 at all ("p16", "HPV"), read from the vocabulary.

    The p16 vocabulary also holds bare "positive"/"negative" (answers to the p16
    question); in criteria text those words mean anything, so only terms that
    contain a marker (a word with a digit, or in capitals) are used.
    """
    markers = set()
    for term, _ in vocab.p16_terms():
        for word in re.split(r"[\s\-+]+", term):
            if word and (any(ch.isdigit() for ch in word) or (word.isupper() and len(word) > 1)):
                markers.add(word.lower())
    return markers


def _term_table() -> dict[str, list[tuple[str, str]]]:
    """(term, code) pairs per label, all generated from the vocabulary."""
    drugs = vocab.drugs()
    markers = _p16_markers()
    return {
        SITE: vocab.site_terms(),
        CANCER_TYPE: vocab.cancer_type_terms(),
        # Drug names count as their category: "pembrolizumab" -> anti_pd1.
        TREATMENT: vocab.treatment_terms() + [(term, drugs[name]["category"]) for term, name in vocab.drug_terms()],
        # Everyday words ("smaller", "worse") are for patients; criteria use the clinical forms.
        RESPONSE: [(t, c) for t, c in vocab.response_terms() if _clinical_response(t) or _is_abbreviation(t)],
        PATH_RESPONSE: vocab.pathologic_response_terms(),
        HISTOLOGY: vocab.histology_terms(),
        # "grade 3" and "G3" also grade adverse events; only "...differentiated" is unambiguous.
        DIFFERENTIATION: [(t, c) for t, c in vocab.differentiation_terms() if "differentiat" in t.lower()],
        P16: [(t, c) for t, c in vocab.p16_terms() if set(re.split(r"[\s\-+]+", t.lower())) & markers],
    }


def _clinical_response(term: str) -> bool:
    return bool(re.search(r"response|remission|disease", term, re.IGNORECASE))


def _is_abbreviation(term: str) -> bool:
    """An abbreviation as criteria text writes it (``recognise.CRITERIA``): "CR", "OPSCC"."""
    return recognise.is_abbreviation(term, recognise.CRITERIA.abbreviation_letters)


@dataclass
class _Pipeline:
    nlp: spacy.Language
    terms: recognise.TermMatcher
    cues: Matcher


@functools.lru_cache(maxsize=1)
def _pipeline() -> _Pipeline:
    """The blank English pipeline and its matchers, built once from the vocabulary: the terms
    read as criteria text is (``recognise.CRITERIA``), the cue phrases of criteria_cues.yaml."""
    terms = recognise.TermMatcher(_term_table(), recognise.CRITERIA)
    cues = Matcher(terms.nlp.vocab)
    for name, patterns in vocab.load("criteria_cues")["cues"].items():
        cues.add(name, patterns)
    return _Pipeline(nlp=terms.nlp, terms=terms, cues=cues)


# --- one bullet, analysed -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Term:
    label: str
    code: str
    start: int  # character offsets in the bullet text
    end: int
    text: str


@dataclass
class _Bullet:
    """A bullet with its vocabulary words and cue phrases found, shared by the extractors."""

    text: str
    kind: str
    words: list[_Term]
    cues: dict[str, list[tuple[int, int]]]  # cue name -> [(start char, scope end char)]
    consumed: set[_Term] = field(default_factory=set)
    other_cancer: bool = False

    def terms(self, label: str, include_consumed: bool = False) -> list[_Term]:
        return [t for t in self.words if t.label == label and (include_consumed or t not in self.consumed)]

    def has(self, cue: str) -> bool:
        return bool(self.cues.get(cue))

    def in_scope(self, cue: str, term: _Term) -> bool:
        return any(start <= term.start < end for start, end in self.cues.get(cue, []))

    def cue_starts(self, cue: str) -> list[int]:
        return [start for start, _ in self.cues.get(cue, [])]


_SCOPE_END = {")", ";", "."}


def _analyse(text: str, kind: str) -> _Bullet:
    pipe = _pipeline()
    doc = pipe.nlp(text)
    spans = []
    for label, code, span in pipe.terms(doc):  # "rt", "cup" in lower case are left out
        if label == RESPONSE and _is_abbreviation(span.text) and _touches_hyphen(text, span.start_char, span.end_char):
            continue  # the "PD" of "PD-L1"
        spans.append(Span(doc, span.start, span.end, label=f"{label}|{code}"))
    words = []
    for label in (SITE, CANCER_TYPE, TREATMENT, RESPONSE, PATH_RESPONSE, HISTOLOGY, DIFFERENTIATION, P16):
        for span in filter_spans([s for s in spans if s.label_.startswith(label + "|")]):
            words.append(_Term(label, span.label_.split("|", 1)[1], span.start_char, span.end_char, span.text))
    words.extend(_slash_l1(doc, words))
    words.sort(key=lambda t: (t.start, t.label))

    cues: dict[str, list[tuple[int, int]]] = {}
    for match_id, start, end in _longest_matches(pipe.cues(doc)):
        name = pipe.nlp.vocab.strings[match_id]
        if name == "NON":
            scope_end = doc[end].idx + len(doc[end]) if end < len(doc) else len(text)
        elif name in ("EXCEPT",):
            scope_end = _scope_end(doc, end, _SCOPE_END)
        elif name == "NEGATION":
            scope_end = _scope_end(doc, end, {";", "."})
        elif name == "OPTIONAL":
            scope_end = _scope_end(doc, end, _SCOPE_END | {","})
        else:
            scope_end = doc[end - 1].idx + len(doc[end - 1])
        cues.setdefault(name, []).append((doc[start].idx, scope_end))
    return _Bullet(text=text, kind=kind, words=words, cues=cues)


def _longest_matches(matches: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Matcher results without a shorter match inside a longer one of the same cue."""
    matches = sorted(matches, key=lambda m: (m[1], -(m[2] - m[1])))
    kept: list[tuple[int, int, int]] = []
    for match in matches:
        if any(k[0] == match[0] and k[1] <= match[1] and match[2] <= k[2] for k in kept):
            continue
        kept.append(match)
    return kept


def _scope_end(doc: Doc, start: int, stops: set[str]) -> int:
    """Character offset where a cue's scope ends: the first stop token after it."""
    for token in doc[start:]:
        if token.text in stops:
            return token.idx
    return len(doc.text)


def _touches_hyphen(text: str, start: int, end: int) -> bool:
    return (start > 0 and text[start - 1] == "-") or (end < len(text) and text[end] == "-")


def _slash_l1(doc: Doc, words: list[_Term]) -> list[_Term]:
    """ "PD-1/L1" is shorthand for PD-1 and PD-L1: add the PD-L1 code after a slash.

    The code is whatever the vocabulary calls "PD-L1", so the shorthand follows the
    vocabulary rather than naming a category here.
    """
    pdl1 = dict((t.lower(), c) for t, c in vocab.treatment_terms()).get("pd-l1")
    pd1 = dict((t.lower(), c) for t, c in vocab.treatment_terms()).get("pd-1")
    if not pdl1 or not pd1:
        return []
    extra = []
    for term in words:
        if term.label != TREATMENT or term.code != pd1:
            continue
        rest = doc.text[term.end :]
        m = re.match(r"\s*/\s*L1\b", rest, re.IGNORECASE)
        if m:
            extra.append(_Term(TREATMENT, pdl1, term.end, term.end + m.end(), m.group(0).strip()))
    return extra


# --- small helpers ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _num_pattern() -> str:
    return r"(?:\d+(?:\.\d+)?|" + recognise.number_words().pattern() + r")(?![\w.]\d|\w)"


def _number(text: str) -> float | int:
    spoken = recognise.number_words().value(text)
    if spoken is not None:
        return spoken
    value = float(text.strip())
    return int(value) if value.is_integer() else value


def _codes_in_order(field_name: str, codes: Iterable[str]) -> list[str]:
    """Unique codes in vocabulary order, so output never depends on word order."""
    values = vocab.field(field_name).values
    unique = dict.fromkeys(str(c) for c in codes)
    return sorted(unique, key=lambda c: (values.index(c) if c in values else len(values), c))


def _category_rule(kind: str, codes: Iterable[str], field_name: str) -> dict:
    """``in`` for an inclusion, ``not_in`` for an exclusion."""
    return {"field": field_name, "in" if kind == "inclusion" else "not_in": _codes_in_order(field_name, codes)}


def _bound(op: str, n: float, strict: bool, kind: str, whole: bool) -> tuple[str, float]:
    """The eligible side of "op n" as (min|max, value).

    ``op`` is "min" for ">"/"at least" and "max" for "<"/"up to". An exclusion turns
    it around ("exclude > 75" -> max 75). With ``whole`` (grades, cycles) a strict
    bound moves by one ("< 2" -> max 1); otherwise strict reads as inclusive.
    """
    step = 1 if whole else 0
    if kind == "inclusion":
        if op == "min":
            return "min", n + step if strict else n
        return "max", n - step if strict else n
    if op == "min":  # excluded when above n
        return "max", n if strict else n - 1
    return "min", n if strict else n + 1


_STRICT = re.compile(
    r"^(?:>|<|over|under|older|younger|above|below|more|less|greater|fewer)(?!.*\bequal)", re.IGNORECASE
)


def _clauses(text: str) -> list[tuple[int, int]]:
    """Character ranges of the clauses of a bullet (split at ";" and sentence ends)."""
    cuts = [0] + [m.end() for m in re.finditer(r";|\.(?=\s|$)", text)] + [len(text)]
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


# --- extractors: each reads one kind of rule from a bullet -------------------------------------
#
# An extractor returns rule dicts ({"field": ..., <rule>, optional when/review_if/note});
# the driver adds kind and text.

_OTHER_CANCER = re.compile(
    r"\b(?:other|another|second(?:ary)?|prior|previous|concurrent|concomitant|additional|synchronous|history\s+of\s+(?:any\s+|a\s+)?)"
    r"\s+(?:(?:primary|active|invasive|malignant|solid)\s+)*(?:malignan\w*|cancers?|tumou?rs?|neoplasms?|carcinomas?)\b"
    r"|\bhistory\s+of\s+(?:any\s+|a\s+)?(?:malignan\w*|cancers?)\b",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=1)
def _exceptions() -> re.Pattern:
    """Words that list exceptions to the other cancers ruled out: criteria_cues.yaml."""
    words = recognise.phrase_regex(vocab.load("criteria_cues")["exception_words"])
    return re.compile(rf"\b(?:{words})\b", re.IGNORECASE)


def _other_cancer(b: _Bullet) -> list[dict]:
    """ "other malignancies within 5 years" -> other_cancer_5y in [no].

    Also marks the bullet, so its sites and stages (which describe the other
    cancer) are not read as the trial's. Listed exceptions make a "yes" a matter
    for review; a time limit other than five years is noted.
    """
    if not _OTHER_CANCER.search(b.text):
        return []
    b.other_cancer = True
    rule: dict = {"field": "other_cancer_5y", "in": ["no"]}
    if _exceptions().search(b.text):
        rule["review_if"] = ["yes"]
    years = re.search(
        rf"(?:within|in|during)\s+(?:the\s+)?(?:past|last|previous|prior|preceding)?\s*({_num_pattern()})\s*years?",
        b.text,
        re.IGNORECASE,
    )
    if not years:
        rule["note"] = "The text gives no 5-year limit; the profile asks about the last 5 years."
    elif _number(years.group(1)) != 5:
        rule["note"] = f"The text says within {years.group(1)} years; the profile asks about the last 5 years."
    return [rule]


@functools.lru_cache(maxsize=1)
def _age_cue() -> re.Pattern:
    """A word that makes a nearby number an age ("aged", "years old"): criteria_cues.yaml."""
    words = recognise.phrase_regex(vocab.load("criteria_cues")["age_words"])
    return re.compile(rf"\b(?:{words})\b", re.IGNORECASE)


_NOT_YEARS = re.compile(
    r"\s*(?:months?|weeks?|days?|hours?|mg|g/|ml|mm|cm|%|cycles?|ms\b|x\b|×|/|times)", re.IGNORECASE
)


@functools.lru_cache(maxsize=1)
def _age_regex() -> re.Pattern:
    n = _num_pattern()
    years = r"(?:\s*(?:years?|yrs?)(?:\s+old|\s+of\s+age)?)?"
    return re.compile(
        rf"(?P<range>(?:between\s+|from\s+)?(?P<low>{n}){years}\s*(?:-|–|—|~|to|and)\s*(?P<high>{n})(?P<unit>{years}))"
        rf"|(?P<minop>≥|>=|=>|≧|>|\bat\s+least|\bover|\bolder\s+than|\babove|\bgreater\s+than(?:\s+or\s+equal\s+to)?"
        rf"|\bmore\s+than|\bno\s+(?:less|younger)\s+than|\bnot\s+(?:less|younger)\s+than|\bminimum(?:\s+of)?)\s*(?P<min>{n})"
        rf"|(?P<maxop>≤|<=|=<|≦|<|\bat\s+most|\bunder|\byounger\s+than|\bbelow|\bless\s+than(?:\s+or\s+equal\s+to)?"
        rf"|\bno\s+(?:more|older)\s+than|\bnot\s+(?:more|older)\s+than|\bup\s+to|\bmaximum(?:\s+of)?)\s*(?P<max>{n})"
        rf"|(?P<post>{n}){years}\s*(?:(?P<postmin>or\s+(?:older|over|above|more)|and\s+(?:older|over|above|up)|\+)"
        rf"|(?P<postmax>or\s+(?:younger|under|below|less)|and\s+(?:younger|under|below)))",
        re.IGNORECASE,
    )


def _age(b: _Bullet) -> list[dict]:
    """Age limits: "Age ≥ 18 years", "18 Years to 75 Years", "aged 18-70", "over 18"."""
    found: dict[str, float] = {}
    strict_seen = []
    for m in _age_regex().finditer(b.text):
        number_end = m.end(next(g for g in ("high", "min", "max", "post") if m[g] is not None))
        if _NOT_YEARS.match(b.text, number_end) and not (m["range"] and m["unit"]):
            continue
        if not _about_age(b.text, m):
            continue
        if m["range"]:
            low, high = _number(m["low"]), _number(m["high"])
            if b.kind == "inclusion" and 0 <= low < high <= 120:
                found.setdefault("min", low)
                found.setdefault("max", high)
            continue
        if m["min"] is not None:
            op, n, word = "min", _number(m["min"]), m["minop"]
        elif m["max"] is not None:
            op, n, word = "max", _number(m["max"]), m["maxop"]
        else:
            op, n, word = ("min" if m["postmin"] else "max"), _number(m["post"]), ""
        if not 0 <= n <= 120:
            continue
        strict = bool(_STRICT.match(word.strip()))
        key, value = _bound(op, n, strict, b.kind, whole=b.kind == "exclusion")
        if key not in found:
            found[key] = value
            if strict and b.kind == "inclusion":
                strict_seen.append(word.strip())
    if not found or ("min" in found and "max" in found and found["min"] > found["max"]):
        return []
    rule: dict = {"field": "age", **{k: found[k] for k in ("min", "max") if k in found}}
    if strict_seen:
        rule["note"] = f"The text says '{strict_seen[0]}'; read as inclusive of the number: check the boundary."
    return [rule]


def _about_age(text: str, m: re.Match) -> bool:
    """Is this number an age? An age word nearby, or a form only ages take."""
    window = text[max(0, m.start() - 40) : m.end() + 25]
    if _age_cue().search(window):
        return True
    if m["range"] and m["unit"] and m.start() <= 8:
        return True  # the registry form "18 Years to 75 Years"
    if m["post"] is not None and re.search(r"years?|yrs?", m.group(0), re.IGNORECASE):
        return True  # "18 years or older"
    word = (m["minop"] or m["maxop"] or "").lower()
    if word in ("over", "under", "older than", "younger than", "above"):
        value = _number(m["min"] or m["max"])
        return 14 <= value <= 100  # "over 18", "under 75"
    return False


@functools.lru_cache(maxsize=1)
def _ecog_regex() -> tuple[re.Pattern, re.Pattern]:
    grade = recognise.grade_pattern(words=True)  # "0" .. "4", "zero" .. "four"
    kps = recognise.score_pattern()  # "10" .. "100"
    words = recognise.phrase_regex(vocab.load("criteria_cues")["score_fillers"])
    filler = rf"(?:\s*\([^)]*\))?\s*\)?(?:\s*(?:{words}|\(?PS\)?|:|=|%))*\s*"

    def value(g: str) -> str:
        return (
            rf"(?:(?P<op>≤|<=|=<|≦|<|≥|>=|=>|≧|>)\s*(?P<opn>{g})"
            rf"|(?P<a>{g})\s*%?\s*(?:-|–|—|~|to)\s*(?P<b>{g})"
            rf"|(?P<list>{g}(?:\s*(?:,|or|and|/)\s*{g})+)"
            rf"|(?P<single>{g})(?:\s*%)?(?P<orless>\s+or\s+(?:less|lower|below|better))?"
            rf"(?P<ormore>\s+or\s+(?:more|higher|above|greater|worse))?)(?![\d.]\d|\d)"
        )

    return (
        re.compile(rf"{recognise.score_prefix('ecog', touching_numbers=False)}{filler}{value(grade)}", re.IGNORECASE),
        re.compile(
            rf"{recognise.score_prefix('karnofsky', touching_numbers=False)}{filler}{value(kps)}", re.IGNORECASE
        ),
    )


def _allowed(m: re.Match, scale: list[int], kind: str) -> set[int]:
    """The values of ``scale`` an eligible patient may have, from one ECOG/KPS match."""

    def n(text: str) -> int:
        return int(_number(text))

    if m["op"]:
        k, op = n(m["opn"]), m["op"]
        below = op in ("≤", "<=", "=<", "≦", "<")
        strict = op in ("<", ">")
        named = (
            {v for v in scale if (v < k if strict else v <= k)}
            if below
            else {v for v in scale if (v > k if strict else v >= k)}
        )
    elif m["a"]:
        named = {v for v in scale if n(m["a"]) <= v <= n(m["b"])}
    elif m["list"]:
        spoken = recognise.number_words().pattern(compounds=False, up_to=max(recognise.ecog_grades()))
        named = {n(x) for x in re.findall(rf"\d+|{spoken}", m["list"], re.IGNORECASE)}
    else:
        k = n(m["single"])
        named = {v for v in scale if v <= k} if m["orless"] else {v for v in scale if v >= k} if m["ormore"] else {k}
    return named if kind == "inclusion" else set(scale) - named


def _ecog(b: _Bullet) -> list[dict]:
    """ECOG limits: "ECOG 0-1", "ECOG performance status of 0 or 1", "ECOG ≤ 1", KPS ≥ 70."""
    ecog_re, kps_re = _ecog_regex()
    m = ecog_re.search(b.text)
    note = None
    if m:
        grades = _allowed(m, [0, 1, 2, 3, 4], b.kind)
    else:
        m = kps_re.search(b.text)
        if not m:
            return []
        scores = _allowed(m, list(range(0, 101, 10)), b.kind)
        common = vocab.load("ecog")["karnofsky_tables"][0]
        grades = {band["ecog"] for band in common["bands"] if any(band["min"] <= s <= band["max"] for s in scores)}
        note = (
            f"Converted from the Karnofsky score in the text ({m.group(0).strip()}) with the {common['name']} "
            "table; published conversions differ by one grade at some scores (vocabulary/ecog.yaml): check."
        )
    if not grades or sorted(grades) != list(range(min(grades), max(grades) + 1)):
        return []  # nothing allowed, or a gap ("0 or 2"): leave it to a human
    rule: dict = {"field": "ecog"}
    if min(grades) > 0:
        rule["min"] = min(grades)
    if max(grades) < 4:
        rule["max"] = max(grades)
    if len(rule) == 1:
        return []
    if note:
        rule["note"] = note
    return [rule]


@functools.lru_cache(maxsize=1)
def _stage_regexes() -> tuple[re.Pattern, re.Pattern, re.Pattern, dict]:
    """Stage tokens, prefixed mentions and bare "(III-IVB)" ranges, from staging.yaml's stage words."""
    words = vocab.load("staging")["stage_words"]
    meaning = {str(w).lower(): entry for entry in words["numbers"] for w in entry["words"]}
    number = "|".join(re.escape(w) for w in sorted(meaning, key=len, reverse=True))
    token = rf"(?<!\w)(?:{number})(?:-?[a-d])?(?![\w+])"
    # Bare ranges are read in capitals only ("III-IVB", "III-IVa"): lower-case "i-v" is running text.
    romans = [w.upper() for w in sorted(meaning, key=len, reverse=True) if re.fullmatch("[iv]+", w, re.IGNORECASE)]
    roman = rf"(?<!\w)(?:{'|'.join(romans)})(?:-?[a-dA-D])?(?![\w+])"
    prefixes = "|".join(
        re.escape(p).replace(r"\ ", r"\s+") for p in sorted([*words["prefixes"], "stages"], key=len, reverse=True)
    )
    joiner = r"\s*(?:-|–|—|~|\bto\b|\bthrough\b|,\s*(?:and|or)?|\band/or\b|\bor\b|\band\b|/)\s*"
    mention = rf"(?<!\w)(?:{prefixes})\s*(?:is\s+|:\s*)?{token}(?:{joiner}(?:(?:{prefixes})\s*)?{token})*"
    bare = rf"{roman}\s*(?:-|–|—|~|to)\s*{roman}"
    return (re.compile(token, re.IGNORECASE), re.compile(mention, re.IGNORECASE), re.compile(bare), meaning)


def stage_codes(mention: str) -> list[str]:
    """Stage codes named by one mention: "III-IVa" -> III, IVA; "I or IV" -> I, IVA, IVB, IVC."""
    token_re, _, _, meaning = _stage_regexes()
    tokens = list(token_re.finditer(mention))
    codes: list[str] = []
    i = 0
    while i < len(tokens):
        low = _token_codes(tokens[i].group(0), meaning)
        between = mention[tokens[i].end() : tokens[i + 1].start()] if i + 1 < len(tokens) else ""
        between = re.sub(r"[a-z]*\s*stages?\s*", "", between, flags=re.IGNORECASE).strip().lower()
        if i + 1 < len(tokens) and between in ("-", "–", "—", "~", "to", "through"):
            high = _token_codes(tokens[i + 1].group(0), meaning)
            if low and high:
                codes.extend(STAGE_ORDER[STAGE_ORDER.index(low[0]) : STAGE_ORDER.index(high[-1]) + 1])
            i += 2
            continue
        codes.extend(low or [])
        i += 1
    return list(dict.fromkeys(codes))


def _token_codes(token: str, meaning: dict) -> list[str] | None:
    m = re.fullmatch(r"(.+?)-?([a-d])?", token, re.IGNORECASE)
    assert m is not None  # any non-empty token matches, and the stage tokens are never empty
    number, letter = m.group(1).lower(), (m.group(2) or "").lower()
    entry = meaning.get(number)
    if entry is None and letter:  # "IIa"/"IVd" is not "I"+"Ia"; try the whole token as a number
        entry, letter = meaning.get(token.lower()), ""
    if entry is None:
        return None
    if not letter:
        return [str(c) for c in entry["means"]]
    letters = entry.get("letters")
    if letters:
        return [letters[letter]] if letter in letters else None
    return [str(c) for c in entry["means"]]  # "IIA" (breast) is part of stage group II


# A bare roman range ("III-IVB") is a stage when it is in brackets or the bullet
# speaks of staging; "NYHA class II-IV" is not.
_STAGE_CONTEXT = re.compile(r"\(\s*[IV]+[a-c]?\s*[-–—~]|\bstag|\bAJCC\b|\bTNM\b|locally\s+advanced", re.IGNORECASE)


def _stage(b: _Bullet) -> list[dict]:
    """Stage ranges, with per-site rules for "stage X for <site> (<p16>)"."""
    if b.other_cancer:
        return []
    _, mention_re, bare_re, _ = _stage_regexes()
    mentions = [*mention_re.finditer(b.text)]
    if _STAGE_CONTEXT.search(b.text):
        mentions += [m for m in bare_re.finditer(b.text) if not any(o.start() <= m.start() < o.end() for o in mentions)]
    mentions.sort(key=lambda m: m.start())
    mentions = [m for m in mentions if stage_codes(m.group(0))]
    if not mentions:
        return []
    general: list[str] = []
    per_site: list[dict] = []
    qualified_sites: list[str] = []
    for i, m in enumerate(mentions):
        piece_end = mentions[i + 1].start() if i + 1 < len(mentions) else len(b.text)
        codes = stage_codes(m.group(0))
        qualifier = re.compile(r"\b(?:for|in)\b", re.IGNORECASE).search(b.text, m.end(), piece_end)
        sites = [t for t in b.terms(SITE) if qualifier and qualifier.start() <= t.start < piece_end]
        if not sites:
            general.extend(codes)
            continue
        assert qualifier is not None  # ``sites`` is empty without one
        when: dict = {"tumor_site": _codes_in_order("tumor_site", (t.code for t in sites))}
        p16 = {t.code for t in b.terms(P16) if qualifier.start() <= t.start < piece_end}
        if len(p16) == 1:
            when["p16"] = sorted(p16)
        b.consumed.update(t for t in b.words if qualifier.start() <= t.start < piece_end)
        qualified_sites.extend(when["tumor_site"])
        per_site.append({**_category_rule(b.kind, codes, "stage"), "when": when})
    rules = []
    if general:
        rule = _category_rule(b.kind, general, "stage")
        if qualified_sites:
            rule["when"] = {"tumor_site": {"not_in": _codes_in_order("tumor_site", qualified_sites)}}
        rules.append(rule)
    return rules + per_site


@functools.lru_cache(maxsize=1)
def _cancer_word() -> re.Pattern:
    """A word that names a cancer ("carcinoma", "malignancy"): criteria_cues.yaml."""
    words = recognise.phrase_regex(vocab.load("criteria_cues")["cancer_words"])
    return re.compile(rf"\b(?:{words})\b", re.IGNORECASE)


def _tumour_words(b: _Bullet, label: str) -> tuple[list[str], list[str]]:
    """Codes of ``label`` words that describe the trial's tumour: (named, excluded).

    Only inclusion bullets, only in a clause that names a cancer (so "liver
    function" or "tongue resection" are not sites), and not a word followed by
    "metastases" ("brain metastases").
    """
    if b.kind != "inclusion" or b.other_cancer:
        return [], []
    named: list[str] = []
    excluded: list[str] = []
    clauses = _clauses(b.text)
    cancer_terms = b.terms(CANCER_TYPE, include_consumed=True) + b.terms(HISTOLOGY, include_consumed=True)
    for term in b.terms(label):
        clause = next((c for c in clauses if c[0] <= term.start < c[1]), (0, len(b.text)))
        clause_text = b.text[clause[0] : clause[1]]
        if not (_cancer_word().search(clause_text) or any(clause[0] <= t.start < clause[1] for t in cancer_terms)):
            continue
        if re.match(r"\W*metasta", b.text[term.end :], re.IGNORECASE):
            continue
        (excluded if b.in_scope("EXCEPT", term) or b.in_scope("NON", term) else named).append(term.code)
    return named, excluded


def _sites(b: _Bullet) -> list[dict]:
    """ "(hypopharyngeal cancer, ..., excluding nasopharyngeal cancer)" -> in [...] and not_in [nasopharynx]."""
    named, excluded = _tumour_words(b, SITE)
    named = [c for c in named if c not in excluded]
    rules = []
    if named:
        rules.append({"field": "tumor_site", "in": _codes_in_order("tumor_site", named)})
    if excluded:
        rules.append({"field": "tumor_site", "not_in": _codes_in_order("tumor_site", excluded)})
    return rules


def _histology(b: _Bullet) -> list[dict]:
    """ "squamous cell carcinoma of the head and neck" -> histology in [squamous_cell_carcinoma]."""
    named, excluded = _tumour_words(b, HISTOLOGY)
    named = [c for c in named if c not in excluded]
    rules = []
    if named:
        rules.append({"field": "histology", "in": _codes_in_order("histology", named)})
    if excluded:
        rules.append({"field": "histology", "not_in": _codes_in_order("histology", excluded)})
    return rules


def _differentiation(b: _Bullet) -> list[dict]:
    """ "poorly differentiated" -> differentiation in [poor] (not_in for an exclusion)."""
    if b.other_cancer:
        return []
    codes = [t.code for t in b.terms(DIFFERENTIATION)]
    return [_category_rule(b.kind, codes, "differentiation")] if codes else []


_P16_NOTATION = re.compile(r"\b(?:p16|hpv)(?:\s*(?:or|and|/)\s*(?:p16|hpv))?\s*\(\s*(?P<sign>[+-])\s*\)", re.IGNORECASE)


def _p16(b: _Bullet) -> list[dict]:
    """A general p16 requirement: "p16-negative", "HPV or P16 (-)" (per-site ones belong to stage)."""
    if b.other_cancer:
        return []
    codes = {t.code for t in b.terms(P16)}
    for m in _P16_NOTATION.finditer(b.text):
        if not any(t.start <= m.start() < t.end for t in b.consumed):
            words = dict(vocab.p16_terms())
            codes.add(words["positive" if m["sign"] == "+" else "negative"])
    if len(codes) != 1:
        return []  # none, or both: nothing to require
    return [_category_rule(b.kind, codes, "p16")]


# A treatment that contains another: ruling out the part rules out the whole.
_CONTAINS = {"chemoradiotherapy": ("chemotherapy", "radiotherapy")}
_CONDITIONAL = re.compile(
    r"\bwho\b.*\b(?:received|had|underwent|undergone|completed)\b.*\b(?:must|should|may|are\s+eligible|is\s+eligible)\b",
    re.IGNORECASE,
)


def _prior_treatment(b: _Bullet) -> list[dict]:
    """Prior treatment required, ruled out, or ruled out in combination.

    Treatments named after a negation ("No prior surgery or radiotherapy") are
    ruled out in an inclusion bullet (required in an exclusion one). Other
    treatments need a past-tense cue ("received", "previously"), so "can receive
    PD-1" or "willing to undergo surgery" are not read as history; they are
    required in an inclusion bullet and ruled out in an exclusion bullet.
    "with or without X" makes X optional; "Patients who received X must ..." is
    a condition on those patients, not a requirement, and is left for review.
    """
    terms = [t for t in b.terms(TREATMENT) if not b.in_scope("OPTIONAL", t)]
    negated = [t for t in terms if b.in_scope("NEGATION", t)]
    plain = [t for t in terms if t not in negated]
    rules = []
    if negated:
        rules += _prior_rules(b, negated, excluding=b.kind == "inclusion")
    if plain and b.has("PAST") and not (b.kind == "inclusion" and _CONDITIONAL.search(b.text)):
        rules += _prior_rules(b, plain, excluding=b.kind == "exclusion")
    return rules


def _prior_rules(b: _Bullet, terms: list[_Term], excluding: bool) -> list[dict]:
    """One group of treatments as rules; "X combined with Y" splits it in two groups."""
    codes = _codes_in_order("prior_treatment", (t.code for t in terms))
    groups = []
    for split in b.cue_starts("COMBINED"):
        before = [t.code for t in terms if t.start < split]
        after = [t.code for t in terms if t.start > split]
        if before and after:
            groups = [_codes_in_order("prior_treatment", before), _codes_in_order("prior_treatment", after)]
            break
    if excluding:
        if groups:
            return [{"field": "prior_treatment", "excludes_combination": groups}]
        wider = [whole for whole, parts in _CONTAINS.items() if set(parts) & set(codes)]
        return [{"field": "prior_treatment", "excludes_any": _codes_in_order("prior_treatment", codes + wider)}]
    return [{"field": "prior_treatment", "requires_any": group} for group in (groups or [codes])]


def _immunotherapy_codes() -> set[str]:
    """Treatment categories that are immunotherapy, by their vocabulary label."""
    return {t["code"] for t in vocab.load("treatments")["treatments"] if "immunotherapy" in t["label"].lower()}


def _cycles(b: _Bullet) -> list[dict]:
    """ "for no more than six cycles" of immunotherapy -> immunotherapy_cycles max 6."""
    if not {t.code for t in b.terms(TREATMENT, include_consumed=True)} & _immunotherapy_codes():
        return []
    n = _num_pattern()
    unit = "|".join(re.escape(w) for w in sorted(vocab.load("treatments")["cycle_words"], key=len, reverse=True))
    m = re.search(
        rf"(?P<maxop>no\s+more\s+than|not\s+more\s+than|up\s+to|at\s+most|(?:a\s+)?maximum\s+of|max\.?|≤|<=|<|fewer\s+than|less\s+than)\s*(?P<max>{n})\s*(?:{unit})\b"
        rf"|(?P<minop>at\s+least|(?:a\s+)?minimum\s+of|≥|>=|>|more\s+than)\s*(?P<min>{n})\s*(?:{unit})\b"
        rf"|(?P<low>{n})\s*(?:-|–|to)\s*(?P<high>{n})\s*(?:{unit})\b",
        b.text,
        re.IGNORECASE,
    )
    if not m:
        return []
    if m["low"]:
        if b.kind != "inclusion":
            return []
        return [{"field": "immunotherapy_cycles", "min": _number(m["low"]), "max": _number(m["high"])}]
    op, word, value = ("max", m["maxop"], m["max"]) if m["max"] else ("min", m["minop"], m["min"])
    key, bound = _bound(op, _number(value), bool(_STRICT.match(word)), b.kind, whole=True)
    return [{"field": "immunotherapy_cycles", key: bound}]


def _response(b: _Bullet) -> list[dict]:
    """ "Achieved complete response (CR) or partial response (PR)" -> immunotherapy_response in [CR, PR]."""
    pathologic = b.terms(PATH_RESPONSE, include_consumed=True)
    # "pathological complete response" is a pathologic response, not a RECIST one.
    terms = [t for t in b.terms(RESPONSE) if not any(p.start <= t.start < p.end for p in pathologic)]
    if not any(_clinical_response(t.text) for t in terms):
        return []  # a bare "PR" (as in "ER+/PR+") is not a response
    return [_category_rule(b.kind, (t.code for t in terms), "immunotherapy_response")]


def _pathologic_response(b: _Bullet) -> list[dict]:
    """ "pathological complete response (pCR)" -> pathologic_response in [pCR]."""
    codes = [t.code for t in b.terms(PATH_RESPONSE)]
    return [_category_rule(b.kind, codes, "pathologic_response")] if codes else []


# Yes/no facts: what each pattern means is in the extractor's docstring; the recurrence and
# pregnancy words are in criteria_cues.yaml.


@functools.lru_cache(maxsize=1)
def _recurrent_regex() -> re.Pattern:
    words = vocab.load("criteria_cues")["recurrence"]
    joined, alone = recognise.phrase_regex(words["negations_joined"]), recognise.phrase_regex(words["negations"])
    return re.compile(
        rf"\b(?P<neg>(?:{joined})|(?:{alone})\s+)?(?:{recognise.phrase_regex(words['words'])})\b", re.IGNORECASE
    )


@functools.lru_cache(maxsize=1)
def _pregnant_regex() -> re.Pattern:
    return re.compile(
        rf"\b(?:{recognise.phrase_regex(vocab.load('criteria_cues')['pregnancy_words'])})\b", re.IGNORECASE
    )


@functools.lru_cache(maxsize=1)
def _resectable_regex() -> re.Pattern:
    """ "resectable", "unresectable", "not operable", "eligible for radical surgery": criteria_cues.yaml."""
    words = vocab.load("criteria_cues")["resectability"]

    def alternation(key: str) -> str:
        return recognise.phrase_regex(words[key])

    return re.compile(
        rf"\b(?P<neg>(?:{alternation('negations_joined')})|(?:{alternation('negations')})\s+)?(?:{alternation('words')})\b"
        rf"|\b(?:{alternation('candidate_words')})\s+for\s+(?:{alternation('surgery_kinds')})\s+(?:{alternation('surgery_words')})\b",
        re.IGNORECASE,
    )


@functools.lru_cache(maxsize=1)
def _one_arm() -> re.Pattern:
    return re.compile(
        rf"\b(?:{recognise.phrase_regex(vocab.load('criteria_cues')['one_arm_words'])})\s*\w*", re.IGNORECASE
    )


def _yes_no(kind: str, negated: bool) -> str:
    """Inclusion "recurrent" -> yes; exclusion "recurrent" -> no; a negation flips it."""
    return "yes" if (kind == "inclusion") != negated else "no"


def _recurrent(b: _Bullet) -> list[dict]:
    """ "Current tumor is recurrent" (exclusion) -> recurrent in [no]; "risk of recurrence" is no fact."""
    if b.other_cancer:
        return []
    for m in _recurrent_regex().finditer(b.text):
        if re.search(r"risk\s+(?:of|for)\s*$", b.text[: m.start()], re.IGNORECASE):
            continue
        value = _yes_no(b.kind, bool(m["neg"]))
        rule: dict = {"field": "recurrent", "in": [value]}
        if value == "yes" and re.search(r"\bor\s+metastatic\b", b.text, re.IGNORECASE):
            rule["review_if"] = ["no"]
            rule["note"] = "Recurrent OR metastatic: a new metastatic tumour may also qualify."
        return [rule]
    return []


def _pregnant(b: _Bullet) -> list[dict]:
    """Pregnancy or breastfeeding, in either section (a negative test, "non-lactating") -> pregnant in [no]."""
    return [{"field": "pregnant", "in": ["no"]}] if _pregnant_regex().search(b.text) else []


def _resectable(b: _Bullet) -> list[dict]:
    """ "resectable" / "eligible for radical surgery" -> resectable in [yes]; "unresectable" -> no.

    When the bullet limits this to one arm or cohort, a patient who does not fit
    is a matter for review, not a failure.
    """
    m = _resectable_regex().search(b.text)
    if not m:
        return []
    value = _yes_no(b.kind, bool(m["neg"]))
    rule: dict = {"field": "resectable", "in": [value]}
    if _one_arm().search(b.text):
        rule["review_if"] = ["no" if value == "yes" else "yes"]
        rule["note"] = "Applies to one arm or cohort only."
    return [rule]


# Order matters: other_cancer marks its bullet first, stage consumes the sites and
# p16 of its "for <site>" qualifiers before the site and p16 extractors run.
_EXTRACTORS: tuple[Callable[[_Bullet], list[dict]], ...] = (
    _other_cancer,
    _age,
    _ecog,
    _stage,
    _sites,
    _histology,
    _differentiation,
    _p16,
    _prior_treatment,
    _cycles,
    _response,
    _pathologic_response,
    _recurrent,
    _pregnant,
    _resectable,
)
_RULE_ORDER = (
    "min",
    "max",
    "in",
    "not_in",
    "requires_any",
    "requires_all",
    "excludes_any",
    "excludes_combination",
    "needs_review",
    "when",
    "review_if",
    "note",
)


def _criterion(rule: dict, kind: str, text: str) -> dict:
    """A rule as a record criterion: field, kind, the rule, then the trial's words."""
    criterion = {"field": rule["field"], "kind": kind}
    criterion.update((key, rule[key]) for key in _RULE_ORDER if key in rule)
    criterion["text"] = text
    return criterion


def parse_criteria(text: str) -> ParseResult:
    """Proposed criteria for an eligibility text, and the bullets left for review.

    Each criterion passes ``records.check_criterion``; a proposal that would
    not (a bug, or an odd text) sends its bullet to ``unparsed`` instead.
    Identical rules from two bullets of the same section are kept once.
    """
    result = ParseResult()
    seen: set[str] = set()
    for kind, item in split_bullets(text):
        bullet = _analyse(item, kind)
        proposed: list[dict] = []
        for extract in _EXTRACTORS:
            proposed.extend(_criterion(rule, kind, item) for rule in extract(bullet))
        try:
            for i, criterion in enumerate(proposed):
                records.check_criterion(criterion, "parse", f"criteria[{i}]")
        except records.RecordError:
            proposed = []
        if not proposed:
            result.unparsed.append(item)
            continue
        for criterion in proposed:
            key = json.dumps({k: v for k, v in criterion.items() if k not in ("text", "note")}, sort_keys=True)
            if key not in seen:
                seen.add(key)
                result.criteria.append(criterion)
    return result


# --- comparing with a reviewed record ----------------------------------------------------------

COMPARED_FIELDS = ("age", "ecog", "stage", "tumor_site")


def describe(criterion: dict) -> str:
    """A rule in words for people: "min 18 max 75", "in III, IVA when tumor_site not_in oropharynx".

    Codes are listed in vocabulary order so the same rule always reads the same.
    Notes, review_if and the text are left out: they are the reviewer's, not the rule.
    """
    name = criterion["field"]
    parts = []
    for key in ("min", "max"):
        if key in criterion:
            value = criterion[key]
            parts.append(f"{key} {int(value) if float(value).is_integer() else value}")
    for key in ("in", "not_in", "requires_any", "requires_all", "excludes_any"):
        if key in criterion:
            parts.append(f"{key} {', '.join(_ordered(name, criterion[key]))}")
    if "excludes_combination" in criterion:
        groups = [", ".join(_ordered(name, g)) for g in criterion["excludes_combination"]]
        parts.append("excludes_combination " + " + ".join(groups))
    if criterion.get("needs_review"):
        parts.append("needs review")
    conditions = []
    for cond_name, cond in sorted(criterion.get("when", {}).items()):
        if isinstance(cond, dict):
            conditions.append(f"{cond_name} not_in {', '.join(_ordered(cond_name, cond['not_in']))}")
        else:
            conditions.append(f"{cond_name} in {', '.join(_ordered(cond_name, cond))}")
    if conditions:
        parts.append("when " + " and ".join(conditions))
    return " ".join(parts)


def _ordered(field_name: str, codes: Iterable) -> list[str]:
    try:
        return _codes_in_order(field_name, codes)
    except KeyError:
        return sorted(str(c) for c in codes)


def _rules_by_field(criteria: list[dict]) -> dict[str, list[str]]:
    by_field: dict[str, set[str]] = {}
    for criterion in criteria:
        if criterion.get("field") in (None, records.STUDY_TEAM):
            continue
        by_field.setdefault(criterion["field"], set()).add(describe(criterion))
    return {name: sorted(rules) for name, rules in by_field.items()}


def compare(parsed: list[dict], reviewed: list[dict]) -> list[dict]:
    """Where the parser and a reviewed record disagree, one dict per field.

    Compared: age, ecog, stage and tumor_site always (a field only one side has
    is reported with None on the other), and any other field both sides have.
    A field's rules are compared as a set of ``describe`` strings, joined with
    "; " in the report.
    """
    mine, theirs = _rules_by_field(parsed), _rules_by_field(reviewed)
    names = [f for f in COMPARED_FIELDS if f in mine or f in theirs]
    names += sorted((mine.keys() & theirs.keys()) - set(COMPARED_FIELDS))
    report = []
    for name in names:
        if mine.get(name) != theirs.get(name):
            report.append(
                {
                    "field": name,
                    "parsed": "; ".join(mine[name]) if name in mine else None,
                    "reviewed": "; ".join(theirs[name]) if name in theirs else None,
                }
            )
    return report
