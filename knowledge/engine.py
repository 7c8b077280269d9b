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

import numpy as np

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
    """Which rules each trial of a scope has, as flat arrays: read once per build and scope.

    Why arrays: at registry scale a scope holds thousands of trials and their rules, and
    every form turn turns rule statuses into verdicts and asks which fields the trials still
    possible wait for. Over (trial, rule) pairs in numpy that is a few array operations;
    as Python loops over every criterion of every trial it grew to most of a turn's cost.
    ``entry_rule``/``entry_trial`` list every (trial, rule) pair in trial order (trials
    sorted by NCT id, rules in criterion order), each as its place in ``rule_ids``/``trials``.
    """

    trials: list[str]
    rule_ids: np.ndarray  # the scope's distinct rule ids, sorted
    entry_rule: np.ndarray
    entry_trial: np.ndarray
    rows: dict[str, tuple]  # nct_id -> its TRIAL_COLUMNS, as match() lists them
    masks: dict[frozenset, np.ndarray] = field(default_factory=dict)  # a set of trials -> which of these

    def places(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each rule id's place in ``rule_ids``, and whether the scope has that rule at all."""
        at = np.searchsorted(self.rule_ids, ids)
        known = at < len(self.rule_ids)
        known[known] = self.rule_ids[at[known]] == ids[known]
        return at, known

    def among(self, trials: Iterable[str]) -> np.ndarray:
        """Which trials of the index are in ``trials``, as a mask; kept for a frozenset (the
        decisive trials: the same set on every form turn, some 85,000 ids at 100k trials)."""
        if isinstance(trials, frozenset):
            found = self.masks.get(trials)
            if found is None:
                found = self.masks[trials] = self._mask(trials)
                while len(self.masks) > 4:
                    self.masks.pop(next(iter(self.masks)))
            return found
        return self._mask(set(trials))

    def _mask(self, trials: set[str] | frozenset[str]) -> np.ndarray:
        return np.fromiter((nct_id in trials for nct_id in self.trials), dtype=bool, count=len(self.trials))


TRIAL_COLUMNS = ("nct_id", "title", "url", "status", "phase", "cancer_type", "criteria_completeness", "review_status")

_INDEX_CACHE: "OrderedDict[tuple[str, str], _ScopeIndex]" = OrderedDict()
_INDEX_CACHE_SIZE = 16
_INDEX_LOCK = threading.Lock()


def _build_id(conn: sqlite3.Connection) -> str:
    return conn.execute("SELECT value FROM meta WHERE key = 'build_id'").fetchone()[0]


def _cached(cache: OrderedDict, key: Any, size: int, make: Any) -> Any:
    """``cache[key]``, made by ``make()`` when missing; the least recently used goes beyond ``size``."""
    with _INDEX_LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = make()
    with _INDEX_LOCK:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)
    return value


def _scope_index(conn: sqlite3.Connection, scope: str) -> _ScopeIndex:
    return _cached(_INDEX_CACHE, (_build_id(conn), scope), _INDEX_CACHE_SIZE, lambda: _read_scope(conn, scope))


def _read_scope(conn: sqlite3.Connection, scope: str) -> _ScopeIndex:
    pairs = conn.execute(
        "SELECT nct_id, rule_id FROM criteria WHERE cancer_type = ? AND prescreen = 1 ORDER BY nct_id, ord", (scope,)
    ).fetchall()
    trials = list(dict.fromkeys(nct_id for nct_id, _ in pairs))
    place = {nct_id: i for i, nct_id in enumerate(trials)}
    pair_rules = np.array([rule_id for _, rule_id in pairs], dtype=np.int64)
    rule_ids = np.unique(pair_rules)
    entry_trial = np.array([place[nct_id] for nct_id, _ in pairs], dtype=np.int64)
    rows = {
        row[0]: tuple(row)
        for row in conn.execute(
            f"SELECT {', '.join(TRIAL_COLUMNS)} FROM trials WHERE nct_id IN (SELECT value FROM json_each(?))",
            (json.dumps(trials),),
        )
    }
    return _ScopeIndex(trials, rule_ids, np.searchsorted(rule_ids, pair_rules), entry_trial, rows)


@dataclass
class _Evaluation:
    """One profile evaluated against one scope; shared between calls, so never changed."""

    index: _ScopeIndex
    statuses: dict[int, str]  # rule_id -> met | not_met | unknown | needs_review | n/a
    waits: dict[int, tuple[str, ...]]  # rule_id -> fields an unknown rule is waiting for
    tally: np.ndarray  # per trial of the index: (not met, unknown, needs review)

    @functools.cached_property
    def counts(self) -> dict[str, tuple[int, int, int]]:
        """nct_id -> (not met, unknown, needs review)."""
        return dict(zip(self.index.trials, map(tuple, self.tally.tolist())))


_CODE = {"met": 0, "n/a": 0, "not_met": 1, "unknown": 2, "needs_review": 3}
# The last few evaluations, by build and profile: a form turn asks for the verdicts and then
# for the next question of the same profile, and each used to evaluate every rule again.
_EVALUATIONS: "OrderedDict[tuple, _Evaluation]" = OrderedDict()
_EVALUATIONS_SIZE = 8


def _evaluate(conn: sqlite3.Connection, params: dict) -> _Evaluation:
    key = (_build_id(conn), tuple(sorted(params.items())))
    return _cached(_EVALUATIONS, key, _EVALUATIONS_SIZE, lambda: _evaluate_now(conn, params))


def _evaluate_now(conn: sqlite3.Connection, params: dict) -> _Evaluation:
    index = _scope_index(conn, params["scope"])
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: thousands of rules a turn at registry scale
    rows = cursor.execute(_rules_query(), params).fetchall()
    statuses: dict[int, str] = {row[0]: row[1] for row in rows}
    waits: dict[int, tuple[str, ...]] = {}
    for rule_id, status, field_name, *conditions in rows:
        if status == "unknown":
            # conditions: cond1/cond2/rcond fields, the field's exactness, cond1/cond2/rcond states
            fields, exact, states = conditions[:3], conditions[3], conditions[4:]
            waiting: tuple[str, ...] = () if exact else (field_name,)
            waits[rule_id] = waiting + tuple(f for f, state in zip(fields, states) if f and state is None)
    codes = np.full(len(index.rule_ids), -1, dtype=np.int64)
    at, known = index.places(np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)))
    codes[at[known]] = np.fromiter((_CODE[row[1]] for row in rows), dtype=np.int64, count=len(rows))[known]
    if (codes < 0).any():  # a criterion whose rule is missing from the rules table: a broken build
        raise KeyError(int(index.rule_ids[np.flatnonzero(codes < 0)[0]]))
    size = len(index.trials)
    tally = np.bincount(index.entry_trial * 4 + codes[index.entry_rule], minlength=4 * size).reshape(size, 4)[:, 1:]
    return _Evaluation(index, statuses, waits, tally)


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


_VERDICTS = tuple(VERDICT_ORDER)  # code -> name


def verdicts(profile: Mapping[str, Any], db=None, scope: str | None = None) -> dict[str, str]:
    """Verdict per trial in scope, without explanations (cheap)."""
    evaluation = _evaluate_profile(profile, db, scope)
    codes = _verdict_codes(evaluation.tally).tolist()
    return dict(zip(evaluation.index.trials, map(_VERDICTS.__getitem__, codes)))


def still_possible(
    profile: Mapping[str, Any], db=None, scope: str | None = None, among: Iterable[str] | None = None
) -> list[str]:
    """The trials in scope (``among`` some, e.g. ``decisive()``) where nothing failed: the
    form's "is any trial still open?" without a verdict for every trial (thousands at 100k)."""
    evaluation = _evaluate_profile(profile, db, scope)
    index = evaluation.index
    mask = evaluation.tally[:, 0] == 0
    if among is not None:
        mask = mask & index.among(among)
    return [index.trials[i] for i in np.flatnonzero(mask).tolist()]


def verdict_counts(profile: Mapping[str, Any], db=None, scope: str | None = None) -> dict[str, int]:
    """How many trials in scope have each verdict (every verdict named, 0 included)."""
    codes = np.bincount(_verdict_codes(_evaluate_profile(profile, db, scope).tally), minlength=3)
    return {name: int(n) for name, n in zip(_VERDICTS, codes.tolist())}


def _evaluate_profile(profile: Mapping[str, Any], db, scope: str | None) -> _Evaluation:
    encoded = encode_profile(profile)
    return _evaluate(_connection(db), {**_params(encoded), "scope": _scope(encoded, scope)})


def _verdict_codes(tally: np.ndarray) -> np.ndarray:
    """Per trial: 0 eligible, 1 uncertain, 2 ineligible (as VERDICT_ORDER), from its counts.

    The one verdict rule: any failed criterion makes a trial ineligible; else any unknown or
    needs-review criterion makes it uncertain; only a trial with neither is "eligible"."""
    return np.where(tally[:, 0] > 0, 2, np.where(tally[:, 1] + tally[:, 2] > 0, 1, 0))


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
    if only is not None:
        ranked = [(only, evaluation.counts[only])] if only in evaluation.counts else []
    else:
        ranked = _ranked(evaluation)
    if limit is not None:
        ranked = ranked[:limit]
    if not ranked:
        return []
    trials = evaluation.index.rows
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
    verdict_of = _verdict_codes(np.asarray([counts for _, counts in ranked]).reshape(-1, 3)).tolist()
    for (nct_id, (n_not_met, n_unknown, n_review)), code in zip(ranked, verdict_of):
        _, title, url, status, phase, cancer_type, completeness, review = trials[nct_id]
        results.append(
            TrialMatch(
                nct_id=nct_id,
                title=title,
                url=url,
                status=status,
                phase=phase,
                cancer_type=cancer_type,
                partial=completeness == "partial",
                reviewed=review == "reviewed",
                verdict=_VERDICTS[code],
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
    # Once per build: at 100k trials this is some 85,000 ids, and every form turn asks.
    return _cached(_DECISIVE, _build_id(conn), _INDEX_CACHE_SIZE, lambda: _read_decisive(conn))


_DECISIVE: "OrderedDict[str, frozenset[str]]" = OrderedDict()


def _read_decisive(conn: sqlite3.Connection) -> frozenset[str]:
    query = "SELECT nct_id FROM trials WHERE criteria_completeness = 'full' AND review_status = 'reviewed'"
    return frozenset(row[0] for row in conn.execute(query))


def _ranked(evaluation: _Evaluation) -> list[tuple[str, tuple[int, int, int]]]:
    """Every trial with its counts, best first: verdict, then failed criteria, then open ones,
    then NCT id (the index's own order). Sorted in numpy: thousands of trials at registry scale."""
    tally = evaluation.tally
    not_met, open_ = tally[:, 0], tally[:, 1] + tally[:, 2]
    order = np.lexsort((np.arange(len(tally)), open_, not_met, _verdict_codes(tally)))
    trials, rows = evaluation.index.trials, tally.tolist()
    return [(trials[i], tuple(rows[i])) for i in order.tolist()]


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
    index = evaluation.index
    possible = evaluation.tally[:, 0] == 0
    if among is not None:
        possible = possible & index.among(among)
    if not possible.any():
        return None
    allowed = set(askable) if askable is not None else {n for n, f in vocab.fields().items() if f.ask}
    allowed -= set(asked)
    waiting = _trials_waiting(evaluation, possible)
    candidates = [(name, holds) for name, holds in waiting.items() if name in allowed]
    if not candidates:
        return None
    name, holds = min(candidates, key=lambda c: (-int(c[1].sum()), vocab.field(c[0]).priority))
    return Question(field=name, label=vocab.field(name).label, trials=[index.trials[i] for i in np.flatnonzero(holds)])


def _trials_waiting(evaluation: _Evaluation, possible: np.ndarray) -> dict[str, np.ndarray]:
    """Field -> which trials of the index wait for it (a mask), among the ``possible`` ones.

    A trial waits for a field when one of its rules is unknown because of it. Fields come in
    the order they are first waited for (trial, then criterion, then the rule's own order):
    the order a tie between equally useful questions has always been broken in.
    """
    index = evaluation.index
    names: list[str] = []
    for waiting in evaluation.waits.values():
        names.extend(name for name in waiting if name not in names)
    if not names:
        return {}
    bit = {name: 1 << i for i, name in enumerate(names)}
    rule_bits = np.zeros(len(index.rule_ids), dtype=np.int64)
    at, known = index.places(np.fromiter(evaluation.waits, dtype=np.int64, count=len(evaluation.waits)))
    waiting_bits = [sum(bit[name] for name in set(waiting)) for waiting in evaluation.waits.values()]
    rule_bits[at[known]] = np.array(waiting_bits, dtype=np.int64)[known]
    entry_bits = rule_bits[index.entry_rule]
    # The pairs that wait for something, of trials still possible, in trial and criterion order.
    live = np.flatnonzero((entry_bits != 0) & possible[index.entry_trial])
    bits, trials = entry_bits[live], index.entry_trial[live]
    masks, firsts = {}, {}
    for name in names:
        hits = np.flatnonzero((bits & bit[name]) != 0)
        if not len(hits):
            continue
        first = int(live[hits[0]])
        rule_id = int(index.rule_ids[index.entry_rule[first]])
        firsts[name] = (first, evaluation.waits[rule_id].index(name))
        masks[name] = np.zeros(len(index.trials), dtype=bool)
        masks[name][trials[hits]] = True
    return {name: masks[name] for name in sorted(firsts, key=firsts.__getitem__)}


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
