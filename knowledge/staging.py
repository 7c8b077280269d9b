"""AJCC 8th edition stage groups for head and neck cancer.

The tables live in vocabulary/staging.yaml so a clinician can review them
without reading Python; this module only parses what patients type and looks
things up. Nothing is ever guessed: when part of the answer is unknown (TX,
no M, p16 not tested, "stage four" with no letter) every stage group it could
be is returned, and the caller decides what to do with the uncertainty.
"""

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import yaml

STAGING_YAML = Path(__file__).parent / "vocabulary" / "staging.yaml"

STAGE_ORDER = ("0", "I", "II", "III", "IVA", "IVB", "IVC")


@dataclass(frozen=True)
class TNM:
    """A TNM classification: t "T3"/"T4a"/"Tis"/"TX", n "N2b"/"NX",
    m "M0"/"M1"/"MX" or None when not given, prefix "c"/"p"/"yc"/"yp"/""."""

    t: str
    n: str
    m: str | None = None
    prefix: str = ""


@lru_cache(maxsize=None)
def load():
    """The parsed staging.yaml, with each table's rows expanded into a
    {(t, n, m): stage code} dict. Loaded once; a row that contradicts another
    or uses an unknown stage code is a data error, raised here."""
    from .vocab import merge_languages  # Chinese words beside the English ones (vocab.load)

    data = merge_languages(yaml.safe_load(STAGING_YAML.read_text(encoding="utf-8")))
    tables = {}
    for name, table in data["tables"].items():
        if "rows_from" in table:  # same stage groups as another table (AJCC 7 = `general`)
            source = data["tables"][table["rows_from"]]
            table = {**{k: source[k] for k in ("t", "n", "m", "rows")}, **table}
        for written, meant in table.get("read_as", {}).items():
            if not set(meant) <= set(table["t"]) | set(table["n"]) | set(table["m"]):
                raise ValueError(f"staging.yaml {name}: read_as {written} names an unknown category {meant}")
        cells = {}
        for row in table["rows"]:
            code = row.get("maps_to", row["stage"])
            if code not in STAGE_ORDER:
                raise ValueError(f"staging.yaml {name}: unknown stage code {code!r}")
            axes = [table[k] if row[k] == "any" else row[k] for k in ("t", "n", "m")]
            for cell in itertools.product(*axes):
                if cells.setdefault(cell, code) != code:
                    raise ValueError(f"staging.yaml {name}: {cell} is both {cells[cell]} and {code}")
        tables[name] = {**table, "cells": cells}
    return {"tables": tables, "stage_words": data["stage_words"], "t0_sites": frozenset(data["t0_sites"])}


# --- TNM in free text ------------------------------------------------------

_PREFIX = "yp|yc|c|p"
TNM_PATTERN = re.compile(
    rf"(?<![A-Za-z0-9])(?P<prefix>{_PREFIX})?(?i:T(?P<t>is|[0-4][ab]?|x))"
    rf"[\s,;/-]*(?:{_PREFIX})?(?i:N(?P<n>[0-3][a-c]?|x))"
    rf"(?:[\s,;/-]*(?:{_PREFIX})?(?i:M(?P<m>[01]|x)))?"
    # Not followed by a lowercase letter or digit: "pT2pN0M0R0" (R = margin)
    # still matches, "T2N15" does not. Only T, N, M and their values are
    # case-insensitive; prefixes are lowercase, so "CT2" (a scan) is no cT2.
    r"(?![a-z0-9])"
)


def _category(letter, value):
    """The usual spelling of a category: T + 4A -> T4a, T + is -> Tis, N + x -> NX."""
    value = value.lower()
    return letter + ("X" if value == "x" else value)


def parse_tnm(text: str) -> TNM | None:
    """The first TNM classification in `text`, or None.

    T and N must both be present, in that order, each written as a category
    ("T3", "Tis", "TX", "N2b"): a lone "M1" or "T-cell" is not a TNM, and the
    lookbehind stops "NCT06100497" from reading as T0. Patients and letters
    write TNM many ways ("T3N1M0", "cT2 N2b M0", "pT1 pN1 M0", "T3, N1, M0",
    any case), so spacing, commas and per-category prefixes are allowed.
    """
    match = TNM_PATTERN.search(text or "")
    if not match:
        return None
    return TNM(
        t=_category("T", match["t"]),
        n=_category("N", match["n"]),
        m=match["m"] and _category("M", match["m"]),
        prefix=match["prefix"] or "",
    )


# --- TNM -> stage group ----------------------------------------------------


def _categories(value, known, read_as=None):
    """The table's categories that `value` may stand for.

    A value the table's `read_as` names -> what it says (N2b on the
    p16-positive clinical table is cN1). Unknown (TX, NX, MX, or M not
    given) -> all of them. A lettered value the
    table groups without its letter (N2b, T1a, T4a in a table with only T4)
    -> the bare category. A bare value the table only knows with letters (T4
    in `general`) -> every lettered form, since it could be any of them.
    A value the table does not have (Tis in p16-positive, pN3) -> none.
    """
    if value is None or value.endswith("X"):
        return list(known)
    if read_as and value in read_as:
        return list(read_as[value])
    if value in known:
        return [value]
    lettered = [k for k in known if k[:-1] == value and k[-1] in "abc"]
    if lettered:
        return lettered
    return [value[:-1]] if value[-1] in "abc" and value[:-1] in known else []


def _lookup(table_name, tnm):
    table = load()["tables"][table_name]
    read_as = table.get("read_as", {})
    cells = itertools.product(
        _categories(tnm.t, table["t"], read_as),
        _categories(tnm.n, table["n"], read_as),
        _categories(tnm.m, table["m"], read_as),
    )
    return frozenset(table["cells"][cell] for cell in cells if cell in table["cells"])


def stage_groups(table_or_site: str, tnm: TNM, p16: str | None = None) -> frozenset[str]:
    """The AJCC 8 stage group codes `tnm` can be, as a frozenset.

    `table_or_site` is a site's `staging` key from sites.yaml (general,
    oropharynx, nasopharynx) or a table name from staging.yaml. Oropharynx
    depends on p16: negative -> general table; positive -> the p16-positive
    clinical table, or the pathological one for a "p"/"yp" TNM; unknown
    (None) -> the union of both, since p16 changes the group so much (T2N1M0
    is III if negative, I if positive) that picking one would be a guess.

    More than one code means the TNM is incomplete; an empty set means no
    AJCC row has this combination (e.g. Tis N1). A site without a table
    (staging: none) raises ValueError: the caller must not offer TNM there.
    """
    tables = load()["tables"]
    if table_or_site == "oropharynx":
        if p16 in (None, "unknown"):
            return stage_groups("oropharynx", tnm, "negative") | stage_groups("oropharynx", tnm, "positive")
        if p16 == "negative":
            return _lookup("general", tnm)
        if p16 == "positive":
            pathological = tnm.prefix in ("p", "yp")
            return _lookup(f"oropharynx_p16_positive_{'pathological' if pathological else 'clinical'}", tnm)
        raise ValueError(f"p16 must be 'positive', 'negative' or None, not {p16!r}")
    if table_or_site in tables:
        return _lookup(table_or_site, tnm)
    if table_or_site == "none":
        raise ValueError("this site has no AJCC staging table (staging: none); TNM cannot be converted")
    known = ", ".join(["oropharynx", *tables])
    raise ValueError(f"unknown staging key {table_or_site!r}; expected one of: {known}")


def t0_allowed(site: str | None) -> bool:
    """Whether T0 is a T category at this site in AJCC 8 (unknown site: it may be).

    Why: T0 exists in the general table for the salivary glands and unknown
    primaries; read at the larynx or oral cavity it would give a stage group
    AJCC 8 does not have there.
    """
    return site is None or site in load()["t0_sites"]


def stage_groups_ajcc7(table_or_site: str, tnm: TNM, p16: str | None = None) -> frozenset[str] | None:
    """The AJCC 7th edition stage groups `tnm` can be, or None where no AJCC 7 table is kept.

    For criteria that name no staging edition: where AJCC 7 and AJCC 8 group
    a TNM differently (p16-positive oropharynx above all), the engine can say
    "needs review" instead of applying one edition silently. A p16-positive
    TNM may be written in AJCC 8's own N (cN1 = ipsilateral nodes up to 6 cm),
    which AJCC 7 split into N1 and N2a/N2b, so both readings are kept; with p16
    unknown, every reading is kept.
    """
    if table_or_site == "oropharynx":
        readings: dict[str | None, list[str]] = {"negative": ["ajcc7"], "positive": [_ajcc7_p16_table(tnm)]}
        keys = readings.get(p16) or ["ajcc7", _ajcc7_p16_table(tnm)]
        return frozenset().union(*(_lookup(k, tnm) for k in keys))
    if table_or_site == "general":
        return _lookup("ajcc7", tnm)
    return None


def _ajcc7_p16_table(tnm: TNM) -> str:
    pathological = tnm.prefix in ("p", "yp")
    return f"ajcc7_from_p16_positive_{'pathological' if pathological else 'clinical'}"


# --- stage group in words --------------------------------------------------


def _alternation(items):
    """A regex alternation of `items`, longest first, so "stage group" wins
    over "stage" and "III" over "I". Chinese words as the readers see them
    (``vocab.prepare``: "分 期")."""
    from .vocab import prepare

    return "|".join(re.escape(prepare(str(w))) for w in sorted(items, key=lambda w: len(str(w)), reverse=True))


class StagePatterns(NamedTuple):
    """The regexes that find a stage group in words (see ``stage_patterns``)."""

    prefixed: re.Pattern  # a stage after a prefix anywhere in a sentence: "stage 4a", "stage is IV"
    whole: re.Pattern  # a whole answer that is only a stage: "IVa", "it's III"
    pronoun: re.Pattern  # what follows an "I" that is the pronoun: "the stage I was told"
    alternative: re.Pattern  # a second stage right after the first: "3 or 4", "III/IV"


@lru_cache(maxsize=None)
def stage_patterns() -> StagePatterns:
    """The stage regexes, built once from `stage_words`. Public because the NLU component
    finds stage entities with the same patterns the normaliser reads them with."""
    words = load()["stage_words"]
    number = _alternation(w for entry in words["numbers"] for w in entry["words"])
    # The letter may be joined ("4a", "IV-b") or, only at the end of a phrase,
    # spaced ("stage 4 b"), so "stage 4 a lot of pain" stays a bare four.
    stage = rf"(?P<number>{number})(?:-?(?P<joined>[a-z])|\s+(?P<spaced>[a-z])(?=\s*(?:$|[.,;:!?)])))?(?!\w)"
    return StagePatterns(
        re.compile(
            rf"(?<!\w)(?:{_alternation(words['prefixes'])})\s*(?:is\s+|was\s+|[:=#-]\s*)?{stage}",
            re.IGNORECASE,
        ),
        re.compile(
            rf"^\s*(?:(?:{_alternation(words['lead_ins'])})\s+)*{stage}(?=\s*(?:or\b|/|{_trail_off(words)}[.!?]*\s*$))",
            re.IGNORECASE,
        ),
        re.compile(rf"^\s*(?:['’]|(?:{_alternation(words['pronoun_followers'])})\b)", re.IGNORECASE),
        # A second stage offered as an alternative right after the first: "3 or 4", "III/IV".
        re.compile(rf"\s*(?:or|/)\s*(?:{_alternation(words['prefixes'])}\s*)?{stage}", re.IGNORECASE),
    )


def _trail_off(words: dict) -> str:
    """An optional hedge after a bare stage ("4a i think", "3, I believe"), as a regex."""
    return rf"(?:,?\s*(?:{_alternation(words.get('trail_offs', []))}))?" if words.get("trail_offs") else ""


@lru_cache(maxsize=None)
def _only_a_trail_off() -> re.Pattern:
    """What may follow a bare stage answer: nothing but a hedge and punctuation (built once)."""
    return re.compile(_trail_off(load()["stage_words"]) + r"[\s.!?]*", re.IGNORECASE)


@lru_cache(maxsize=None)
def suffixed_stage_pattern() -> re.Pattern:
    """A stage written before its suffix, as Chinese does: "3 期", "IVA 期", "第 3 期"
    (prepared text: "三期" -> "3 期", "Ⅳa期" -> "IVa 期")."""
    words = load()["stage_words"]
    number = _alternation(w for entry in words["numbers"] for w in entry["words"])
    return re.compile(
        rf"(?<![\w.])(?:第\s*)?(?P<number>{number})(?:-?(?P<joined>[a-z]))?(?P<spaced>)\s*(?:{_alternation(words.get('suffixes', []))})(?!\w)",
        re.IGNORECASE,
    )


def vague_stage(text: str):
    """(start, end, groups) of a word that names a range of stages ("晚期": III-IVC), or None."""
    from .vocab import find_terms

    pairs = [(w, tuple(entry["means"])) for entry in load()["stage_words"].get("vague", []) for w in entry["words"]]
    found = next(iter(find_terms(text, pairs)), None)
    return None if found is None else (found[0], found[1], frozenset(found[3]))


def is_stage(match: re.Match, text: str, pronoun: re.Pattern) -> bool:
    """False for a "stage" that is not about a stage group: "at this stage",
    or "stage I" where the I is the pronoun ("the stage I was told")."""
    before = text[: match.start()].split()
    if before and before[-1].lower() in load()["stage_words"]["not_after"]:
        return False
    return not (match["number"].lower() == "i" and pronoun.match(text[match.end("number") :]))


def parse_stage(text: str) -> frozenset[str] | None:
    """The stage group codes a patient's words name, or None.

    A number is only a stage when it follows a word such as "stage" or is the
    whole answer ("3", "I think it's IV"), so "I'm 58" or "2 years ago" are
    not stages. A four with no letter gives {IVA, IVB, IVC}: the patient was
    told "stage four", and which sub-stage is not known. A letter that no
    AJCC 8 head and neck stage has ("3b", "IVd") gives None, not a guess.
    """
    text = text or ""
    prefixed, whole, pronoun, alternative = stage_patterns()
    match = next((m for m in prefixed.finditer(text) if is_stage(m, text, pronoun)), None)
    if match is None and (suffixed := suffixed_stage_pattern().search(text)) is not None:
        return _groups(suffixed)  # "3 期", "IVA 期"
    is_whole_answer = match is None
    match = match or whole.match(text)
    if not match:
        vague = vague_stage(text)  # "晚期": every group it may be
        return vague[2] if vague else None
    groups = _groups(match)
    # "stage 3 or 4": the patient is unsure, so every group named is possible.
    while groups is not None and (more := alternative.match(text, match.end())):
        extra = _groups(more)
        groups = None if extra is None else groups | extra
        match = more
    if is_whole_answer and not _only_a_trail_off().fullmatch(text[match.end() :]):
        return None  # "3 or so people" is not a stage answer; "4a, I think" is
    return groups


def _groups(match) -> frozenset[str] | None:
    """The stage codes one matched stage phrase names (None for a letter that does not exist)."""
    said = match["number"].lower()
    entry = next(e for e in load()["stage_words"]["numbers"] if said in (str(w).lower() for w in e["words"]))
    letter = (match["joined"] or match["spaced"] or "").lower()
    if not letter:
        return frozenset(entry["means"])
    code = entry.get("letters", {}).get(letter)
    return frozenset([code]) if code else None
