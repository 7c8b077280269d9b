"""Normalisers: from what a patient or nurse types to canonical profile values.

One place turns "fifty-eight", "voice box", "T3N1M0", "KPS 80" and "3 rounds of
Keytruda, it shrank" into the codes the engine understands. The Rasa form
validation, the spaCy entity component and the criteria builder all call these
functions, so the same words mean the same thing everywhere.

Every normaliser returns None when the text holds nothing it recognises, so the
caller can ask again. Chinese is read the same way: each normaliser first prepares
its text (``vocab.prepare``: Chinese numerals as digits, a space around every Chinese
character), so "六十二岁", "喉癌", "三期" and "K药打了三次" go through the same rules. "Don't know" is an answer, not a failure: it comes back
as a result whose ``unknown`` flag is set.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from . import geo, recognise, staging, vocab

AGE_MIN, AGE_MAX = 0, 120
ADULT_AGE = 18


# --- shared helpers ------------------------------------------------------------------


def is_unknown(text: str) -> bool:
    """True when the answer is some form of "I don't know"."""
    return any(kind == "unknown" for *_, kind in vocab.find_terms(text, vocab.answer_terms()))


def sounds_like_a_question(text: str) -> bool:
    """True when the words ask something ("what is p16?", "四期是不是晚期", "explain ECOG"):
    a question mark or a question word (``question_words`` in answers.yaml)."""
    if "?" in text or "？" in text:
        return True
    return vocab.mentions(text, vocab.load("answers").get("question_words") or [])


def asks_to_delete(text: str) -> bool:
    """True when the words ask for the data to go ("delete my data", "删除我的资料"); the
    deletion never rests on the NLU's intent alone (``delete_words`` in answers.yaml)."""
    return vocab.mentions(text, vocab.load("answers").get("delete_words") or [])


def asks_what_is_meant(text: str) -> bool:
    """True for "what do you mean?", "不明白你的意思": the question was not understood."""
    return any(kind == "clarify" for *_, kind in vocab.find_terms(text, vocab.answer_terms()))


def location(text: str) -> geo.Place | None:
    """What an answer to "where do you live, or where can you travel?" says; its ``name`` is recorded.

    A place (a city, a province, "anywhere", "China"); a declined place (name "unknown") for
    a don't-know, "rather not say" or a plain no; None when it says neither. The place is
    looked for first: "I don't mind where" and "无所谓，哪都行" carry a "no" word but mean anywhere.
    """
    place = None if is_unknown(text) else geo.place(text)
    if place is None and (is_unknown(text) or yes_no(text) == "no"):
        return geo.Place("declined", "unknown")
    return place


def yes_no(text: str) -> str | None:
    """ "yes" / "no" / "unknown" for an everyday answer, None when it is neither."""
    kinds = [kind for *_, kind in vocab.find_terms(text, vocab.answer_terms())]
    found = [kind for kind in kinds if kind in ("yes", "no", "unknown")]
    if "unknown" in found:
        return "unknown"
    if found:
        return found[0]
    return "yes" if "acknowledge" in kinds else None  # "ok", but "ok, no he hasn't" is a no


def one_is_no_number(before: str, after: str) -> bool:
    """True when the "one" between these words counts nothing ("one moment", "this one").

    One home for the rule (answers.yaml ``one_is_no_number``): the normalisers and the NLU
    component read "one" alike.
    """
    words = vocab.load("answers").get("one_is_no_number") or {}
    last = re.findall(r"[a-z']+", before.lower())[-1:]
    first = re.findall(r"[a-z']+", after.lower())[:1]
    return bool(last and last[0] in words.get("before", [])) or bool(first and first[0] in words.get("after", []))


def words_to_number(text: str) -> int | None:
    """The first spoken number in ``text``: "fifty-eight" -> 58, "six" -> 6, "a hundred and two" -> 102.

    A "one" that counts nothing ("one moment") is passed over."""
    numbers = recognise.number_words()
    units, tens = numbers.units, numbers.tens
    value, seen = 0, False
    for m in re.finditer(r"[a-z]+", text.lower()):
        token = m.group(0)
        if token == "one" and not seen and one_is_no_number(text[: m.start()], text[m.end() :]):
            continue
        if token in tens or token in units:
            value, seen = value + tens.get(token, 0) + units.get(token, 0), True
        elif token == "hundred":
            value, seen = (value or 1) * 100, True
        elif seen and token != "and":
            break  # the number has ended: "fifty eight years" stops at "years"
    return value if seen else None


def first_number(text: str) -> float | None:
    """The first number written in digits or words (Chinese numerals too: "三" is 3)."""
    text = vocab.prepare(text)
    m = re.search(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)(?![\d])", text)
    if m:
        return float(m.group(1))
    n = words_to_number(text)
    return float(n) if n is not None else None


# --- age ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Age:
    value: int | None
    problem: str | None = None  # None | "implausible" | "not_a_number"

    @property
    def minor(self) -> bool:
        return self.value is not None and self.value < ADULT_AGE


def age(text: str | int | float) -> Age | None:
    """Age in whole years from "58", "58 yrs", "I'm fifty-eight", "58 years old".

    Returns Age(value) for a plausible age (0-120), Age(None, "implausible")
    for a number no person can be (150, -3), and None when there is no number.
    """
    number: float | None
    if isinstance(text, (int, float)):
        number = float(text)
    else:
        text = vocab.prepare(text)
        if re.search(r"-\s*\d", text) and not re.search(r"\d\s*-\s*\d", text):
            return Age(None, "implausible")
        m = re.search(r"(?<![\w.])(\d+(?:\.\d+)?)", text)
        number = float(m.group(1)) if m else words_to_number(text)
        if number is None:
            return None
        if re.search(r"\b(?:months?|weeks?|days?|个 月|周|天)\b", text, re.I) and not re.search(
            r"\b(?:years?|岁)\b", text, re.I
        ):
            number = 0  # a baby's age in months or weeks is under one year
    if number < AGE_MIN or number > AGE_MAX:
        return Age(None, "implausible")
    return Age(int(number))


# --- tumour site -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    codes: tuple[str, ...]  # one code when certain; several when the words name several sites
    matched: str
    # Each word that named a site, with what it names ("throat" -> three; "laryngeal" -> one).
    named: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def code(self) -> str | None:
        return self.codes[0] if len(self.codes) == 1 else None

    @property
    def cancer_type(self) -> str | None:
        kinds = {vocab.cancer_type_of(c) for c in self.codes}
        return kinds.pop() if len(kinds) == 1 else None

    @property
    def in_scope(self) -> bool:
        return self.cancer_type == "head_and_neck"

    @property
    def ambiguous(self) -> bool:
        return len(self.codes) > 1

    @property
    def several(self) -> bool:
        """Different places named ("laryngeal cancer, not nasopharyngeal"), not one word
        that can mean several ("throat"): the question is then where it first started."""
        return len({codes for _, codes in self.named}) > 1


def site(text: str, typos: bool = False) -> Site | None:
    """The tumour site named in ``text``, from lay or clinical words.

    "voice box" -> larynx, "base of tongue" -> oropharynx, "tongue" -> oral
    cavity, "throat" -> one of oropharynx / hypopharynx / larynx (ambiguous: the
    caller offers buttons), "breast" -> breast (out of scope). A canonical code
    ("oral_cavity") is accepted as is. ``typos``: also a site word typed with a letter
    wrong ("larnyx"), for an answer to the site question only (in other sentences "month"
    would be a mouth).

    A word that settles the place wins over one that does not ("throat, the voice box" ->
    larynx). Two different places named do not settle where the cancer started
    ("laryngeal cancer, not nasopharyngeal", "it spread from the tongue to the lung"):
    every place named is kept (``several``), so the caller asks instead of taking the first.
    """
    key = text.strip().lower().replace(" ", "_")
    if key in vocab.sites():
        return Site((key,), text.strip(), ((text.strip(), (key,)),))
    pairs = [(t, (c,)) for t, c in vocab.site_terms()] + [(t, tuple(cs)) for t, cs in vocab.ambiguous_site_terms()]
    found = list(vocab.find_terms(text, pairs))
    if typos and not any(len(f[3]) == 1 for f in found):
        # "the side of my tounge ... the nodes in my neck": a typed word that settles the
        # place counts when the exact words only name places that cannot.
        found += _site_typos(text)
    if not found:
        return None
    definite = [f for f in found if len(f[3]) == 1]
    if not definite:
        first = found[0]
        return Site(tuple(first[3]), first[2], ((first[2], tuple(first[3])),))
    codes = tuple(dict.fromkeys(f[3][0] for f in definite))
    named = tuple((f[2], tuple(f[3])) for f in definite)
    return Site(codes, definite[0][2], named)


def _site_typos(text: str) -> list[tuple[int, int, str, tuple[str, ...]]]:
    """Site words typed with a letter wrong ("tonsle", "larnyx"), read conservatively.

    Only a word of 6 letters or more that is no word of the vocabulary's sites, starts with
    the same two letters as one single-word site term and is one edit from it (two from a
    term of 8 letters or more) or has its letters in another order ("tounge"); a word close
    to terms of two different sites is no answer.
    """
    singles = [
        (t.lower(), codes)
        for t, codes in [(t, (c,)) for t, c in vocab.site_terms()]
        + [(t, tuple(cs)) for t, cs in vocab.ambiguous_site_terms()]
        if re.fullmatch(r"[A-Za-z]+", t)
    ]
    known = {t for t, _ in singles}
    out = []
    for m in re.finditer(r"[A-Za-z]{6,}", text):
        word = m.group().lower()
        if word in known:
            continue
        close = {
            codes
            for term, codes in singles
            if len(term) >= 6
            and term[:2] == word[:2]
            and (
                vocab.edits(word, term, 2 if len(term) >= 8 else 1) <= (2 if len(term) >= 8 else 1)
                or sorted(word) == sorted(term)
            )
        }
        if len(close) == 1:
            out.append((m.start(), m.end(), m.group(), close.pop()))
    return out


# --- stage -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    groups: frozenset[str]  # AJCC 8 groups it may be; empty when unknown
    tnm: staging.TNM | None = None
    unknown: bool = False
    # The AJCC 7 groups it may be, where they can be told (from the TNM, or a group
    # both editions share); None when not. For criteria naming no edition.
    ajcc7: frozenset[str] | None = None

    @property
    def value(self) -> list[str] | str:
        """The profile value: the possible stage groups in order, or "unknown"."""
        if self.unknown or not self.groups:
            return "unknown"
        return [s for s in staging.STAGE_ORDER if s in self.groups]

    @property
    def label(self) -> str:
        if self.unknown or not self.groups:
            return "unknown"
        return " or ".join(self.value)

    @property
    def ajcc7_value(self) -> list[str] | None:
        """The ``stage_ajcc7`` profile value, or None when it cannot be told."""
        if not self.ajcc7:
            return None
        return [s for s in staging.STAGE_ORDER if s in self.ajcc7]


def stage(text: str, site_code: str | None = None, p16: str | None = None) -> Stage | None:
    """Stage group from "3", "III", "stage IVa", "4b", or a TNM such as "cT2 N2b M0".

    TNM is converted with the AJCC 8 table for the site (p16 decides the
    oropharynx table; unknown p16 gives every group it could be). Without a
    site, the groups of every head-and-neck table are combined. T0 gives no
    group where AJCC 8 has no T0 (larynx, oral cavity...). "Don't know" is a
    value: Stage(unknown=True). The AJCC 7 reading comes along (``ajcc7``) for
    trials that name no staging edition.
    """
    text = vocab.prepare(text)
    tnm = staging.parse_tnm(text)
    if tnm is not None:
        keys = _staging_keys(site_code)
        if tnm.t == "T0" and not staging.t0_allowed(site_code):
            keys = []
        groups = frozenset().union(*(staging.stage_groups(k, tnm, p16) for k in keys)) if keys else frozenset()
        return Stage(
            groups=groups, tnm=tnm, unknown=not groups, ajcc7=_ajcc7_of_tnm(tnm, site_code, p16) if groups else None
        )
    parsed = staging.parse_stage(text)
    if parsed:
        return Stage(groups=frozenset(parsed), ajcc7=_ajcc7_of_group(frozenset(parsed), site_code, p16))
    if is_unknown(text):
        return Stage(groups=frozenset(), unknown=True)
    return None


def _ajcc7_of_tnm(tnm: staging.TNM, site_code: str | None, p16: str | None) -> frozenset[str] | None:
    """The AJCC 7 groups of a TNM at a known site (None where AJCC 7 is not kept)."""
    if site_code is None:
        return None
    key = vocab.site(site_code).get("staging", "none")
    return staging.stage_groups_ajcc7(key, tnm, p16) or None


def _ajcc7_of_group(groups: frozenset[str], site_code: str | None, p16: str | None) -> frozenset[str] | None:
    """The AJCC 7 groups of a stage group said without a TNM, where the editions agree.

    Why: the general rows are the same in both editions, and stage IVA/IVB
    exists only there (AJCC 8 p16-positive oropharynx has none), so a said
    "IVA" is an AJCC 7 or general-table group whatever the site. A said I-III
    in the oropharynx with p16 positive or not known may be AJCC 8's own
    p16-positive group, whose AJCC 7 equivalent the words do not give.
    """
    if site_code is None:
        return None
    key = vocab.site(site_code).get("staging", "none")
    if key == "general" or (key == "oropharynx" and (p16 == "negative" or groups <= {"IVA", "IVB", "IVC"})):
        return groups
    return None


def _staging_keys(site_code: str | None) -> list[str]:
    if site_code is None:
        return ["general", "oropharynx", "nasopharynx"]
    key = vocab.site(site_code).get("staging", "none")
    return [] if key == "none" else [key]


# --- ECOG ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ecog:
    value: int | tuple[int, int] | None  # a grade, a (low, high) range, or None when unknown
    source: str  # how it was written: "ecog" | "karnofsky" | "description" | "unknown" (not who gave it)
    note: str | None = None  # why a range, when the words themselves were exact (a Karnofsky score)

    @property
    def unknown(self) -> bool:
        return self.value is None


def ecog(text: str | int) -> Ecog | None:
    """ECOG grade from "1", "ECOG 1", "PS 0-1", a Karnofsky score ("KPS 80"), or a
    plain description of daily life ("I can do light work but nothing heavy")."""
    if isinstance(text, int):
        return Ecog(text, "ecog") if text in recognise.ecog_grades() else None
    grade = recognise.grade_pattern()
    text = vocab.prepare(text)
    # "ECOG1", "KPS80": a prefix may touch its number (but not another letter: "PSA" is no "PS").
    kps = re.search(
        rf"{recognise.score_prefix('karnofsky', touching_numbers=True)}\D{{0,20}}?(\d{{1,3}})\s*%?", text, re.I
    )
    if kps:
        return _from_karnofsky(int(kps.group(1)))
    m = re.search(
        rf"{recognise.score_prefix('ecog', touching_numbers=True)}\D{{0,25}}?({grade})(?:\s*(?:-|–|~|～|to|or|到|或|至)\s*({grade}))?(?!\d)",
        text,
        re.I,
    )
    if m is None:
        m = re.fullmatch(
            rf"\s*(?:grade\s*)?({grade})(?:\s*(?:-|–|~|～|to|or|到|或|至)\s*({grade}))?\s*(?:级|分)?\s*\.?\s*",
            text,
            re.I,
        )
    if m:
        low = int(m.group(1))
        high = int(m.group(2)) if m.group(2) else low
        return Ecog(low if low == high else (min(low, high), max(low, high)), "ecog")
    found = [grade for *_, grade in vocab.find_terms(text, vocab.ecog_terms())]
    if found:
        low, high = min(found), max(found)
        return Ecog(low if low == high else (low, high), "description")
    if is_unknown(text):
        return Ecog(None, "unknown")
    return None


def _from_karnofsky(score: int) -> Ecog | None:
    """ECOG from a Karnofsky score: every grade the published tables give it.

    KPS 70 is ECOG 1 in the common table and 2 in others (vocabulary/ecog.yaml),
    so it reads as 1-2 with a note, and "ECOG 0-1" stays unknown: never a
    guess between tables. A score between two tens (85) gives both.
    """
    grades = vocab.karnofsky_grades(score)
    if score % 10 and 10 < score < 100:  # KPS comes in tens: 85 is 80 or 90
        grades = vocab.karnofsky_grades(score // 10 * 10) | vocab.karnofsky_grades(score // 10 * 10 + 10)
    if not grades:
        return None
    low, high = min(grades), max(grades)
    if low == high:
        return Ecog(low, "karnofsky")
    note = (
        f"KPS {score} is ECOG {low} or {high} depending on the published conversion table "
        "(knowledge/vocabulary/ecog.yaml); the study team assesses."
    )
    return Ecog((low, high), "karnofsky", note)


# --- prior treatment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Treatment:
    """A treatment answer in the shape older callers use; ``derived`` has the lines' reading.

    categories: prior_treatment (None = not settled, empty = no treatment yet).
    cycles / response: of the immunotherapy when the answer names one (never the
    first number or response word of a chemotherapy line); when it names none,
    the only count or response said, if there is exactly one.
    """

    categories: frozenset[str] | None  # None = unknown; empty = no treatment yet
    drugs: tuple[str, ...] = ()
    cycles: int | tuple[int, int] | None = None
    response: str | None = None  # CR | PR | SD | PD
    pathologic_response: str | None = None
    derived: Any = field(default=None, compare=False, repr=False)  # therapy.Derived

    @property
    def unknown(self) -> bool:
        return self.categories is None

    @property
    def value(self) -> list[str] | str:
        return (
            "unknown"
            if self.categories is None
            else [c for c in vocab.field("prior_treatment").values if c in self.categories]
        )


@functools.lru_cache(maxsize=1)
def _negation_regexes() -> tuple[re.Pattern, re.Pattern]:
    data = vocab.load("treatments")
    cues = "|".join(re.escape(vocab.prepare(c)) for c in sorted(data["negation_cues"], key=len, reverse=True))
    breaks = "|".join(re.escape(vocab.prepare(b)) for b in sorted(data["clause_breaks"], key=len, reverse=True))
    return re.compile(rf"(?:^|\W)(?:{cues})(?:\W|$)", re.I), re.compile(rf"[,;.]|\b(?:{breaks})\b", re.I)


def negated(text: str, start: int) -> bool:
    """True when the words just before ``start`` deny what is named there.

    "no radiotherapy", "never had chemo", "surgery but no radiation" (radiation
    negated, surgery not). The clause is cut at punctuation and words such as
    "but", and only the last few words count, so "no pain, had surgery" keeps
    the surgery. One home for this rule: the entity extractor uses it too. ``text`` is
    prepared text (``vocab.prepare``): "没有做过放疗" is read as "没 有 做 过 放 疗".
    """
    cue, clause_break = _negation_regexes()
    before = text[:start]
    cut = [m.end() for m in clause_break.finditer(before)]
    clause = before[cut[-1] :] if cut else before
    window = vocab.load("treatments")["negation_window"]
    words = clause.split()
    return bool(cue.search(" " + " ".join(words[-window:]) + " "))


def treatment(text: str) -> Treatment | None:
    """Treatment categories, drugs, cycles and response from free text, read as lines of
    therapy (knowledge/therapy.py) so the numbers belong to the right treatment.

    "pembrolizumab and cisplatin, 3 cycles, it shrank" ->
    {anti_pd1, chemotherapy}, drugs (pembrolizumab, cisplatin), cycles 3, PR.
    "TPF 3 cycles, then pembrolizumab 8 cycles" -> cycles 8 (the immunotherapy's).
    A named drug makes "immunotherapy" specific. Planned, refused, diagnostic
    or another cancer's treatment is not treatment received. New callers
    should use ``therapy.read`` / ``therapy.derive``, which also say why a
    field is left open.
    """
    from . import therapy  # therapy reads with this module's helpers

    history = therapy.read(text)
    if history is None:
        return None
    derived = therapy.derive(history)
    prior = derived.fields.get("prior_treatment")
    given = [line for line in history.lines if line.given]
    drugs = tuple(dict.fromkeys(d for line in given for d in line.drugs))
    cycles = derived.fields.get("immunotherapy_cycles")
    response = derived.fields.get("immunotherapy_response")
    if not any(line.immunotherapy for line in given):
        counts = {c.value for line in history.lines for c in line.counts if c.value is not None}
        responses = {r for line in history.lines for r in line.responses}
        cycles = counts.pop() if len(counts) == 1 else None
        response = responses.pop() if len(responses) == 1 else None
    return Treatment(
        categories=None if prior is None else frozenset(prior),
        drugs=drugs,
        cycles=tuple(cycles) if isinstance(cycles, list) else cycles,
        response=response,
        pathologic_response=derived.fields.get("pathologic_response"),
        derived=derived,
    )


def cycles(text: str, words: list[str]) -> int | None:
    """The count of ``words`` ("cycles", "rounds", 周期) in ``text``: "3 cycles", "three rounds",
    "cycles x 4", "Keytruda x4"; None when there is none.

    Only a count: ``treatment`` reads whole histories with ``knowledge.therapy``; the NLU
    component calls this on the words it already knows are a count."""
    text = vocab.prepare(text)
    words = [vocab.prepare(w) for w in words]
    # Compounds first ("twenty-one", "twenty one"), and never from inside one: "twenty-one
    # cycles" is 21, not the "one" after the hyphen or the "twenty" before "one".
    number = r"\d{1,2}|" + recognise.number_words().pattern(compounds=True)
    unit = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    m = re.search(rf"(?<![\w-])({number})\s+(?:\w+\s+)?(?:{unit})\b", text, re.I)
    if not m:
        m = re.search(rf"\b(?:{unit})\s*(?:x|×|:)?\s*({number})\b", text, re.I)
    if not m:  # clinical shorthand: "Keytruda x4", "TPF ×3"
        m = re.search(r"(?:\bx|×)\s*(\d{1,2})\b", text, re.I)
    if not m:
        return None
    token = m.group(1).lower()
    return int(token) if token.isdigit() else words_to_number(token)


# --- small categorical answers ------------------------------------------------------------------------


def _first_code(text: str, pairs) -> str | None:
    return next((code for *_, code in vocab.find_terms(text, pairs)), None)


def p16(text: str) -> str | None:
    """ "positive" / "negative" / "unknown" from "p16+", "HPV negative", "not tested"."""
    if (
        is_unknown(text)
        or re.search(r"\bnot\s+(?:been\s+)?tested\b", text, re.I)
        or re.search(r"(?:没|未)\s*(?:有\s*)?(?:做\s*)?(?:过\s*)?(?:查|测|检\s*测|检\s*查)", vocab.prepare(text))
    ):
        return "unknown"
    return _first_code(text, vocab.p16_terms())


def differentiation(text: str) -> str | None:
    """ "poorly differentiated", "G3", 低分化; a bare "poorly" when it is the whole answer.

    A plain no ("nope" to "did the report say how differentiated?") is an unknown grade.
    """
    if is_unknown(text):
        return "unknown"
    found = _first_code(text, vocab.differentiation_terms())
    if found is None:
        bare = re.sub(r"[^\w\s]", " ", text).strip().lower()
        found = next(
            (e["code"] for e in vocab.load("histology")["differentiation"] if bare in e.get("alone", [])), None
        )
    if found is None and yes_no(text) == "no":
        return "unknown"
    return found


def histology(text: str, site_code: str | None = None) -> str | list[str] | None:
    """Histology code; a list of the codes it may be when the words mean different
    things at different sites and the site does not settle it.

    "Non-keratinizing carcinoma" is nasopharyngeal carcinoma in the nasopharynx and
    squamous cell carcinoma in the oropharynx (HPV-related): ruling out a tonsil
    cancer as nasopharyngeal would be wrong (issue 10, case 6).
    """
    if is_unknown(text):
        return "unknown"
    # (kind, value): a histology code for "plain", an index into ``site_dependent`` for "site".
    pairs: list[tuple[str, tuple[str, Any]]] = [(t, ("plain", c)) for t, c in vocab.histology_terms()]
    pairs += [
        (t, ("site", i)) for i, entry in enumerate(vocab.load("histology")["site_dependent"]) for t in entry["terms"]
    ]
    found = next((value for *_, value in vocab.find_terms(text, pairs)), None)
    if found is None:
        return None
    kind, value = found
    if kind == "plain":
        return value
    entry = vocab.load("histology")["site_dependent"][value]
    if site_code in entry["by_site"]:
        return entry["by_site"][site_code]
    return list(entry["otherwise"])


def sex(text: str) -> str | None:
    """ "female" / "male" / "unknown" from an answer, None when it says neither.

    Why its own words: the pregnancy criteria apply to women only, and "prefer
    not to say" must stay unknown, never become "male".
    """
    if is_unknown(text) or any(
        True for _ in vocab.find_terms(text, [(t, 1) for t in vocab.load("answers")["sex_decline"]])
    ):
        return "unknown"
    words = vocab.load("answers")["sex"]
    found = {code for *_, code in vocab.find_terms(text, [(str(t), k) for k in ("female", "male") for t in words[k]])}
    return found.pop() if len(found) == 1 else None


def response(text: str) -> str | None:
    return "unknown" if is_unknown(text) else _first_code(text, vocab.response_terms())


def pathologic_response(text: str) -> str | None:
    return "unknown" if is_unknown(text) else _first_code(text, vocab.pathologic_response_terms())


# --- a whole profile from answers ------------------------------------------------------------------------


@dataclass
class ProfileAnswers:
    """Free-text answers per field, normalised into an engine profile (CLI, tests)."""

    answers: dict[str, str] = field(default_factory=dict)

    def profile(self) -> dict:
        out: dict = {}
        a = self.answers
        if "age" in a:
            result = age(a["age"])
            if result is None or result.value is None:
                raise ValueError(f"age: cannot read {a['age']!r} as an age")
            out["age"] = result.value
        site_code = None
        if "tumor_site" in a:
            s = site(a["tumor_site"])
            if s is None:
                raise ValueError(f"tumor_site: {a['tumor_site']!r} is not a site I know")
            out["tumor_site"] = list(s.codes)
            site_code = s.code
        p16_value = p16(a["p16"]) if "p16" in a else None
        if p16_value:
            out["p16"] = p16_value
        if "stage" in a:
            st = stage(a["stage"], site_code, p16_value if p16_value in ("positive", "negative") else None)
            if st is None:
                raise ValueError(f"stage: cannot read {a['stage']!r} as a stage")
            out["stage"] = st.value
            if st.ajcc7_value:
                out["stage_ajcc7"] = st.ajcc7_value
        if "ecog" in a:
            e = ecog(a["ecog"])
            if e is None:
                raise ValueError(f"ecog: cannot read {a['ecog']!r} as a performance status")
            out["ecog"] = "unknown" if e.unknown else (list(e.value) if isinstance(e.value, tuple) else e.value)
        if "ecog_source" in a:
            source = a["ecog_source"].strip().lower()
            out["ecog_source"] = source if source in vocab.field("ecog_source").values else _fail("ecog_source", source)
        if "prior_treatment" in a:
            out.update(_treatment_fields(a["prior_treatment"]))
        simple = {
            "differentiation": differentiation,
            "immunotherapy_response": response,
            "pathologic_response": pathologic_response,
        }
        for name, fn in simple.items():
            if name in a:
                out[name] = fn(a[name]) or _fail(name, a[name])
        if "histology" in a:
            out["histology"] = histology(a["histology"], site_code) or _fail("histology", a["histology"])
        if "immunotherapy_cycles" in a:
            n = first_number(a["immunotherapy_cycles"])
            out["immunotherapy_cycles"] = int(n) if n is not None else "unknown"
        for name in ("recurrent", "resectable", "other_cancer_5y", "pregnant"):
            if name in a:
                out[name] = yes_no(a[name]) or _fail(name, a[name])
        if "sex" in a:
            out["sex"] = sex(a["sex"]) or _fail("sex", a["sex"])
        return out


def _treatment_fields(text: str) -> dict:
    """The profile fields a treatment answer settles (therapy.derive); prior_treatment is
    "unknown" when the lines leave it open. Answers given to their own question win."""
    from . import therapy

    history = therapy.read(text)
    if history is None:
        raise ValueError(f"prior_treatment: cannot read {text!r}")
    derived = therapy.derive(history)
    fields = dict(derived.fields)
    fields.setdefault("prior_treatment", "unknown")
    return fields


def _fail(name: str, text: str):
    raise ValueError(f"{name}: cannot read {text!r}")
