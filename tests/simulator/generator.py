"""Seeded generation of screenings: a persona and its perturbations, reproducible.

Screening ``i`` of seed ``s`` is drawn from its own ``random.Random(f"{s}:{i}")``, so it
is the same whatever ``n`` is, whichever worker plays it and in whatever order. The play
itself draws from ``random.Random(f"{s}:{i}:play")`` (see user.py): given the same bot,
the same screening says the same words.
"""

from __future__ import annotations

import random
from typing import Any

from .bank import Bank
from .profiles import CITIES, CORE, UNKNOWN, Plan, make_persona, tnm_stage

# Fields a person may not know (their truth becomes "unknown"); the weights are how often.
MAY_NOT_KNOW = {
    "stage": 4,
    "ecog": 3,
    "p16": 2,
    "differentiation": 3,
    "histology": 1,
    "immunotherapy_response": 2,
    "immunotherapy_cycles": 2,
    "resectable": 2,
    "recurrent": 1,
    "prior_treatment": 1,
}
INTERJECT_AT = ("age", "tumor_site", "stage", "ecog", "prior_treatment")
LATE_RATE = 0.15  # screenings with one more message after the result


def _wrong_value(rng: random.Random, field: str, truth: Any) -> Any:
    """A plausible value the person says first and corrects on the next turn."""
    if field == "age":
        while True:
            wrong = truth + rng.choice((-1, 1)) * rng.randint(2, 12)
            if 19 <= wrong <= 92 and wrong != truth:
                return wrong
    if field == "stage":
        return rng.choice([[s] for s in ("II", "III", "IVA", "IVB") if [s] != truth])
    if field == "ecog":
        return rng.choice([g for g in (0, 1, 2) if g != truth])
    raise ValueError(field)


def make_plan(seed: int, index: int, bank: Bank) -> Plan:
    rng = random.Random(f"{seed}:{index}")
    persona = make_persona(rng, bank.answers["stage"]["tnm"], bank.data["relatives"])
    truth = persona.truth
    plan = Plan(index=index, seed=seed, persona=persona, opening=[])
    perturbations = []

    plan.opening = ["greeting"] if rng.random() < 0.55 else ["other"]
    perturbations.append(f"opening:{plan.opening[0]}")

    # Fields this person does not know, beyond the persona's own unknowns.
    if rng.random() < 0.25:
        keys = list(MAY_NOT_KNOW)
        for f in set(rng.choices(keys, weights=[MAY_NOT_KNOW[k] for k in keys], k=rng.choice((1, 1, 2)))):
            truth[f] = UNKNOWN
            if f == "stage":
                persona.stage_form, persona.tnm = "unknown", None
            if f == "prior_treatment":
                persona.history = UNKNOWN
                truth["immunotherapy_cycles"] = truth["immunotherapy_response"] = UNKNOWN
        if truth["p16"] == UNKNOWN and persona.stage_form == "tnm":  # the TNM now means every group it can be
            truth["stage"] = tnm_stage(persona.tnm, truth["tumor_site"], UNKNOWN)
        plan.dont_know = tuple(sorted(f for f in MAY_NOT_KNOW if truth.get(f) == UNKNOWN))
        perturbations.append("dont_know")

    busy: set[str] = set()  # one perturbation per question at most
    if rng.random() < 0.2:
        choices = [
            f
            for f in ("age", "age", "stage", "ecog")
            if truth.get(f) not in (None, UNKNOWN)
            and not (f == "stage" and persona.stage_form not in ("words", "alone"))
            and not (f == "ecog" and isinstance(truth[f], list))
        ]
        if choices:
            f = rng.choice(choices)
            plan.correction = (f, _wrong_value(rng, f, truth[f]))
            busy.add(f)
            perturbations.append(f"correction:{f}")
    if rng.random() < 0.3:
        choices = [f for f in ("age", "age", "age", "tumor_site", "stage") if f not in busy]
        f = rng.choice(choices)
        plan.several_at, plan.several_count = f, rng.choice((2, 3, 3, 4, 5))
        busy.add(f)
        perturbations.append(f"several:{f}")
    if rng.random() < 0.25:
        f = rng.choice([x for x in INTERJECT_AT if x not in busy])
        plan.offtopic_at = f
        busy.add(f)
        perturbations.append(f"offtopic:{f}")
    if rng.random() < 0.2:
        f = rng.choice([x for x in INTERJECT_AT if x not in busy])
        plan.remark_at = f
        busy.add(f)
        perturbations.append(f"remark:{f}")
    if rng.random() < 0.25:
        plan.typo_field = rng.choice([f for f in CORE if f not in busy] or list(CORE))
        perturbations.append(f"typo:{plan.typo_field}")
    if rng.random() < 0.2:
        plan.lower_case = True
        perturbations.append("lower_case")
    # A late answer after the result (drawn last, so the earlier draws of a seed stay as they were).
    late_draw, late_choice = rng.random(), rng.random()
    if late_draw < LATE_RATE:
        options = ["recurrent"] if truth.get("recurrent") != "yes" else []
        if "age" not in busy and truth.get("age") not in (None, UNKNOWN):
            options.append("age")
        if persona.location_kind != "city":
            options.append("location")
        kind = options[int(late_choice * len(options))] if options else None
        if kind is None:
            pass
        elif kind == "age":
            plan.late = ("age", _wrong_value(rng, "age", truth["age"]))
            busy.add("age")
        elif kind == "recurrent":
            plan.late = ("recurrent", "yes")
        else:
            plan.late = ("location", rng.choice(CITIES))
        if kind is not None:
            perturbations.append(f"late:{kind}")
    plan.button_rate = rng.choice((0.0, 0.3, 0.5, 0.8))
    plan.skip_rate = 0.5
    plan.perturbations = [f"voice:{persona.voice}", *perturbations]
    return plan


def generate(n: int, seed: int, bank: Bank, start: int = 0) -> list[Plan]:
    """Screenings ``start`` .. ``start + n - 1`` of ``seed``."""
    return [make_plan(seed, i, bank) for i in range(start, start + n)]
