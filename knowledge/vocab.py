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
from typing import Iterable, Iterator, TypeVar

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
    """Parsed contents of ``vocabulary/<name>.yaml`` (cached: files are read once).

    Chinese words sit beside the English ones: a list under ``<key>_zh`` next to a list
    under ``<key>`` (``terms`` / ``terms_zh``, ``"yes"`` / ``yes_zh``) is read as part of
    that list, so every reader of ``<key>`` reads both languages. A text under
    ``<key>_zh`` beside a text (``label_zh``, ``patient_zh``) is the Chinese wording of
    it, read with ``text(entry, key, language)``.
    """
    with open(VOCABULARY_DIR / f"{name}.yaml", encoding="utf-8") as f:
        return merge_languages(yaml.safe_load(f))


def merge_languages(node):
    """``<key>_zh`` lists appended to their ``<key>`` lists, everywhere in a parsed file."""
    if isinstance(node, list):
        return [merge_languages(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: merge_languages(v) for k, v in node.items()}
    for key, value in node.items():
        if isinstance(key, str) and key.endswith("_zh") and isinstance(value, list):
            base = key[: -len("_zh")]
            if isinstance(out.get(base), list) or base not in out:
                out[base] = list(out.get(base) or []) + [merge_languages(v) for v in value]
                del out[key]  # a table's keys stay its own (status: planned, not planned_zh)
    return out


LANGUAGES = ("en", "zh")


def text(entry: dict, key: str, language: str | None = "en") -> str:
    """An entry's wording in ``language`` (``label_zh`` for zh), else its English ``key``."""
    if language and language != "en":
        translated = entry.get(f"{key}_{language}")
        if isinstance(translated, str) and translated:
            return translated
    return entry[key] if key in entry else entry.get("label", "")


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


def drug_label(name: str, language: str | None = "en") -> str:
    """A drug's generic name as said back in ``language`` (Chinese: its first Chinese name)."""
    return text(drugs().get(name) or {"name": name}, "name", language)


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
        for term in [
            grade["patient"],
            grade.get("carer"),
            grade["clinical"],
            grade.get("patient_zh"),
            grade.get("carer_zh"),
            grade.get("clinical_zh"),
            *grade["terms"],
        ]
        if term
    ]


def karnofsky_grades(score: int) -> frozenset[int]:
    """Every ECOG grade a Karnofsky score is given by the published tables in ecog.yaml.

    Why a set: the tables disagree (KPS 70 is ECOG 1 in the common table, 2 in
    two empirical ones), and the engine carries that uncertainty instead of
    choosing a table. Empty for a score no table covers (0, above 100).
    """
    return frozenset(
        band["ecog"]
        for table in load("ecog")["karnofsky_tables"]
        for band in table["bands"]
        if band["min"] <= score <= band["max"]
    )


def sex_in_passing_terms() -> list[tuple[str, str]]:
    """Plain words that tell the patient's sex in a sentence about something else -> female | male."""
    words = load("answers").get("sex_in_passing") or {}
    return [(str(t), code) for code in ("female", "male") for t in words.get(code, [])]


def answer_terms() -> list[tuple[str, str]]:
    """Everyday yes / no / don't-know words -> "yes" | "no" | "unknown"; "neutral" for a
    question that holds such a word but answers nothing ("有没有", "是不是"); "clarify" for
    "what do you mean?" (which may hold one: "not sure what you mean"); "acknowledge" for
    "ok", a yes only when nothing else says yes or no."""
    answers = load("answers")
    kinds = ("yes", "no", "unknown", "neutral", "clarify", "acknowledge")
    return [(str(term), kind) for kind in kinds for term in answers.get(kind) or []]


# --- matching helpers -------------------------------------------------------------
#
# Chinese is written without spaces, so a word boundary (``\b``) never falls between two
# Chinese words. Every reader therefore matches on *prepared* text (``prepare``): full-width
# letters, digits and punctuation as their ASCII forms, Roman numeral signs (Ⅳ) as letters,
# Chinese numerals that count something as digits ("六十二岁" -> "62 岁", "三个周期" ->
# "3 个 周 期"), and a space around every Chinese character, so each character is a word to
# the English patterns and a Chinese term ("喉癌" -> "喉 癌") matches only whole characters.
# Text without any of these is returned as it is. This is the one place that rule lives:
# ``term_regex`` prepares terms, ``find_terms`` prepares the text (and reports offsets in the
# text it was given), and the normalisers and the NLU component prepare what they read.

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{CJK}]")
# Characters ``prepare`` changes: Chinese characters, full-width forms, ideographic punctuation,
# Roman numeral signs, subscript and superscript digits.
_TOUCHED = re.compile(
    f"[{CJK}\u3000-\u3003\u300c-\u300f\u3010\u3011\u2160-\u217b\u2070-\u2079\u2080-\u2089"
    "\u00b2\u00b3\u00b9\u2018\u2019\u201c\u201d\u2014\u2026\uff01-\uff5e]"
)
_ONE_TO_ONE = {
    **{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)},
    "\u3000": " ",
    "\u3001": ",",
    "\u3002": ".",
    "\u3003": '"',
    "\u300c": '"',
    "\u300d": '"',
    "\u300e": '"',
    "\u300f": '"',
    "\u3010": "(",
    "\u3011": ")",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2014": "-",
    "\u2026": ".",
    **{chr(0x2080 + d): str(d) for d in range(10)},
    **{chr(0x2070 + d): str(d) for d in range(10)},
    "\u00b9": "1",
    "\u00b2": "2",
    "\u00b3": "3",
}
_ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]
_ROMAN_SIGNS = {
    **{chr(0x2160 + i): r for i, r in enumerate(_ROMAN)},
    **{chr(0x2170 + i): r.lower() for i, r in enumerate(_ROMAN)},
}


def has_cjk(text: str) -> bool:
    """True when the text holds a Chinese character."""
    return bool(_CJK_CHAR.search(text or ""))


def cjk_share(text: str) -> tuple[int, int]:
    """(Chinese characters, Latin letters) in the text: how much of it is Chinese."""
    return len(_CJK_CHAR.findall(text or "")), len(re.findall(r"[A-Za-z]", text or ""))


@functools.lru_cache(maxsize=1)
def _numerals() -> dict:
    return load("answers")["zh_numerals"]


def _zh_value(run: str) -> int | None:
    """The value of a Chinese numeral ("六十二" 62, "十" 10, "一百零二" 102, "两" 2), None if not one."""
    digits, units = _numerals()["digits"], _numerals()["units"]
    total, current, previous = 0, None, ""
    for ch in run:
        if ch in digits:
            if previous in digits and previous not in "零〇":
                return None  # "六二": two digits in a row are no numeral
            current = digits[ch]
        elif ch in units:
            total += (1 if current is None else current) * units[ch]
            current = None
        else:
            return None
        previous = ch
    return total + (current or 0)


def _numeral_runs(text: str) -> list[tuple[int, int, str]]:
    """(start, end, digits) for each Chinese numeral that counts or measures something.

    A numeral with 十 or 百 ("六十二", "十") always does; a single digit ("三", "两") only
    before a counting word ("三个周期", "两次", "一期") or after 第, or as the whole answer;
    two neighbouring digits before a counting word are a range ("三四个周期" = 3-4). Other
    characters are words, not numbers ("一样", "一些", "一直", "缩小了一半", "十分").
    """
    table = _numerals()
    chars = "".join([*table["digits"], *table["units"]])
    counters = sorted(table["counters"], key=len, reverse=True)
    out = []
    for m in re.finditer(f"[{re.escape(chars)}]+", text):
        run, start, end = m.group(), m.start(), m.end()
        after, before = text[end : end + 3].lstrip(), text[:start].rstrip()
        counted = any(after.startswith(c) for c in counters) and not any(
            after.startswith(c) for c in table.get("not_counters", [])
        )
        if any(u in run for u in table["units"]):
            if (
                run == "十"
                and after[:1] == "分"
                and not re.search(r"[0-9A-Za-z]\s*$", before)
                and len(after) > 1
                and has_cjk(after[1:2])
            ):
                continue  # "十分" = very
            value = _zh_value(run)
            if value is not None:
                out.append((start, end, str(value)))
            continue
        if len(run) == 1 and before[-1:] in table.get("not_after", ()):
            continue  # "上一个", "下一次", "这一期": which one, not how many
        if text.startswith(table.get("article", "\0"), start) and not any(
            text.startswith(c, start) for c in table.get("article_counts", ())
        ):
            continue  # "一个病人": "a", not one
        if len(run) == 1 and (counted or before.endswith("第") or not text.strip(run + " .,!?。，！？")):
            out.append((start, end, str(table["digits"][run])))
        elif len(run) == 2 and counted and 0 < table["digits"][run[0]] < table["digits"][run[1]] <= 9:
            out.append((start, end, f"{table['digits'][run[0]]}-{table['digits'][run[1]]}"))
    return out


@dataclass(frozen=True)
class Prepared:
    """Text as the readers match it, and where each of its characters came from."""

    text: str
    starts: tuple[int, ...] | None = None  # None: the text is unchanged
    ends: tuple[int, ...] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``text[start:end]`` was made from."""
        if self.starts is None or end <= start:
            return start, end
        assert self.ends is not None  # set together with ``starts``
        return self.starts[start], self.ends[end - 1]


@functools.lru_cache(maxsize=4096)
def prepared(text: str) -> Prepared:
    """``text`` made ready for matching (see the comment above), with the offset map."""
    if not text or not _TOUCHED.search(text):
        return Prepared(text or "")
    chars = [(_ONE_TO_ONE.get(c, c), i, i + 1) for i, c in enumerate(text)]
    expanded = []
    for c, s, e in chars:
        for r in _ROMAN_SIGNS.get(c, c):
            expanded.append((r, s, e))
    flat = "".join(c for c, _, _ in expanded)
    runs = _numeral_runs(flat)
    numbered, cut = [], 0
    for start, end, digits in runs:
        numbered += expanded[cut:start]
        numbered += [(d, expanded[start][1], expanded[end - 1][2]) for d in digits]
        cut = end
    numbered += expanded[cut:]
    out: list[tuple[str, int, int]] = []
    for c, s, e in numbered:
        if out and not c.isspace() and not out[-1][0].isspace() and (_CJK_CHAR.match(c) or _CJK_CHAR.match(out[-1][0])):
            out.append((" ", s, s))
        out.append((c, s, e))
    return Prepared("".join(c for c, _, _ in out), tuple(s for _, s, _ in out), tuple(e for _, _, e in out))


def prepare(text: str) -> str:
    """``text`` as every reader matches it (``prepared(text).text``)."""
    return prepared(text).text


def unspace(text: str) -> str:
    """Prepared text back to how Chinese is written (no spaces between Chinese characters)."""
    return re.sub(rf"(?<=[{CJK}]) (?=[{CJK}])", "", text or "")


def term_regex(term: str) -> str:
    """A regex for a vocabulary term: whole words, any case, flexible spaces/hyphens.

    Matches prepared text (``prepare``): a Chinese term is a run of one-character words.
    """
    term = prepare(term)
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


@functools.lru_cache(maxsize=None)
def _term_key(term: str) -> str:
    """The longest word of ``term``, lower case: every text ``term_regex(term)`` matches contains it
    (the regex's words are literal, any case), so a text without it needs no regex search."""
    parts = [p for p in re.split(r"[\s\-]+", prepare(term).strip()) if p]
    return max(parts, key=len).lower() if parts else ""


_V = TypeVar("_V")


def find_terms(text: str, pairs: Iterable[tuple[str, _V]]) -> Iterator[tuple[int, int, str, _V]]:
    """Non-overlapping matches of the terms in ``text``, longest term first.

    Yields (start, end, matched text, value) in text order, offsets in ``text`` as given
    (it is prepared for matching first: Chinese words are found inside a sentence).
    "base of tongue" wins over "tongue" because longer terms claim their span first.
    """
    ready = prepared(text or "")
    lowered = ready.text.lower()
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, int, str, _V]] = []
    for term, value in sorted(pairs, key=lambda p: -len(p[0])):
        if _term_key(str(term)) not in lowered:  # cannot match: skip the regex (thousands of terms a message)
            continue
        for m in _term_pattern(str(term)).finditer(ready.text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            taken.append((m.start(), m.end()))
            start, end = ready.span(m.start(), m.end())
            found.append((start, end, text[start:end], value))
    yield from sorted(found, key=lambda f: f[0])


def mentions(text: str, terms: Iterable[str]) -> bool:
    """True when ``text`` holds any of ``terms`` (whole words, as ``find_terms`` matches them)."""
    return next(find_terms(text, [(str(t), True) for t in terms]), None) is not None


def edits(a: str, b: str, limit: int) -> int:
    """Edits between ``a`` and ``b`` (a letter added, dropped, changed, or two neighbours swapped:
    "larnyx"), or limit + 1 as soon as it is exceeded. For reading typed words conservatively."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]
