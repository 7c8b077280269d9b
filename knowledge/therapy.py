"""Lines of therapy: a treatment answer read as what was given, in order, and why.

"TPF 3 cycles, then pembrolizumab 8 cycles, partial response" is two lines:
chemotherapy for 3 cycles, then anti-PD-1 for 8 with a partial response. The
trials ask about the lines, not about the first number or the first response
word in the answer: NCT07320690 allows at most six cycles *of the checkpoint
inhibitor* and wants the response *after* it. So the answer is read into an
ordered list of ``Line``s, each with its agents, cycles, responses, intent
(diagnostic, neoadjuvant, ...), status (received, planned, refused, ...) and
target (this cancer or another), and the profile fields the trials use are
derived from those lines by one function, ``derive``.

What the words do not settle is never guessed: two counts for one line, two
responses, a count said of the chemotherapy in a combined line, a treatment
only planned. ``derive`` leaves such a field out and says why
(``Derived.unsettled``), so the chat asks a short follow-up instead. The cue
words live in vocabulary/therapy.yaml, the treatments and drugs in
vocabulary/treatments.yaml. Nothing here imports Rasa.

    history = read("I had three cycles of pembrolizumab with chemotherapy and the tumour "
                   "shrank a lot; surgery is planned next")
    derive(history).fields   # prior_treatment [chemotherapy, anti_pd1], cycles 3, response PR
    describe(history)        # "pembrolizumab with chemotherapy, 3 cycles, shrank; surgery planned"
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from . import normalize, recognise, vocab

IMMUNOTHERAPY = frozenset({"anti_pd1", "anti_pdl1", "immunotherapy_unspecified"})
# Drugs given in cycles beside the immunotherapy: a count said of a line that has them
# is a count of a combined line. (Surgery and radiotherapy are not given in cycles.)
OTHER_SYSTEMIC = frozenset({"chemotherapy", "targeted", "other_systemic", "chemoradiotherapy"})
SPECIFIC_IMMUNOTHERAPY = frozenset({"anti_pd1", "anti_pdl1"})
GIVEN = ("received", "ongoing")
# When one treatment carries several status cues, the one that says it was not
# (or not yet) received wins: a wrong "received" changes verdicts.
STATUS_PRIORITY = ("refused", "not_received", "offered", "planned", "ongoing", "received")


# --- what a reading is made of ----------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """A number of cycles said in the answer, and what it counts."""

    value: int | tuple[int, int] | None  # a count, a (low, high) range, None when vague ("a few")
    of: tuple[str, ...]  # categories it was said of ("3 cycles of cisplatin"); () = the whole line
    words: str
    total: bool = False  # "8 cycles in total": may cover several lines
    more: bool = False  # "2 more cycles": adds to the count said before it


@dataclass(frozen=True)
class Line:
    """One line of therapy: agents given together, and what the answer says of them."""

    agents: tuple[tuple[str, str | None], ...]  # (category, drug or None), in the order said
    counts: tuple[Count, ...] = ()
    responses: tuple[str, ...] = ()  # RECIST codes said of this line
    status: str = "received"  # received | ongoing | planned | offered | refused | not_received
    intent: str | None = None  # diagnostic | neoadjuvant | adjuvant | curative | palliative | unclear | None
    target: str = "this"  # this (the cancer being screened) | other (another cancer)
    words: str = ""  # the words of the answer it came from
    corrections: tuple[tuple[str, str], ...] = ()  # (typed, read as) for drug-name typos
    response_unclear: bool = False  # a denied response ("it didn't get smaller")
    procedure: str | None = None  # a diagnostic procedure's words ("biopsy"), no agents

    @property
    def categories(self) -> tuple[str, ...]:
        """The treatment categories, in vocabulary order, one line's words read as a whole."""
        cats = {c for c, _ in self.agents}
        if "chemoradiotherapy" in cats:
            # "chemo and radiation together" is one treatment, not two separate ones;
            # a named chemotherapy drug stays chemotherapy.
            cats.discard("radiotherapy")
            if not any(c == "chemotherapy" and d for c, d in self.agents):
                cats.discard("chemotherapy")
        return tuple(c for c in vocab.field("prior_treatment").values if c in cats)

    @property
    def drugs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d for _, d in self.agents if d))

    @property
    def immunotherapy(self) -> bool:
        return bool(set(self.categories) & IMMUNOTHERAPY)

    @property
    def given(self) -> bool:
        """Treatment of this cancer that was (or is being) received: what prior_treatment holds."""
        return self.status in GIVEN and self.target == "this" and self.intent != "diagnostic" and bool(self.agents)

    @property
    def cycles(self) -> int | tuple[int, int] | None:
        """The line's count when the answer gives exactly one (with any "N more" added)."""
        if any(c.value is None for c in self.counts):
            return None
        base = {c.value for c in self.counts if not c.more}
        more = [c.value for c in self.counts if c.more]
        if len(base) > 1 or not (base or more):
            return None
        return _add([*base, *more])

    @property
    def response(self) -> str | None:
        return self.responses[0] if len(set(self.responses)) == 1 and not self.response_unclear else None


@dataclass(frozen=True)
class History:
    """A treatment answer as lines of therapy, in the order they were said."""

    lines: tuple[Line, ...]
    none: bool = False  # says there was no treatment yet
    unknown: bool = False  # says they do not know (and names nothing)
    recurrence: tuple[str, ...] = ()  # "yes" / "no" for each time the answer speaks of the cancer coming back
    pathologic_responses: tuple[str, ...] = ()
    stray_numbers: tuple[str, ...] = ()  # numbers not read as counts, years, doses, stages...
    text: str = ""

    def with_line(self, index: int, **changes: Any) -> "History":
        """The same history with one line corrected, e.g. after a follow-up:
        ``history.with_line(0, intent="diagnostic")``."""
        lines = list(self.lines)
        lines[index] = replace(lines[index], **changes)
        return replace(self, lines=tuple(lines))


@dataclass
class Derived:
    """The profile fields a history settles, and why the others are left open."""

    fields: dict[str, Any] = field(default_factory=dict)
    unsettled: dict[str, str] = field(default_factory=dict)  # field -> reason code (see REASONS)
    notes: dict[str, str] = field(default_factory=dict)  # field -> how a settled value was reached
    about: dict[str, str] = field(default_factory=dict)  # field -> the words a follow-up should name


# Why a field is left open; the dialogue turns each into a short follow-up.
REASONS = {
    "several_numbers": "two different counts for the immunotherapy: ask how many cycles of the immunotherapy itself",
    "cycles_of_combined_line": "the count was said of another drug in the line: ask the immunotherapy's own cycles",
    "cycles_not_given_for_every_line": "immunotherapy in several lines, a count for only some: ask the total",
    "total_of_several_lines": "a total over several lines: ask the immunotherapy's own cycles",
    "cycles_not_a_number": "a count without a number ('a few'): ask how many",
    "several_responses": "two different responses: ask the response after the immunotherapy",
    "response_unclear": "a response word was denied ('didn't shrink'): ask the response",
    "response_after_other_treatment": "the response was said after a later, non-immunotherapy line: ask the response to the immunotherapy",
    "intent_unclear": "words of two intents for one treatment: ask whether it was to remove the cancer or to find out what it was",
    "only_planned": "treatment only planned, offered or refused: ask whether any treatment was received yet",
    "only_denials": "only what was not given: ask what was given",
    "other_cancer_only": "treatment of another cancer only: ask about treatment of this cancer",
    "several_answers": "the answer says both: ask again",
    "stray_number": "a number the reader could not place ('then 3 times'): ask the immunotherapy's own cycles",
}


# --- vocabulary -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _cues() -> dict:
    return vocab.load("therapy")


def _alternation(terms: Iterable[str]) -> str:
    return "|".join(vocab.term_regex(t) for t in sorted(set(terms), key=len, reverse=True))


@functools.lru_cache(maxsize=1)
def _regexes() -> dict[str, re.Pattern]:
    """Regexes built once from therapy.yaml and answers.yaml."""
    cues = _cues()
    numbers = recognise.number_words()
    units, tens = numbers.units, numbers.tens
    ordinals = vocab.load("answers")["ordinals"]
    # Compounds first: "twenty-one cycles" is 21, not "one cycles" after a stray "twenty".
    number = r"\d{1,2}|" + numbers.pattern(compounds=True)
    unit = _alternation(vocab.load("treatments")["cycle_words"])
    ordinal = r"\d{1,2}(?:st|nd|rd|th)|第\s*\d{1,2}|" + "|".join(sorted(ordinals, key=len, reverse=True))
    vague = _alternation(cues["vague_counts"])
    spoken = "|".join(sorted([w for w in [*units, *tens] if w not in ("zero", "one")], key=len, reverse=True))
    return {
        "line_break": re.compile(rf"[;\n]|\.(?!\d)|{_alternation(cues['line_breaks'])}", re.I),
        "clause_break": re.compile(rf",|{_alternation(cues['clause_breaks'])}", re.I),
        "coordinators": re.compile(rf"^(?:\s|{_symbols_or_words(cues['coordinators'])})*$", re.I),
        # "3 cycles", "2-3 cycles", "6 more cycles", "three rounds"
        "count": re.compile(
            rf"(?<![\w-])(?P<a>{number})(?:\s*(?:-|–|to|or|到|至|或|~)\s*(?P<b>{number}))?\s+(?:\w+\s+)?(?:{unit})",
            re.I,
        ),
        "count_after": re.compile(rf"\b(?:{unit})\s*(?:x|×|:)\s*(?P<a>\d{{1,2}})\b", re.I),  # "cycles x 3"
        "times_after": re.compile(r"(?:\bx|×)\s*(?P<a>\d{1,2})\b", re.I),  # "Keytruda x4"
        "times_before": re.compile(r"\b(?P<a>\d{1,2})\s*(?:x|×)(?=\s)", re.I),  # "3x pembrolizumab"
        "ordinal": re.compile(
            rf"(?<!\w)(?P<o>{ordinal})\s+(?:\w+\s+)?(?:{unit})", re.I
        ),  # "my 4th cycle", "第 4 个 周 期"
        "more": re.compile(rf"\b(?P<a>{number})\s+(?:more|further|additional)\b", re.I),  # "then 2 more"
        "number": re.compile(rf"(?<![\w.\-/])(?P<a>\d{{1,3}}|{spoken})(?![\w./]|-\w)", re.I),
        "not_count_before": re.compile(rf"^\s*(?:{_symbols_or_words(cues['not_counts_before'])})", re.I),
        "not_count_after": re.compile(rf"(?:{_symbols_or_words(cues['not_counts_after'])})[\s:=#-]*$", re.I),
        "vague": re.compile(rf"(?:{vague})\s+(?:\w+\s+)?(?:{unit})", re.I),
        "total": re.compile(_alternation(cues["total_cues"]), re.I),
        "not_response_near": re.compile(r"\bdos(?:e|es|age|ing)\b", re.I),
        "recurrence_guard_after": re.compile(rf"^\s*(?:{_alternation(cues['not_recurrence_after'])})", re.I),
        "recurrence_guard_before": re.compile(rf"(?:{_alternation(cues['not_recurrence_before'])})\W*$", re.I),
    }


def _symbols_or_words(terms: Iterable[str]) -> str:
    """An alternation where words match whole words and symbols ("+", "/") match anywhere."""
    parts = [
        re.escape(t) if not re.search(r"\w", t) else vocab.term_regex(t)
        for t in sorted(set(terms), key=len, reverse=True)
    ]
    return "|".join(parts)


def _number(token: str) -> int | None:
    token = token.lower()
    if token.isdigit():
        return int(token)
    ordinals = vocab.load("answers")["ordinals"]
    if token in ordinals:
        return ordinals[token]
    digits = re.search(r"\d+", token)  # "4th", "第 4"
    return int(digits.group()) if digits else normalize.words_to_number(token)


@functools.lru_cache(maxsize=1)
def _mention_terms() -> list[tuple[str, tuple[str, str | None]]]:
    """(term, (kind, value)) for every word that names a treatment or a diagnostic procedure."""
    pairs: list[tuple[str, tuple[str, str | None]]] = [(t, ("drug", d)) for t, d in vocab.drug_terms()]
    pairs += [(t, ("category", c)) for t, c in vocab.treatment_terms()]
    pairs += [(t, ("procedure", None)) for t in _cues()["diagnostic_procedures"]]
    return pairs


@functools.lru_cache(maxsize=1)
def _also_means() -> dict[str, tuple[str, ...]]:
    """Lower-cased term -> extra categories ("immunochemotherapy" adds chemotherapy)."""
    out = {}
    for entry in vocab.load("treatments").get("also_means", []):
        for term in entry["terms"]:
            out[re.sub(r"[\s\-]+", " ", vocab.prepare(term).lower())] = tuple(entry["adds"])
    return out


@functools.lru_cache(maxsize=1)
def _known_words() -> frozenset[str]:
    """Every single word of the clinical vocabulary: a typo guess must not be one of them."""
    words: set[str] = set()
    for term, _ in [*_mention_terms(), *vocab.site_terms(), *vocab.response_terms(), *vocab.histology_terms()]:
        words.update(w.lower() for w in re.findall(r"[A-Za-z]+", term))
    return frozenset(words)


# --- reading ----------------------------------------------------------------------------------


@dataclass
class _Mention:
    start: int
    end: int
    words: str
    kind: str  # drug | category | procedure
    category: str | None
    drug: str | None = None
    extra: tuple[str, ...] = ()
    typo: tuple[str, str] | None = None
    statuses: list[tuple[int, str]] = field(default_factory=list)  # (distance, status) cues attached
    intents: list[str] = field(default_factory=list)
    target: str = "this"
    negated: bool = False
    follows: "_Mention | None" = None  # "pembrolizumab before the operation": the operation's status follows
    chunk: int = 0
    clause: int = 0


def read(text: str | None) -> History | None:
    """The lines of therapy in a treatment answer; None when it says nothing about treatment.

    Lines are split at ";", ".", new lines and words such as "then"; within
    a line, agents joined by "and", "with", "plus" were given together. Each
    agent's status (received unless said otherwise: planned, offered,
    refused, not yet, denied), intent and target come from cue words in its
    clause (vocabulary/therapy.yaml). A count or response is said of the
    agents next to it, or of the whole line.
    """
    if not text or not text.strip():
        return None
    text = vocab.prepare(text[:2000])  # Chinese: numerals as digits, one word per character
    mentions = _mentions(text)
    chunks = _spans(text, _regexes()["line_break"])
    clauses = _spans(text, _regexes()["clause_break"], within=chunks)
    for m in mentions:
        m.chunk = _index_of(chunks, m.start)
        m.clause = _index_of(clauses, m.start)
        m.negated = normalize.negated(text, m.start)
    _attach_statuses(text, mentions, clauses, chunks)
    _attach_intents(text, mentions, clauses, chunks)
    _attach_targets(text, mentions, clauses)
    lines, line_of = _lines(text, mentions, chunks)
    lines = _attach_counts(text, mentions, lines, line_of, chunks, clauses)
    lines = _attach_responses(text, mentions, lines, line_of, clauses)
    recurrence = _recurrence(text)
    path = tuple(code for *_, code in vocab.find_terms(text, vocab.pathologic_response_terms()))
    none_terms = [*vocab.load("treatments")["none_terms"], *vocab.no_treatment_terms()]
    # A "none" word right before a treatment denies that treatment only ("没有放疗"): not "no treatment".
    neutral = [(t, "neutral") for t in vocab.load("answers").get("neutral") or []]  # "有没有" is a question
    none_said = any(
        value == "none" and not any(m.start >= end and not text[end : m.start].strip() for m in mentions)
        for _, end, _, value in vocab.find_terms(text, [(t, "none") for t in none_terms] + neutral)
    ) and not any(line.given for line in lines)
    unknown = not lines and normalize.is_unknown(text)
    counts_said = any(_regexes()[k].search(text) for k in ("count", "count_after", "times_after", "ordinal", "vague"))
    responses_said = any(True for _ in vocab.find_terms(text, vocab.response_terms()))
    if not (lines or none_said or unknown or recurrence or path or counts_said or responses_said):
        return None
    return History(
        tuple(lines),
        none=none_said,
        unknown=unknown,
        recurrence=recurrence,
        pathologic_responses=path,
        stray_numbers=_stray_numbers(text, mentions, chunks),
        text=text,
    )


def _mentions(text: str) -> list[_Mention]:
    """Every treatment, drug and diagnostic procedure named, in text order (typos included)."""
    found = []
    for start, end, words, (kind, value) in vocab.find_terms(text, _mention_terms()):
        if kind == "drug":
            assert value is not None  # a drug term always names its drug
            found.append(_Mention(start, end, words, kind, vocab.drugs()[value]["category"], drug=value))
        else:
            extra = _also_means().get(re.sub(r"[\s\-]+", " ", words.lower()), ())
            found.append(_Mention(start, end, words, kind, value, extra=extra))
    found += _typo_mentions(text, [(m.start, m.end) for m in found])
    return sorted(found, key=lambda m: m.start)


def _typo_mentions(text: str, taken: list[tuple[int, int]]) -> list[_Mention]:
    """Drug names typed with a letter or two wrong ("pembrolizumib"), read conservatively."""
    policy = _cues()["typos"]
    out = []
    for match in re.finditer(rf"[A-Za-z][A-Za-z\-]{{{policy['min_length'] - 1},}}", text):
        word = match.group().lower()
        if word in _known_words() or any(match.start() < e and s < match.end() for s, e in taken):
            continue
        close = [
            name
            for name in vocab.drugs()
            if len(name) >= policy["min_length"]
            and name[: policy["same_start"]] == word[: policy["same_start"]]
            and vocab.edits(word, name, policy["max_edits"]) <= policy["max_edits"]
        ]
        if len(close) == 1:
            name = close[0]
            out.append(
                _Mention(
                    match.start(),
                    match.end(),
                    match.group(),
                    "drug",
                    vocab.drugs()[name]["category"],
                    drug=name,
                    typo=(match.group(), name),
                )
            )
    return out


def _spans(text: str, breaks: re.Pattern, within: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """The text cut at ``breaks`` (and at the ends of the ``within`` spans)."""
    cuts = {0, len(text)}
    for m in breaks.finditer(text):
        cuts.update((m.start(), m.end()))
    for start, end in within or []:
        cuts.update((start, end))
    points = sorted(cuts)
    return [(a, b) for a, b in zip(points, points[1:]) if text[a:b].strip()]


def _index_of(spans: list[tuple[int, int]], position: int) -> int:
    return next((i for i, (a, b) in enumerate(spans) if a <= position < b), len(spans) - 1)


def _cue_hits(text: str, table: dict[str, list[str]]) -> list[tuple[int, int, str]]:
    """(start, end, label) for every cue of every label, longest cue first, no overlaps."""
    pairs = [(cue, label) for label, cues in table.items() for cue in cues]
    return [(s, e, label) for s, e, _, label in vocab.find_terms(text, pairs)]


def _distance(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, b[0] - a[1], a[0] - b[1])


def _groups(text: str, mentions: list[_Mention]) -> list[list[_Mention]]:
    """Runs of mentions joined only by coordinators ("cisplatin and pembrolizumab"), within a line."""
    groups: list[list[_Mention]] = []
    for m in mentions:
        previous = groups[-1][-1] if groups else None
        if previous and previous.chunk == m.chunk and _regexes()["coordinators"].match(text[previous.end : m.start]):
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


def _nearest(mentions: list[_Mention], start: int, end: int, clauses, chunks) -> _Mention | None:
    """The mention a cue at start-end speaks of: the nearest in its clause, else (a clause of
    its own, "..., but I refused") the one just before it in the same line."""
    clause, chunk = _index_of(clauses, start), _index_of(chunks, start)
    same = [m for m in mentions if m.clause == clause]
    if same:
        return min(same, key=lambda m: (_distance((m.start, m.end), (start, end)), -m.start))
    before = [m for m in mentions if m.end <= start and m.chunk == chunk]
    return before[-1] if before else None


def _attach_statuses(text: str, mentions: list[_Mention], clauses, chunks) -> None:
    """Each status cue goes to the mention it speaks of (``_nearest``); mentions given
    together ("surgery and radiotherapy are planned") share a cue one of them has."""
    for start, end, status in _cue_hits(text, _cues()["status"]):
        target = _nearest(mentions, start, end, clauses, chunks)
        if target is None:
            continue
        target.statuses.append((_distance((target.start, target.end), (start, end)), status))
    for group in _groups(text, mentions):
        said = {_strongest([s for _, s in m.statuses]) for m in group if m.statuses}
        if len(said) == 1:
            for m in group:
                if not m.statuses:
                    m.statuses.append((0, next(iter(said))))


def _strongest(statuses: list[str]) -> str:
    return min(statuses, key=STATUS_PRIORITY.index) if statuses else "received"


def _status(m: _Mention) -> str:
    """A mention's status: denied ("no radiotherapy") wins, then the strongest cue it carries;
    an operation named only as a time ("before the operation") has the status of what it times."""
    if m.negated:
        return "not_received"
    if not m.statuses and m.follows is not None:
        return _status(m.follows)
    return _strongest([s for _, s in m.statuses])


def _attach_intents(text: str, mentions: list[_Mention], clauses, chunks) -> None:
    """Each intent cue goes to the nearest mention of a kind it applies to ("diagnostic" to
    an operation, "induction" to a drug or radiotherapy), in its clause or just before."""
    table = {name: spec["cues"] for name, spec in _cues()["intent"].items()}
    for start, end, intent in _cue_hits(text, table):
        applies = set(_cues()["intent"][intent]["applies_to"])
        fits = [m for m in mentions if m.category in applies and m.kind != "procedure"]
        inside = [m for m in mentions if m.start < end and start < m.end]
        if inside:
            # "after surgery" names a treatment itself: it speaks of its own clause only
            fits = [m for m in fits if m.clause == _index_of(clauses, start)]
        target = _nearest(fits, start, end, clauses, chunks)
        if target is not None:
            target.intents.append(intent)
            for m in inside:
                if m is not target and target.follows is not m:  # "induction chemotherapy" names itself
                    m.follows = target


def _attach_targets(text: str, mentions: list[_Mention], clauses: list[tuple[int, int]]) -> None:
    """Another cancer named in a clause makes its treatments (or the ones just before) "other"."""
    other = [(t, "other") for t in _cues()["other_cancer_cues"]]
    other += [(t, "other") for t, code in vocab.cancer_type_terms() if code != "head_and_neck"]
    groups = _groups(text, mentions)
    for start, _, _, _ in vocab.find_terms(text, other):
        clause = _index_of(clauses, start)
        same = [m for m in mentions if m.clause == clause]
        if not same:  # "I had radiotherapy. That was for breast cancer."
            before = [m for m in mentions if m.end <= start][-1:]
            same = [m for g in groups if any(b in g for b in before) for m in g]
        for m in same:
            m.target = "other"


def _intent(m: _Mention) -> str | None:
    if m.kind == "procedure":
        return "diagnostic"
    intents = set(m.intents)
    if len(intents) > 1 and "diagnostic" in intents:
        return "unclear"  # "diagnostic" and "radical" for one operation: the chat asks
    return m.intents[-1] if m.intents else None


def _lines(text: str, mentions: list[_Mention], chunks: list[tuple[int, int]]) -> tuple[list[Line], dict[int, int]]:
    """Mentions grouped into lines: one line per run of mentions in a chunk that share status,
    target and intent kind; an operation is a line of its own (it is not given in cycles
    beside drugs). An elaboration ("It was Keytruda.") joins the line before it."""
    lines: list[Line] = []
    starts: list[int] = []
    line_of: dict[int, int] = {}
    key_of_last = None
    for m in mentions:
        key = (
            m.chunk,
            _status(m),
            m.target,
            _intent(m) == "diagnostic",
            m.kind == "procedure",
            m.category == "surgery" or (m.kind == "procedure" and m.start),
        )
        elaborates = (
            lines
            and m.kind == "drug"
            and key_of_last is not None  # always set once there is a line
            and key[1:] == key_of_last[1:]
            and re.match(
                r"\s*(?:it|that|this|which|they)\s+(?:was|were|is|are)\b", text[chunks[m.chunk][0] : m.start], re.I
            )
        )
        if lines and (key == key_of_last or elaborates):
            line = lines[-1]
            intent = (
                line.intent
                if _intent(m) is None or line.intent == _intent(m)
                else (_intent(m) if line.intent is None else "unclear")
            )
            lines[-1] = replace(
                line,
                agents=line.agents + _agents(m),
                intent=intent,
                words=text[starts[-1] : m.end].strip(),
                corrections=line.corrections + ((m.typo,) if m.typo else ()),
            )
        else:
            lines.append(
                Line(
                    agents=_agents(m),
                    status=key[1],
                    intent=_intent(m),
                    target=m.target,
                    words=m.words,
                    corrections=(m.typo,) if m.typo else (),
                    procedure=m.words if m.kind == "procedure" else None,
                )
            )
            starts.append(m.start)
            key_of_last = key
        line_of[id(m)] = len(lines) - 1
    lines = [replace(line, agents=tuple(dict.fromkeys(line.agents))) for line in lines]
    return lines, line_of


def _agents(m: _Mention) -> tuple[tuple[str, str | None], ...]:
    if m.kind == "procedure":
        return ()
    assert m.category is not None  # only a procedure has no category
    return ((m.category, m.drug),) + tuple((c, None) for c in m.extra)


def _count_phrases(text: str, chunk: tuple[int, int]) -> list[tuple[int, int, Count]]:
    """Counts of cycles said in one line of the answer: (start, end, Count without scope)."""
    rx = _regexes()
    piece = text[chunk[0] : chunk[1]]
    found: list[tuple[int, int, Count]] = []

    def add(m: re.Match, value) -> None:
        start, end = chunk[0] + m.start(), chunk[0] + m.end()
        if any(start < e and s < end for s, e, _ in found):
            return
        after = text[end : end + 14]
        total = bool(rx["total"].search(text[max(chunk[0], start - 12) : start]) or rx["total"].match(after.strip()))
        more = bool(re.search(r"\b(?:more|further|additional)\b", text[start:end], re.I))
        found.append((start, end, Count(value, (), text[start:end], total, more)))

    for m in rx["vague"].finditer(piece):
        add(m, None)
    for m in rx["count"].finditer(piece):
        a, b = _number(m["a"]), _number(m["b"]) if m["b"] else None
        assert a is not None  # ``a`` is digits or a number word, and _number reads every one
        add(m, a if b is None or a == b else (min(a, b), max(a, b)))
    for name in ("count_after", "times_after", "times_before"):
        for m in rx[name].finditer(piece):
            add(m, int(m["a"]))
    for m in rx["ordinal"].finditer(piece):
        add(m, _number(m["o"]))
    for m in rx["more"].finditer(piece):
        add(m, _number(m["a"]))
    return sorted(found, key=lambda f: f[0])


def _stray_numbers(text: str, mentions: list[_Mention], chunks: list[tuple[int, int]]) -> tuple[str, ...]:
    """Numbers the reader could not place: not a count, a year, a dose, a time, a stage or
    grade, nor part of a drug's name (PD-1, 5-FU). "then 3 times" may be 3 more cycles, so
    the immunotherapy's count is asked rather than taken without them."""
    rx = _regexes()
    placed = [(s, e) for chunk in chunks for s, e, _ in _count_phrases(text, chunk)]
    placed += [(m.start, m.end) for m in mentions]
    stray = []
    for m in rx["number"].finditer(text):
        if any(m.start() < e and s < m.end() for s, e in placed):
            continue
        if rx["not_count_before"].match(text[m.end() :]) or rx["not_count_after"].search(text[: m.start()]):
            continue
        stray.append(m.group())
    return tuple(stray)


def _attach_counts(
    text: str,
    mentions: list[_Mention],
    lines: list[Line],
    line_of: dict[int, int],
    chunks: list[tuple[int, int]],
    clauses: list[tuple[int, int]],
) -> list[Line]:
    """A count goes to the agents right next to it ("pembrolizumab 4 cycles", "3 cycles of
    cisplatin and pembrolizumab": the agents given together with them too), else to the
    whole line of its clause, else to the last line received before it."""
    groups = _groups(text, mentions)
    group_of = {id(m): g for g in groups for m in g}
    lines = list(lines)
    for index, chunk in enumerate(chunks):
        for start, end, count in _count_phrases(text, chunk):
            before = [m for m in mentions if m.chunk == index and m.end <= start]
            after = [m for m in mentions if m.chunk == index and m.start >= end]
            scope: list[_Mention] | None = None
            target: int | None
            if before and re.fullmatch(r"\s*(?:for|x|×|:|-)?\s*", text[before[-1].end : start], re.I):
                scope = group_of[id(before[-1])]
            elif after and re.fullmatch(r"\s*(?:of|with)?\s*", text[end : after[0].start], re.I):
                scope = group_of[id(after[0])]
            if scope:
                target = line_of[id(scope[0])]
                of = tuple(dict.fromkeys(c for m in scope for c, _ in _agents(m)))
            else:
                clause = _index_of(clauses, start)
                same = [m for m in mentions if m.clause == clause]
                target = line_of[id(same[0])] if same else _last_given_line(lines, line_of, mentions, start)
                of = ()
            if target is not None:
                lines[target] = replace(lines[target], counts=lines[target].counts + (replace(count, of=of),))
    return lines


def _last_given_line(lines: list[Line], line_of: dict[int, int], mentions: list[_Mention], position: int) -> int | None:
    """The last line received (or ongoing) before ``position``: what a loose remark speaks of."""
    candidates = [line_of[id(m)] for m in mentions if m.end <= position and lines[line_of[id(m)]].status in GIVEN]
    return candidates[-1] if candidates else None


def _attach_responses(
    text: str, mentions: list[_Mention], lines: list[Line], line_of: dict[int, int], clauses: list[tuple[int, int]]
) -> list[Line]:
    """A response word goes to the line of its clause, else to the last line received before it.
    A denied one ("it didn't get smaller") marks that line's response unclear."""
    rx = _regexes()
    lines = list(lines)
    for start, end, _, code in vocab.find_terms(text, vocab.response_terms()):
        if rx["not_response_near"].search(text[max(0, start - 12) : end + 12]):
            continue  # "reduced dose" is no response
        if any(m.start < end and start < m.end for m in mentions):
            continue  # the "PD" of "PD-1 inhibitor" is no progression
        clause = _index_of(clauses, start)
        same = [m for m in mentions if m.clause == clause and lines[line_of[id(m)]].status in GIVEN]
        target = line_of[id(same[-1])] if same else _last_given_line(lines, line_of, mentions, start)
        if target is None:
            continue
        if normalize.negated(text, start):
            lines[target] = replace(lines[target], response_unclear=True)
        else:
            lines[target] = replace(lines[target], responses=lines[target].responses + (code,))
    return lines


def recurrence_mentions(text: str) -> list[tuple[int, int, str]]:
    """Where the text says the cancer came back: (start, end, "yes"), or "no" where it denies it.

    The one reader of recurrence words: the treatment reader and the NLU
    component (entity ``recurrence``) both use it.
    """
    rx = _regexes()
    said = []
    for start, end, _, _ in vocab.find_terms(text, [(t, "r") for t in _cues()["recurrence_terms"]]):
        if rx["recurrence_guard_after"].match(text[end:]) or rx["recurrence_guard_before"].search(text[:start]):
            continue  # "the scan came back clear", "results came back"
        said.append((start, end, "no" if normalize.negated(text, start) else "yes"))
    return said


def _recurrence(text: str) -> tuple[str, ...]:
    """ "yes" for each time the answer says the cancer came back, "no" where it denies it."""
    return tuple(value for *_, value in recurrence_mentions(text))


# --- deriving profile fields --------------------------------------------------------------------


def derive(history: History | None) -> Derived:
    """The profile fields the lines settle, and the ones they leave open (with a reason).

    prior_treatment: the categories of every line received or ongoing, for
    this cancer, that is not diagnostic (a biopsy treats nothing; another
    cancer's radiotherapy is not this tumour's). A named PD-1/PD-L1 drug
    makes "immunotherapy" specific. Empty when the answer says "none yet" or
    names only diagnostic procedures; open when it names only planned,
    offered, refused or denied treatment.

    immunotherapy_cycles: summed over the received immunotherapy lines
    (2 with cisplatin, then 6 alone = 8). A line's count counts when it was
    said of the immunotherapy, of a group of agents given together that
    includes it, or of the whole line: in a combined line the PD-1 drug is
    given in every cycle, so "3 cycles of pembrolizumab with chemotherapy" is
    3 (said in ``notes``). A count said only of another agent ("TPF 3 cycles
    and pembrolizumab"), two different counts, or a count for only some
    immunotherapy lines leaves it open.

    immunotherapy_response: the response said of the last immunotherapy line
    (not of chemotherapy before it); open when it has two, or the response
    was said only after a later line. pathologic_response and recurrent: as
    said, open when said both ways.
    """
    out = Derived()
    if history is None:
        return out
    _derive_prior_treatment(history, out)
    given = [line for line in history.lines if line.given]
    immuno = [line for line in given if line.immunotherapy]
    if immuno:
        if history.stray_numbers:
            out.unsettled["immunotherapy_cycles"] = "stray_number"
            out.about["immunotherapy_cycles"] = ", ".join(history.stray_numbers)
        else:
            _derive_cycles(immuno, given, out)
        _derive_response(immuno[-1], given, out)
    _settle(out, "pathologic_response", history.pathologic_responses)
    _settle(out, "recurrent", history.recurrence)
    return out


def _derive_prior_treatment(history: History, out: Derived) -> None:
    unclear = [line for line in history.lines if line.intent == "unclear" and line.status in GIVEN]
    given = [line for line in history.lines if line.given]
    if unclear:
        out.unsettled["prior_treatment"], out.about["prior_treatment"] = "intent_unclear", unclear[0].words
        return
    if given:
        categories = {c for line in given for c in line.categories}
        if categories & SPECIFIC_IMMUNOTHERAPY:
            categories.discard("immunotherapy_unspecified")
        out.fields["prior_treatment"] = [c for c in vocab.field("prior_treatment").values if c in categories]
        return
    received = [line for line in history.lines if line.status in GIVEN]
    if history.none or (received and all(line.intent == "diagnostic" and line.target == "this" for line in received)):
        out.fields["prior_treatment"] = []
        if received:
            out.notes["prior_treatment"] = "a biopsy or diagnostic operation is not treatment"
        return
    if received and all(line.target == "other" for line in received):
        out.unsettled["prior_treatment"] = "other_cancer_only"
    elif any(line.status in ("planned", "offered", "refused") for line in history.lines):
        out.unsettled["prior_treatment"] = "only_planned"
    elif history.lines:
        out.unsettled["prior_treatment"] = "only_denials"


def _io_count(line: Line, first: bool) -> tuple[int | tuple[int, int] | None, str | None, bool]:
    """(count, reason it is open, said of a combined line) for one immunotherapy line.

    "N more" adds to the line's own count, or is the count of a line that follows
    another immunotherapy line ("..., then 6 more cycles alone"); in the first line
    with nothing before it, "2 more" leaves the count open.
    """
    if any(c.value is None for c in line.counts):
        return None, "cycles_not_a_number", False
    relevant = [c for c in line.counts if not c.of or set(c.of) & IMMUNOTHERAPY]
    base = {c.value for c in relevant if not c.more}
    more = [c.value for c in relevant if c.more]
    if len(base) > 1 or (more and not base and first):
        return None, "several_numbers", False
    if more and not base:
        base = {more.pop(0)}
    if base:
        value = _add([base.pop(), *more])
        combined = any(
            bool(set(line.categories) & OTHER_SYSTEMIC) and (not c.of or set(c.of) - IMMUNOTHERAPY) for c in relevant
        )
        return value, None, combined
    if line.counts:
        return None, "cycles_of_combined_line", False
    return None, None, False


def _add(counts: list) -> int | tuple[int, int]:
    """The sum of counts, some of which may be (low, high) ranges."""
    low = sum(c[0] if isinstance(c, tuple) else c for c in counts)
    high = sum(c[1] if isinstance(c, tuple) else c for c in counts)
    return low if low == high else (low, high)


def _derive_cycles(immuno: list[Line], given: list[Line], out: Derived) -> None:
    totals = [line for line in given if any(c.total for c in line.counts)]
    if totals and len(given) > 1:  # "8 cycles in total" over chemotherapy and immunotherapy
        out.unsettled["immunotherapy_cycles"], out.about["immunotherapy_cycles"] = (
            "total_of_several_lines",
            totals[0].words,
        )
        return
    counts, combined = [], False
    for index, line in enumerate(immuno):
        value, reason, mixed = _io_count(line, first=index == 0)
        if reason:
            out.unsettled["immunotherapy_cycles"], out.about["immunotherapy_cycles"] = reason, line.words
            return
        counts.append(value)
        combined |= mixed
    known = [c for c in counts if c is not None]
    if not known:
        return
    if len(known) < len(counts):
        out.unsettled["immunotherapy_cycles"] = "cycles_not_given_for_every_line"
        out.about["immunotherapy_cycles"] = next(line.words for line, c in zip(immuno, counts) if c is None)
        return
    total = _add(known)
    out.fields["immunotherapy_cycles"] = list(total) if isinstance(total, tuple) else total
    if len(known) > 1:
        out.notes["immunotherapy_cycles"] = f"added over {len(known)} lines that gave immunotherapy"
    if combined:
        out.notes["immunotherapy_cycles"] = (
            "said of a line that gave the immunotherapy with another drug: the immunotherapy was "
            "given in every cycle of it, so the count is the immunotherapy's"
        )


def _derive_response(last: Line, given: list[Line], out: Derived) -> None:
    if last.response_unclear:
        out.unsettled["immunotherapy_response"], out.about["immunotherapy_response"] = "response_unclear", last.words
    elif len(set(last.responses)) > 1:
        out.unsettled["immunotherapy_response"], out.about["immunotherapy_response"] = "several_responses", last.words
    elif last.responses:
        out.fields["immunotherapy_response"] = last.responses[0]
    elif any(line.responses for line in given[given.index(last) + 1 :]):
        out.unsettled["immunotherapy_response"] = "response_after_other_treatment"
        out.about["immunotherapy_response"] = last.words


def _settle(out: Derived, name: str, said: tuple[str, ...]) -> None:
    values = set(said)
    if len(values) == 1:
        out.fields[name] = values.pop()
    elif values:
        out.unsettled[name] = "several_answers" if name == "recurrent" else "several_responses"


# --- saying it back ---------------------------------------------------------------------------------


def describe(history: History | None, language: str | None = "en") -> str:
    """One line in plain words the bot can echo back so a person can correct it:
    "pembrolizumab with chemotherapy, 3 cycles, shrank; surgery planned" (in Chinese:
    "帕博利珠单抗联合化疗，3个周期，缩小了；手术（计划中）"). The words are in therapy.yaml."""
    if history is None:
        return ""
    words = _cues()["said_back"].get(language or "en") or _cues()["said_back"]["en"]
    parts = [_describe_line(line, language or "en", words) for line in history.lines]
    if history.none and not any(line.given for line in history.lines):
        parts.insert(0, words["none"])
    if "yes" in history.recurrence and "no" not in history.recurrence:
        parts.append(words["came_back"])
    if history.unknown and not parts:
        parts.append(words["not_known"])
    return words["joiner"].join(p for p in parts if p)


def _describe_line(line: Line, language: str, words: dict) -> str:
    treatments = {t["code"]: t for t in vocab.load("treatments")["treatments"]}
    responses = {r["code"]: r for r in vocab.load("treatments")["responses"]}
    categories = set(line.categories)
    if categories & SPECIFIC_IMMUNOTHERAPY:
        categories.discard("immunotherapy_unspecified")
    names = []
    for category, drug in line.agents:  # in the order said
        if category in categories and (drug or not any(c == category and d for c, d in line.agents)):
            names.append(
                vocab.drug_label(drug, language) if drug else vocab.text(treatments[category], "short", language)
            )
    names = list(dict.fromkeys(names))
    said = [vocab.unspace(line.procedure)] if line.procedure else []
    said.append(words["with"].join(names)) if names else None
    text = ("" if language == "zh" else " ").join(w for w in said if w)
    if line.intent == "diagnostic" and not line.procedure:
        text += words["diagnostic"]
    elif line.intent == "unclear":
        text += words["unclear"]
    elif line.intent in words["intents"]:
        text += words["intents"][line.intent]
    if line.target == "other":
        text += words["other_cancer"]
    bits = [text]
    cycles = line.cycles
    if cycles is not None:
        if isinstance(cycles, tuple):
            bits.append(words["range"].format(low=cycles[0], high=cycles[1]))
        else:
            bits.append((words["one_cycle"] if cycles == 1 else words["cycles"]).format(n=cycles))
    elif line.counts:
        bits.append(words["counts"] + words["count_joiner"].join(vocab.unspace(c.words) for c in line.counts))
    bits += [vocab.text(responses[r], "plain", language) for r in dict.fromkeys(line.responses)]
    status = words["statuses"].get(line.status)
    if line.procedure and line.status in GIVEN:
        status = None
    # The status goes with the treatment's name: "pembrolizumab ongoing, 4 cycles, shrank".
    described = words["parts"].join([bits[0] + (status or ""), *bits[1:]])
    for typed, read_as in line.corrections:
        described += words["typo"].format(typed=typed, read_as=read_as)
    return described
