"""Trial source records: load, check, and compile criteria into engine rows.

A record (``knowledge/trials/NCT*.yaml``) is checked twice before the builder
writes anything: against ``trial.schema.yaml`` (shape) and against the
vocabulary (every code exists, every rule suits its field). Errors name the
file, the field path and what was wrong, because the person fixing them is a
reviewer with a YAML file open, not a programmer with a traceback.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from . import vocab

SCHEMA_PATH = Path(__file__).parent / "trial.schema.yaml"
STUDY_TEAM = "study_team"

# Rule keys by the type of field they apply to.
RULES_BY_TYPE = {
    "number": {"min", "max"},
    "category": {"in", "not_in"},
    "set": {"requires_any", "requires_all", "excludes_any", "excludes_combination"},
}
ALL_RULES = set().union(*RULES_BY_TYPE.values())


class RecordError(ValueError):
    """A source record is wrong: which file, which field, what was wrong."""

    def __init__(self, source: str, field: str, message: str):
        self.source, self.field, self.message = source, field, message
        super().__init__(f"{source}: {field}: {message}")


@functools.lru_cache(maxsize=None)
def schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_record(path: str | Path) -> dict:
    """Read and check one YAML record; raise RecordError if anything is wrong."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            record = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise RecordError(path.name, where, f"not valid YAML: {getattr(e, 'problem', e)}") from None
    except OSError as e:
        raise RecordError(path.name, "(file)", f"cannot be read: {e.strerror}") from None
    check_record(record, source=path.name)
    if record["nct_id"] != path.stem:
        raise RecordError(path.name, "nct_id", f"{record['nct_id']} does not match the file name {path.stem}")
    return record


def check_record(record: Any, source: str = "<record>") -> None:
    """Raise RecordError unless ``record`` fits the schema and the vocabulary."""
    if not isinstance(record, dict):
        raise RecordError(source, "(record)", "must be a mapping of fields, got " + type(record).__name__)
    errors = sorted(jsonschema.Draft7Validator(schema()).iter_errors(record), key=lambda e: list(e.path))
    if errors:
        error = errors[0]
        raise RecordError(source, _path(error.absolute_path), error.message)
    if record["cancer_type"] not in vocab.cancer_types():
        raise RecordError(source, "cancer_type", f"{record['cancer_type']!r} is not a known cancer type")
    seen_ids = set()
    for i, criterion in enumerate(record["criteria"]):
        where = f"criteria[{i}]"
        check_criterion(criterion, source, where)
        cid = criterion_id(criterion, i)
        if cid in seen_ids:
            raise RecordError(source, f"{where}.id", f"duplicate criterion id {cid!r}")
        seen_ids.add(cid)


def check_criterion(criterion: dict, source: str, where: str) -> None:
    """Raise RecordError unless one criterion fits the vocabulary and the rules its field allows.

    The per-criterion half of ``check_record`` (which also checks the schema and that ids are
    unique), public because the criteria parser (knowledge/parse.py) checks each criterion it
    proposes the same way. ``source`` and ``where`` only locate the error in its message
    (``"NCT01234567.yaml"``, ``"criteria[3]"``). A ``study_team`` criterion carries text
    only; any other names a profile field that records may hold (not a derived one), with
    one rule that applies to the field's type (a number may have min and max) or
    ``needs_review: true``, codes the vocabulary knows, and well-formed ``review_if`` and
    ``when``.
    """
    name = criterion["field"]
    rules = ALL_RULES & criterion.keys()
    if name == STUDY_TEAM:
        extra = rules | ({"when", "review_if"} & criterion.keys())
        if extra:
            raise RecordError(source, f"{where}.{sorted(extra)[0]}", "study_team criteria carry text only, no rule")
        return
    try:
        field = vocab.field(name)
    except KeyError as e:
        raise RecordError(source, f"{where}.field", str(e.args[0])) from None
    if field.derived:
        raise RecordError(source, f"{where}.field", f"{name} is derived by the builder, not written in records")
    allowed = RULES_BY_TYPE[field.type]
    if rules - allowed:
        bad = sorted(rules - allowed)[0]
        raise RecordError(
            source, f"{where}.{bad}", f"{bad!r} does not apply to {field.type} field {name}; use {sorted(allowed)}"
        )
    if not rules and not criterion.get("needs_review"):
        raise RecordError(source, where, f"no rule for {name}: give one of {sorted(allowed)} or needs_review: true")
    if field.type != "number" and len(rules) > 1:
        raise RecordError(source, where, f"one rule per criterion, got {sorted(rules)}")
    if field.type == "number":
        low, high = criterion.get("min"), criterion.get("max")
        if low is not None and high is not None and low > high:
            raise RecordError(source, f"{where}.min", f"min {low} is above max {high}")
    for key in rules - {"min", "max"}:
        groups = criterion[key] if key == "excludes_combination" else [criterion[key]]
        for group in groups:
            _check_codes(field, group, source, f"{where}.{key}")
    if "review_if" in criterion:
        _check_review_if(criterion, field, source, f"{where}.review_if")
    _check_conditions(criterion.get("when", {}), source, f"{where}.when")


def _check_review_if(criterion: dict, field: vocab.Field, source: str, where: str) -> None:
    """``review_if``: a list of codes, or {in | min/max, when} (why: a value may be
    ambiguous for some patients only, e.g. an ECOG 2 the patient gave in lay words)."""
    review = criterion["review_if"]
    if isinstance(review, list):
        if field.type == "number":
            raise RecordError(source, where, "a number field reviews a range: give {min: ..., max: ..., when: ...}")
        _check_codes(field, review, source, where)
        return
    if field.type == "number":
        if "in" in review or not {"min", "max"} & review.keys():
            raise RecordError(source, where, "a number field reviews a range: give min and/or max")
        low, high = criterion.get("min"), criterion.get("max")
        if ("min" in review and (low is None or review["min"] > low)) or (
            "max" in review and (high is None or review["max"] < high)
        ):
            raise RecordError(source, where, "the review range must widen the rule's own min/max")
    else:
        if "in" not in review or {"min", "max"} & review.keys():
            raise RecordError(source, where, f"{field.type} field {field.name} reviews codes: give `in: [...]`")
        _check_codes(field, review["in"], source, f"{where}.in")
    when = review.get("when", {})
    if len(when) > 1:
        raise RecordError(source, f"{where}.when", "a review condition names one field")
    _check_conditions(when, source, f"{where}.when")


def _check_conditions(when: dict, source: str, where: str) -> None:
    for cond_name, cond in when.items():
        try:
            cond_field = vocab.field(cond_name)
        except KeyError as e:
            raise RecordError(source, where, str(e.args[0])) from None
        if cond_field.type != "category":
            raise RecordError(source, f"{where}.{cond_name}", "conditions apply to category fields only")
        codes = cond["not_in"] if isinstance(cond, dict) else cond
        _check_codes(cond_field, codes, source, f"{where}.{cond_name}")


def _check_codes(field: vocab.Field, codes: Iterable, source: str, where: str) -> None:
    for code in codes:
        if str(code) not in field.values:
            raise RecordError(source, where, f"{code!r} is not a known {field.name} (known: {', '.join(field.values)})")


def _path(parts: Iterable) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(record)"


def criterion_id(criterion: dict, index: int) -> str:
    return criterion.get("id") or f"{criterion['field']}_{index + 1}"


# --- compiling rules for the engine -------------------------------------------------


@dataclass
class Rule:
    """A criterion as the engine evaluates it (one row of the ``criteria`` table).

    op is one of: range (lo/hi), in (mask: the allowed values), any / all / none
    (set has any / all / none of mask), not_both (set has something of mask AND
    of mask2), review (always "needs review"). Conditions: the rule applies only
    where cond field's value lies within cond mask.

    Review: a category/set value in review_mask, or a number outside lo/hi
    but inside review_lo/review_hi, reads "needs review"; with an rcond, only
    where rcond field's value lies within rcond mask (else the plain status).
    """

    field: str
    op: str | None
    lo: float | None = None
    hi: float | None = None
    mask: int = 0
    mask2: int = 0
    review_mask: int = 0
    review_lo: float | None = None
    review_hi: float | None = None
    rcond_field: str | None = None
    rcond_mask: int = 0
    cond1_field: str | None = None
    cond1_mask: int = 0
    cond2_field: str | None = None
    cond2_mask: int = 0
    prescreen: bool = True


def compile_rule(criterion: dict) -> Rule:
    """Translate a record's readable rule into masks and bounds."""
    name = criterion["field"]
    if name == STUDY_TEAM:
        return Rule(field=name, op=None, prescreen=False)
    field = vocab.field(name)
    rule = Rule(field=name, op="review")
    if field.type == "number" and ({"min", "max"} & criterion.keys()):
        rule.op, rule.lo, rule.hi = "range", criterion.get("min"), criterion.get("max")
    elif "in" in criterion:
        rule.op, rule.mask = "in", field.mask(map(str, criterion["in"]))
    elif "not_in" in criterion:
        rule.op, rule.mask = "in", field.full_mask & ~field.mask(map(str, criterion["not_in"]))
    elif "requires_any" in criterion:
        rule.op, rule.mask = "any", field.mask(criterion["requires_any"])
    elif "requires_all" in criterion:
        rule.op, rule.mask = "all", field.mask(criterion["requires_all"])
    elif "excludes_any" in criterion:
        rule.op, rule.mask = "none", field.mask(criterion["excludes_any"])
    elif "excludes_combination" in criterion:
        first, second = criterion["excludes_combination"]
        rule.op, rule.mask, rule.mask2 = "not_both", field.mask(first), field.mask(second)
    if criterion.get("needs_review"):
        rule.op = "review"
    review = criterion.get("review_if")
    if isinstance(review, list):
        rule.review_mask = field.mask(map(str, review))
    elif isinstance(review, dict):
        if field.type == "number":
            rule.review_lo, rule.review_hi = review.get("min"), review.get("max")
        else:
            rule.review_mask = field.mask(map(str, review["in"]))
        for cond_name, cond in review.get("when", {}).items():
            rule.rcond_field, rule.rcond_mask = cond_name, _condition_mask(cond_name, cond)
    for slot, (cond_name, cond) in zip((1, 2), criterion.get("when", {}).items()):
        setattr(rule, f"cond{slot}_field", cond_name)
        setattr(rule, f"cond{slot}_mask", _condition_mask(cond_name, cond))
    return rule


def _condition_mask(name: str, cond) -> int:
    """The values of category field ``name`` for which a condition holds."""
    cond_field = vocab.field(name)
    if isinstance(cond, dict):
        return cond_field.full_mask & ~cond_field.mask(map(str, cond["not_in"]))
    return cond_field.mask(map(str, cond))
