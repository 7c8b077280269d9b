"""The eligibility engine: criterion by criterion, may this patient fit?

Input is a patient profile in which any field may be unknown. For every trial
in scope the engine says, per pre-screening criterion, met / not met / unknown /
needs review, in the trial's own words, and gives a verdict:

- eligible:   every pre-screening criterion met (the study team still confirms);
- uncertain:  nothing failed, but something is unknown or needs review;
- ineligible: at least one criterion is not met.

The evaluation runs inside SQLite, one pass over the criteria of the trials in
scope, so it stays fast at 100k trials. Values are bit masks (see vocab.py): a
patient's category value is the set of values it may be, so "unknown" is every
value and "stage 4" is IVA|IVB|IVC; a criterion is met when every possible
value is allowed, not met when none is, and unknown otherwise. That one rule
carries uncertainty through without ever guessing.

Nothing here imports Rasa: the engine is tested and benchmarked alone.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import vocab
from .db import reader

UNKNOWN = "unknown"
VERDICT_ORDER = {"eligible": 0, "uncertain": 1, "ineligible": 2}
DEFAULT_SCOPE = "head_and_neck"


# --- the patient profile -------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """One profile field as SQL parameters: a numeric range and/or a bit mask."""

    lo: float | None = None
    hi: float | None = None
    bits: int | None = None
    exact: bool = False  # known to a single value (so asking again cannot help)


def _is_unknown(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in (UNKNOWN, ""))


def encode_field(name: str, value: Any) -> Encoded:
    """Encode one profile value; raise ValueError for a value the vocabulary does not know."""
    f = vocab.field(name)
    if f.type == "number":
        if _is_unknown(value):
            return Encoded()
        if isinstance(value, (list, tuple)):
            lo, hi = float(value[0]), float(value[1])
        else:
            lo = hi = float(value)
        if lo > hi:
            raise ValueError(f"{name}: range {lo}-{hi} is reversed")
        return Encoded(lo=lo, hi=hi, exact=lo == hi)
    if f.type == "category":
        if _is_unknown(value):
            return Encoded(bits=f.full_mask)
        codes = [value] if isinstance(value, (str, int)) else list(value)
        bits = f.mask(str(c) for c in codes)
        return Encoded(bits=bits, exact=bits & (bits - 1) == 0)
    # set: None = not known; [] or "none" = known to be empty
    if _is_unknown(value):
        return Encoded()
    if isinstance(value, str):
        value = [] if value.lower() == "none" else [value]
    return Encoded(bits=f.mask(value), exact=True)


def encode_profile(profile: Mapping[str, Any]) -> dict[str, Encoded]:
    """Every field of the vocabulary, encoded; fields missing from ``profile`` are unknown.

    ``cancer_type`` is derived from ``tumor_site`` when not given: a site belongs
    to exactly one kind of cancer.
    """
    unknown_fields = set(profile) - set(vocab.fields())
    if unknown_fields:
        raise ValueError(f"not profile fields: {', '.join(sorted(unknown_fields))}")
    values = dict(profile)
    if _is_unknown(values.get("cancer_type")):
        values["cancer_type"] = derive_cancer_type(values.get("tumor_site"))
    return {name: encode_field(name, values.get(name)) for name in vocab.fields()}


def derive_cancer_type(site: Any) -> str | None:
    if _is_unknown(site):
        return None
    sites = [site] if isinstance(site, str) else list(site)
    kinds = {vocab.cancer_type_of(s) for s in sites}
    return kinds.pop() if len(kinds) == 1 else None


def _params(encoded: Mapping[str, Encoded]) -> dict[str, Any]:
    params = {}
    for name, e in encoded.items():
        params[f"{name}_lo"], params[f"{name}_hi"], params[f"{name}_bits"] = e.lo, e.hi, e.bits
        params[f"{name}_exact"] = int(e.exact)
    return params


# --- the SQL evaluator -------------------------------------------------------------------


def _by_field(column: str, suffix: str) -> str:
    """SQL picking the profile parameter of the field named in ``column``."""
    whens = " ".join(f"WHEN '{name}' THEN :{name}_{suffix}" for name in vocab.fields())
    return f"(CASE {column} {whens} END)"


def _op_status(bits: str) -> str:
    """Status of a set/category rule for the patient bits expression ``bits``."""
    return f"""(CASE c.op
        WHEN 'in'  THEN (CASE WHEN ({bits} & ~c.mask) = 0 THEN 'met' WHEN ({bits} & c.mask) = 0 THEN 'not_met' ELSE 'unknown' END)
        WHEN 'any' THEN (CASE WHEN {bits} IS NULL THEN 'unknown' WHEN ({bits} & c.mask) != 0 THEN 'met' ELSE 'not_met' END)
        WHEN 'all' THEN (CASE WHEN {bits} IS NULL THEN 'unknown' WHEN ({bits} & c.mask) = c.mask THEN 'met' ELSE 'not_met' END)
        WHEN 'none' THEN (CASE WHEN {bits} IS NULL THEN 'unknown' WHEN ({bits} & c.mask) = 0 THEN 'met' ELSE 'not_met' END)
        WHEN 'not_both' THEN (CASE WHEN {bits} IS NULL THEN 'unknown'
                                   WHEN ({bits} & c.mask) != 0 AND ({bits} & c.mask2) != 0 THEN 'not_met' ELSE 'met' END)
        END)"""


def _cond_state(n: int | str) -> str:
    """1 = the condition holds, 0 = it does not, NULL = not known yet.

    ``n`` is 1 or 2 (the rule's conditions) or "r" (the condition under which
    its review applies, ``rcond``). No condition always holds.
    """
    prefix = "c.rcond" if n == "r" else f"c.cond{n}"
    value = _by_field(f"{prefix}_field", "bits")
    return f"""(CASE WHEN {prefix}_field IS NULL THEN 1
        WHEN ({value} & ~{prefix}_mask) = 0 THEN 1
        WHEN ({value} & {prefix}_mask) = 0 THEN 0 ELSE NULL END)"""


def _range_status(low: str, high: str) -> str:
    """Status of the patient's number (or range) against the bounds ``low``/``high`` (SQL, NULL = none)."""
    lo, hi = _by_field("c.field", "lo"), _by_field("c.field", "hi")
    return f"""(CASE
        WHEN {lo} IS NULL THEN (CASE WHEN {low} IS NULL AND {high} IS NULL THEN 'met' ELSE 'unknown' END)
        WHEN ({low} IS NULL OR {lo} >= {low}) AND ({high} IS NULL OR {hi} <= {high}) THEN 'met'
        WHEN ({low} IS NOT NULL AND {hi} < {low}) OR ({high} IS NOT NULL AND {lo} > {high}) THEN 'not_met'
        ELSE 'unknown' END)"""


def _rule_status() -> str:
    """Status of a rule before its ``when`` conditions, review included.

    Review: a category value inside review_mask, a set whose outcome hinges
    on review_mask values, or a number outside the rule's bounds but inside
    its review bounds means the trial's words do not settle it for this
    patient: "needs review". A review condition (rcond) limits that to some
    patients (an ECOG 2 the patient gave in lay words); where it does not
    hold the plain status stands, and where it is not known yet the status
    is unknown unless both readings agree.
    """
    bits = _by_field("c.field", "bits")
    review_cond = _cond_state("r")
    strict = _range_status("c.lo", "c.hi")
    lenient = _range_status("COALESCE(c.review_lo, c.lo)", "COALESCE(c.review_hi, c.hi)")
    range_final = f"""(CASE
        WHEN c.review_lo IS NULL AND c.review_hi IS NULL THEN {strict}
        WHEN {strict} = 'met' THEN 'met'
        WHEN {lenient} = 'not_met' THEN 'not_met'
        WHEN {review_cond} = 0 THEN {strict}
        WHEN {review_cond} = 1 AND {lenient} = 'met' THEN 'needs_review'
        ELSE 'unknown' END)"""
    plain = _op_status(bits)
    review_hit = f"""(c.review_mask != 0 AND (
        (c.op = 'in' AND ({bits} & c.review_mask) != 0 AND {plain} != 'unknown')
        OR (c.op != 'in' AND {plain} != {_op_status(f"({bits} & ~c.review_mask)")})))"""
    return f"""(CASE
        WHEN c.op = 'review' THEN 'needs_review'
        WHEN c.op = 'range' THEN {range_final}
        WHEN NOT {review_hit} THEN {plain}
        WHEN {review_cond} = 1 THEN 'needs_review'
        WHEN {review_cond} = 0 THEN {plain}
        ELSE 'unknown' END)"""


def _status_sql() -> str:
    """Final status of a rule ``c`` (a row of ``rules``): rule status under its conditions.

    A condition that does not hold makes the rule not apply ('n/a'). While a
    condition is unknown, a rule that is met anyway stays met; anything else is
    unknown (it may or may not apply).
    """
    return f"""(CASE
        WHEN {_cond_state(1)} = 0 OR {_cond_state(2)} = 0 THEN 'n/a'
        WHEN {_cond_state(1)} = 1 AND {_cond_state(2)} = 1 THEN {_rule_status()}
        WHEN {_rule_status()} = 'met' THEN 'met'
        ELSE 'unknown' END)"""


@functools.lru_cache(maxsize=1)
def _rules_query() -> str:
    """Every distinct rule of a scope, evaluated once for the profile (built once
    from the vocabulary's field list)."""
    return f"""
        SELECT c.rule_id, {_status_sql()} AS status, c.field, c.cond1_field, c.cond2_field, c.rcond_field,
               {_by_field("c.field", "exact")} AS field_exact,
               {_cond_state(1)} AS cond1_state, {_cond_state(2)} AS cond2_state, {_cond_state("r")} AS rcond_state
        FROM rules c WHERE c.cancer_type = :scope"""


@dataclass
class _ScopeIndex:
    """Which rules each trial of a scope has: read once per build and scope.

    Turning rule statuses into verdicts is then a pass over small tuples in
    memory instead of a scan of the criteria table on every question.
    """

    trials: list[str]
    rules: list[tuple[int, ...]]


_INDEX_CACHE: "OrderedDict[tuple[str, str], _ScopeIndex]" = OrderedDict()
_INDEX_CACHE_SIZE = 16
_INDEX_LOCK = threading.Lock()


def _scope_index(conn: sqlite3.Connection, scope: str) -> _ScopeIndex:
    build_id = conn.execute("SELECT value FROM meta WHERE key = 'build_id'").fetchone()[0]
    key = (build_id, scope)
    with _INDEX_LOCK:
        if key in _INDEX_CACHE:
            _INDEX_CACHE.move_to_end(key)
            return _INDEX_CACHE[key]
    trials: list[str] = []
    rules: list[tuple[int, ...]] = []
    current: str | None = None
    current_rules: list[int] = []
    for nct_id, rule_id in conn.execute(
        "SELECT nct_id, rule_id FROM criteria WHERE cancer_type = ? AND prescreen = 1 ORDER BY nct_id", (scope,)
    ):
        if nct_id != current:
            if current is not None:
                trials.append(current)
                rules.append(tuple(current_rules))
            current, current_rules = nct_id, []
        current_rules.append(rule_id)
    if current is not None:
        trials.append(current)
        rules.append(tuple(current_rules))
    index = _ScopeIndex(trials, rules)
    with _INDEX_LOCK:
        _INDEX_CACHE[key] = index
        while len(_INDEX_CACHE) > _INDEX_CACHE_SIZE:
            _INDEX_CACHE.popitem(last=False)
    return index


@dataclass
class _Evaluation:
    """One profile evaluated against one scope."""

    statuses: dict[int, str]  # rule_id -> met | not_met | unknown | needs_review | n/a
    waits: dict[int, tuple[str, ...]]  # rule_id -> fields an unknown rule is waiting for
    counts: dict[str, tuple[int, int, int]]  # nct_id -> (not met, unknown, needs review)


_CODE = {"met": 0, "n/a": 0, "not_met": 1, "unknown": 2, "needs_review": 3}


def _evaluate(conn: sqlite3.Connection, params: dict) -> _Evaluation:
    statuses: dict[int, str] = {}
    waits: dict[int, tuple[str, ...]] = {}
    codes: dict[int, int] = {}
    for r in conn.execute(_rules_query(), params):
        statuses[r["rule_id"]] = r["status"]
        codes[r["rule_id"]] = _CODE[r["status"]]
        if r["status"] == "unknown":
            waiting: tuple[str, ...] = () if r["field_exact"] else (r["field"],)
            for n in ("cond1", "cond2", "rcond"):
                if r[f"{n}_field"] and r[f"{n}_state"] is None:
                    waiting += (r[f"{n}_field"],)
            waits[r["rule_id"]] = waiting
    index = _scope_index(conn, params["scope"])
    counts: dict[str, tuple[int, int, int]] = {}
    for nct_id, rule_ids in zip(index.trials, index.rules):
        tally = [0, 0, 0, 0]
        for rule_id in rule_ids:
            tally[codes[rule_id]] += 1
        counts[nct_id] = (tally[1], tally[2], tally[3])
    return _Evaluation(statuses, waits, counts)


# --- results --------------------------------------------------------------------------------


@dataclass
class CriterionResult:
    id: str
    field: str
    kind: str | None
    status: str  # met | not_met | unknown | needs_review | study_team
    text: str  # the trial's own words
    note: str | None = None
    # ``dataclasses.field``: the ``field`` attribute above shadows the bare name for type checkers.
    rule: dict = dataclasses.field(default_factory=dict)


@dataclass
class TrialMatch:
    nct_id: str
    title: str
    verdict: str
    url: str
    status: str
    phase: str
    cancer_type: str
    partial: bool
    reviewed: bool
    criteria: list[CriterionResult] = field(default_factory=list)
    locations: list[dict] = field(default_factory=list)
    n_not_met: int = 0
    n_unknown: int = 0
    n_review: int = 0
    # False for a trial ranked beyond ``match(explain=N)``: its verdict and counts are
    # exact, its criteria and sites are left out (they come on request: "why not NCT…").
    explained: bool = True

    def texts(self, *statuses: str) -> list[str]:
        """The trial's words of the criteria with these statuses, each sentence once (two
        rules read from one sentence, e.g. a title, give one reason, not the same one twice)."""
        return list(dict.fromkeys(c.text for c in self.criteria if c.status in statuses))

    @property
    def met(self) -> list[str]:
        return self.texts("met")

    @property
    def not_met(self) -> list[str]:
        return self.texts("not_met")

    @property
    def unknown(self) -> list[str]:
        return self.texts("unknown", "needs_review")

    @property
    def study_team(self) -> list[str]:
        return self.texts("study_team")

    def to_dict(self) -> dict:
        """The machine-readable form the dialogue sends (``trial_matches``)."""
        return {
            "nct_id": self.nct_id,
            "title": self.title,
            "verdict": self.verdict,
            "met": self.met,
            "not_met": self.not_met,
            "unknown": self.unknown,
            "study_team_checks": self.study_team,
            "criteria": [asdict(c) for c in self.criteria],
            "partial_criteria": self.partial,
            "sites": self.locations,
            "url": self.url,
            "explained": self.explained,
            "counts": {"not_met": self.n_not_met, "unknown": self.n_unknown, "needs_review": self.n_review},
        }


@dataclass
class Question:
    """The profile field whose answer can change the most verdicts."""

    field: str
    label: str
    trials: list[str]  # trials whose verdict depends on it

    @property
    def score(self) -> int:
        return len(self.trials)


def _connection(db: sqlite3.Connection | str | Path | None) -> sqlite3.Connection:
    return db if isinstance(db, sqlite3.Connection) else reader(db)


def _scope(encoded: Mapping[str, Encoded], scope: str | None) -> str:
    if scope:
        return scope
    kinds = vocab.field("cancer_type").codes(encoded["cancer_type"].bits or 0)
    return kinds[0] if len(kinds) == 1 else DEFAULT_SCOPE


def _verdict(n_not_met: int, n_unknown: int, n_review: int) -> str:
    if n_not_met:
        return "ineligible"
    return "uncertain" if n_unknown or n_review else "eligible"


def verdicts(profile: Mapping[str, Any], db=None, scope: str | None = None) -> dict[str, str]:
    """Verdict per trial in scope, without explanations (cheap)."""
    encoded = encode_profile(profile)
    params = {**_params(encoded), "scope": _scope(encoded, scope)}
    evaluation = _evaluate(_connection(db), params)
    return {nct_id: _verdict(*counts) for nct_id, counts in evaluation.counts.items()}


def match(
    profile: Mapping[str, Any],
    db=None,
    scope: str | None = None,
    limit: int | None = None,
    explain: int | None = None,
    only: str | None = None,
) -> list[TrialMatch]:
    """Every trial in scope with its verdict and reasons, best first.

    Ranking: eligible, then uncertain with the fewest open questions, then
    ineligible with the fewest failed criteria. ``limit`` bounds how many trials
    are returned (the ranking still covers all of them). ``explain`` keeps every
    trial but reads criteria and sites for the first ``explain`` only: why, with
    thousands of trials in scope, explaining them all costs seconds and a result
    message no chat can show, while each verdict is already counted exactly.
    ``only`` explains one trial (an NCT id), for "why not NCT…" after such a result.
    """
    conn = _connection(db)
    encoded = encode_profile(profile)
    params = {**_params(encoded), "scope": _scope(encoded, scope)}
    evaluation = _evaluate(conn, params)
    ranked = sorted(
        evaluation.counts.items(),
        key=lambda item: (VERDICT_ORDER[_verdict(*item[1])], item[1][0], item[1][1] + item[1][2], item[0]),
    )
    if only is not None:
        ranked = [item for item in ranked if item[0] == only]
    if limit is not None:
        ranked = ranked[:limit]
    if not ranked:
        return []
    trials = {
        t["nct_id"]: t
        for t in conn.execute(
            "SELECT nct_id, title, url, status, phase, cancer_type, criteria_completeness, review_status "
            "FROM trials WHERE nct_id IN (SELECT value FROM json_each(?))",
            (json.dumps([nct_id for nct_id, _ in ranked]),),
        )
    }
    explained = {nct_id for nct_id, _ in (ranked if explain is None else ranked[:explain])}
    ids = json.dumps(sorted(explained))
    locations: dict[str, list[dict]] = {}
    for loc in conn.execute(
        "SELECT nct_id, facility, city, province, country, status, lat, lon FROM locations "
        "WHERE nct_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (ids,),
    ):
        locations.setdefault(loc["nct_id"], []).append({k: loc[k] for k in loc.keys() if k != "nct_id"})
    criteria: dict[str, list[CriterionResult]] = {}
    for c in conn.execute(
        "SELECT nct_id, criterion_id, field, kind, text, note, rule, origin, prescreen, rule_id FROM criteria "
        "WHERE nct_id IN (SELECT value FROM json_each(?)) ORDER BY nct_id, ord",
        (ids,),
    ):
        status = evaluation.statuses[c["rule_id"]] if c["prescreen"] else "study_team"
        if status == "n/a" or c["origin"] == "derived" and status == "met":
            continue
        criteria.setdefault(c["nct_id"], []).append(
            CriterionResult(
                id=c["criterion_id"],
                field=c["field"],
                kind=c["kind"],
                status=status,
                text=c["text"],
                note=c["note"],
                rule=json.loads(c["rule"]),
            )
        )
    results = []
    for nct_id, (n_not_met, n_unknown, n_review) in ranked:
        t = trials[nct_id]
        results.append(
            TrialMatch(
                nct_id=nct_id,
                title=t["title"],
                url=t["url"],
                status=t["status"],
                phase=t["phase"],
                cancer_type=t["cancer_type"],
                partial=t["criteria_completeness"] == "partial",
                reviewed=t["review_status"] == "reviewed",
                verdict=_verdict(n_not_met, n_unknown, n_review),
                criteria=criteria.get(nct_id, []),
                locations=locations.get(nct_id, []),
                n_not_met=n_not_met,
                n_unknown=n_unknown,
                n_review=n_review,
                explained=nct_id in explained,
            )
        )
    return results


def decisive(db=None) -> frozenset[str]:
    """Trials whose verdict a screening can settle: full criteria, reviewed.

    A partial or unreviewed record can never be "eligible" (a derived
    needs-review criterion sees to that), so its open points go to the study
    team; the conversation asks its questions, and stops asking, for these.
    """
    conn = _connection(db)
    return frozenset(
        row[0]
        for row in conn.execute(
            "SELECT nct_id FROM trials WHERE criteria_completeness = 'full' AND review_status = 'reviewed'"
        )
    )


def next_question(
    profile: Mapping[str, Any],
    db=None,
    scope: str | None = None,
    askable: Iterable[str] | None = None,
    asked: Iterable[str] = (),
    among: Iterable[str] | None = None,
) -> Question | None:
    """The unanswered field whose answer would change the most verdicts.

    Only trials still possible (nothing failed) count: a field matters for a
    trial when one of its criteria is unknown because of that field, directly
    or through a condition ("stage III if p16-positive" waits on p16). Fields
    in ``asked`` (answered "don't know") are not asked again; ``askable`` limits
    the choice to questions the caller can put (by default every field the
    vocabulary lets us ask: not derived, not ``ask: false`` such as
    ``ecog_source``), ``among`` the trials that count
    (e.g. ``decisive()``). None when no trial is still
    possible, or nothing left to ask can change a verdict.
    """
    conn = _connection(db)
    encoded = encode_profile(profile)
    params = {**_params(encoded), "scope": _scope(encoded, scope)}
    evaluation = _evaluate(conn, params)
    possible = {nct_id for nct_id, counts in evaluation.counts.items() if not counts[0]}
    if among is not None:
        possible &= set(among)
    if not possible:
        return None
    allowed = set(askable) if askable is not None else {n for n, f in vocab.fields().items() if f.ask}
    allowed -= set(asked)
    index = _scope_index(conn, params["scope"])
    waiting: dict[str, set[str]] = {}
    for nct_id, rule_ids in zip(index.trials, index.rules):
        if nct_id not in possible:
            continue
        for rule_id in rule_ids:
            for name in evaluation.waits.get(rule_id, ()):
                waiting.setdefault(name, set()).add(nct_id)
    candidates = [(name, ids) for name, ids in waiting.items() if name in allowed]
    if not candidates:
        return None
    name, ids = min(candidates, key=lambda c: (-len(c[1]), vocab.field(c[0]).priority))
    return Question(field=name, label=vocab.field(name).label, trials=sorted(ids))


def question_timing(field_name: str, db=None, among: Iterable[str] | None = None) -> frozenset[str]:
    """When the trials want ``field_name`` measured, from their criteria's ``timing`` flags.

    ``{"before_treatment"}`` when a criterion on the field says the value
    before any treatment ("stage ... prior to immunotherapy"): why, a patient
    after induction therapy may otherwise give a lower, post-treatment stage.
    The dialogue words its question from this; ``among`` limits the trials
    (e.g. ``decisive()``). Empty when no criterion says.
    """
    conn = _connection(db)
    ids = None if among is None else json.dumps(sorted(among))
    rows = conn.execute(
        "SELECT DISTINCT json_extract(rule, '$.timing') FROM criteria WHERE field = ? "
        "AND json_extract(rule, '$.timing') IS NOT NULL "
        "AND (? IS NULL OR nct_id IN (SELECT value FROM json_each(?)))",
        (field_name, ids, ids),
    )
    return frozenset(row[0] for row in rows)


def show(nct_id: str, db=None) -> dict | None:
    """One trial's record as stored: registry facts, criteria with their rules, locations."""
    conn = _connection(db)
    trial = conn.execute("SELECT * FROM trials WHERE nct_id = ?", (nct_id,)).fetchone()
    if trial is None:
        return None
    result = dict(trial)
    for key in ("conditions", "review_sources", "contacts"):
        result[key] = json.loads(result[key]) if result[key] else None
    result["criteria"] = [
        {k: c[k] for k in ("criterion_id", "field", "kind", "origin", "text", "note", "topic")}
        | {"rule": json.loads(c["rule"])}
        for c in conn.execute("SELECT * FROM criteria WHERE nct_id = ? ORDER BY ord", (nct_id,))
    ]
    result["locations"] = [
        dict(r)
        for r in conn.execute(
            "SELECT facility, city, province, country, status, lat, lon FROM locations WHERE nct_id = ? ORDER BY id",
            (nct_id,),
        )
    ]
    return result
