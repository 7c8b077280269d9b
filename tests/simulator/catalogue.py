"""Every phrasing a bank can produce, with what it claims to mean, and what
``knowledge.normalize`` reads in it.

The unit tests use this to hold the banks to two promises: at least 8 phrasings per kind
of answer, and every phrasing (not tagged as a known gap) means, through the project's own
normalisers, exactly the canonical value the simulator puts in the intended profile.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator

from knowledge import geo, normalize

from .bank import Bank, Phrase, Speaker, Text
from .profiles import HISTORIES, IMMUNO, UNKNOWN, ordered_treatments, stage_value, tnm_stage

AGES = (17, 18, 61, 75, 76)
CYCLES = (2, 6, 7)
YES_NO = ("recurrent", "resectable", "other_cancer_5y", "pregnant")
# Where a TNM is checked: (site, p16 known to the bot or None).
TNM_CASES = (("larynx", None), ("oropharynx", "positive"), ("oropharynx", "negative"), ("oropharynx", None),
             ("nasopharynx", None))


@dataclass
class Item:
    """One phrasing: the kind and value key it belongs to, and the facts it claims."""

    kind: str
    key: str | None
    speaker: Speaker
    phrase: Phrase
    claims: dict[str, Any]
    context: dict[str, Any]  # what the bot would know when reading it (site, p16)

    @property
    def text(self) -> str:
        return self.phrase.text


def speakers(bank: Bank) -> list[Speaker]:
    out = []
    for voice in bank.voices:
        for sex in ("male", "female"):
            relative = bank.data["relatives"][sex][0] if voice == "carer" else None
            out.append(Speaker(voice, sex, relative))
    return out


def items(bank: Bank, exhaustive: bool = True) -> Iterator[Item]:
    """Every phrasing of every kind of answer, for every voice and sex.

    ``exhaustive=False`` keeps, per kind, value and speaker, only phrasings that use a
    template or a term not used yet: every word of the bank is still read at least once,
    in a fraction of the time (the normalisers take a few ms per call)."""
    for sp in speakers(bank):
        def each(kind, key, claims, values=None, context=None):
            used: set[str] = set()
            for phrase in bank.enumerate(kind, key, sp, values):
                if not exhaustive:
                    parts = {f"t:{phrase.template}", *(f"w:{w}" for w in phrase.terms)}
                    if parts <= used:
                        continue
                    used |= parts
                yield Item(kind, key, sp, phrase, dict(claims), dict(context or {}))

        yield from each("consent", "yes", {"consent": True})
        for n in AGES:
            yield from each("age", None, {"age": n}, {"n": n})
        for code in bank.term_keys("site"):
            yield from each("tumor_site", None, {"tumor_site": code}, {"site": code})
        for key in bank.term_keys("stage"):
            yield from each("stage", None, {"stage": stage_value(key)}, {"stage": key})
        for key, words in (bank.answers["stage"].get("alone") or {}).items():
            for word in words:
                yield Item("stage", f"alone:{key}", sp, Phrase(word, "stage", key, word), {"stage": stage_value(key)}, {})
        tnm_templates = bank.for_voice(bank.answers["stage"]["tnm_templates"], sp.voice)
        for entry in bank.answers["stage"]["tnm"]:
            for site, p16 in TNM_CASES:
                for template in tnm_templates:
                    phrase = bank.fill(template, {"tnm": Text(entry["text"])}, sp, random.Random(0))
                    phrase.kind, phrase.key = "stage", "tnm"
                    yield Item("stage", f"tnm:{site}:{p16}", sp, phrase,
                               {"stage": tnm_stage(entry, site, p16 or UNKNOWN)}, {"site": site, "p16": p16})
        for g in range(5):
            yield from each("ecog", None, {"ecog": g}, {"ecog": g})
        for history in bank.keys("prior_treatment"):
            immuno = bool(IMMUNO & set(HISTORIES[history]))
            for response in (("CR", "PR", "SD", "PD") if immuno else (None,)):
                seen: set[str] = set()
                covered: set[str] = set()
                for drugs in drug_bindings(bank, sp):
                    values: dict[str, Any] = {"cycles": 3, **drugs} if immuno else dict(drugs)
                    if response:
                        values["response"] = response
                    for phrase in bank.enumerate("prior_treatment", history, sp, values):
                        names = set(bank.placeholders(phrase.template))
                        if immuno and response != "PR" and not names & {"response", "response_code"}:
                            continue  # the same phrasing was already listed with PR
                        if phrase.text in seen:
                            continue
                        seen.add(phrase.text)
                        parts = {f"t:{phrase.template}", *(f"w:{w}" for w in phrase.terms),
                                 *(f"d:{v.text}" for v in drugs.values())}
                        if not exhaustive and parts <= covered:
                            continue
                        covered |= parts
                        claims: dict[str, Any] = {"prior_treatment": ordered_treatments(HISTORIES[history])}
                        if names & {"cycles", "cycles_words"}:
                            claims["immunotherapy_cycles"] = 3
                        if names & {"response", "response_code"}:
                            claims["immunotherapy_response"] = response
                        yield Item("prior_treatment", history, sp, phrase, claims, {})
        for key in bank.term_keys("p16"):
            yield from each("p16", None, {"p16": key}, {"p16": key})
        yield from each("p16_unknown", None, {"p16": UNKNOWN})
        for key in bank.term_keys("diff"):
            yield from each("differentiation", None, {"differentiation": key}, {"diff": key})
        for key in bank.term_keys("histology"):
            yield from each("histology", None, {"histology": key}, {"histology": key})
        for key in bank.term_keys("response"):
            yield from each("immunotherapy_response", None, {"immunotherapy_response": key}, {"response": key})
        for n in CYCLES:
            yield from each("immunotherapy_cycles", None, {"immunotherapy_cycles": n}, {"n": n})
        for key in bank.term_keys("path"):
            yield from each("pathologic_response", None, {"pathologic_response": key}, {"path": key})
        for slot in YES_NO:
            for key in bank.keys(slot):
                yield from each(slot, key, {slot: key})
        for key in bank.keys("sex"):
            yield from each("sex", key, {"sex": key})
        for city in bank.term_keys("city"):
            yield from each("location", "city", {"location": city}, {"city": city})
        yield from each("location", "anywhere", {"location": None})
        yield from each("dont_know", None, {"any": UNKNOWN})
        for n in AGES:
            yield from each("correction", "age", {"age": n}, {"n": n})
        for key in bank.term_keys("stage"):
            yield from each("correction", "stage", {"stage": stage_value(key)}, {"stage": key})
        for g in range(5):
            yield from each("correction", "ecog", {"ecog": g}, {"ecog": g})
        for kind in ("offtopic_question", "remark", "nudge", "opening"):
            for key in bank.keys(kind) or [None]:
                yield from each(kind, key, {})


def drug_bindings(bank: Bank, sp: Speaker) -> list[dict[str, Text]]:
    """Drug names to put in treatment templates: every name of each class once, beside the
    first name of the other classes (every name is checked without the full product)."""
    lists = {name: [e.text for e in bank.term_entries(name, None, sp.voice)] for name in ("pd1", "pdl1", "chemo")}
    first = {name: Text(terms[0]) for name, terms in lists.items() if terms}
    out = [dict(first)]
    for name, terms in lists.items():
        for term in terms[1:]:
            out.append({**first, name: Text(term)})
    return out


def read(item: Item) -> dict[str, Any]:
    """What knowledge.normalize reads in a phrasing, for the fields it claims
    (or, for a message that claims nothing, any fact it should not carry)."""
    text = item.text
    out: dict[str, Any] = {}
    for name, meant in item.claims.items():
        if "prior_treatment" in item.claims and name in ("immunotherapy_cycles", "immunotherapy_response"):
            continue  # read from the treatment answer, as the form does
        if name == "consent":
            out[name] = normalize.yes_no(text) == "yes"
        elif name == "age":
            a = normalize.age(text)
            out[name] = a.value if a else None
        elif name == "tumor_site":
            s = normalize.site(text)
            out[name] = s.code if s else None
        elif name == "stage":
            site = item.context.get("site")
            s = normalize.stage(text, site, item.context.get("p16"))
            out[name] = None if s is None else s.value
        elif name == "ecog":
            e = normalize.ecog(text)
            out[name] = None if e is None else ("unknown" if e.unknown else
                                               list(e.value) if isinstance(e.value, tuple) else e.value)
        elif name == "prior_treatment":
            t = normalize.treatment(text)
            out[name] = None if t is None else t.value
            immuno = t is not None and t.categories and IMMUNO & set(t.categories)
            if immuno or "immunotherapy_cycles" in item.claims:
                out["immunotherapy_cycles"] = t.cycles if t and t.cycles is not None else None
            if immuno or "immunotherapy_response" in item.claims:
                out["immunotherapy_response"] = t.response if t else None
        elif name == "p16":
            out[name] = normalize.p16(text)
        elif name == "differentiation":
            out[name] = normalize.differentiation(text)
        elif name == "histology":
            out[name] = normalize.histology(text)
        elif name == "immunotherapy_response":
            out[name] = normalize.response(text)
        elif name == "immunotherapy_cycles":
            n = normalize.first_number(text)
            out[name] = None if n is None else int(n)
        elif name == "pathologic_response":
            out[name] = normalize.pathologic_response(text)
        elif name in YES_NO:
            out[name] = normalize.yes_no(text)
        elif name == "sex":
            out[name] = normalize.ProfileAnswers({"sex": text}).profile()["sex"]
        elif name == "location":
            city = geo.city(text)
            out[name] = city.name if city else None
        elif name == "any":
            out[name] = UNKNOWN if normalize.is_unknown(text) else text
    if not item.claims:  # not an answer: it must not state a fact
        out = {k: v for k, v in facts(text).items() if v is not None}
    return out


def facts(text: str) -> dict[str, Any]:
    """Any profile fact the normalisers find in ``text`` (for messages that must carry none)."""
    age = normalize.age(text)
    site = normalize.site(text)
    stage = normalize.stage(text)
    ecog = normalize.ecog(text)
    treatment = normalize.treatment(text)
    return {
        "age": age.value if age else None,
        "tumor_site": site.codes if site else None,
        "stage": None if stage is None or stage.unknown else stage.value,
        "ecog": None if ecog is None or ecog.unknown else ecog.value,
        "prior_treatment": None if treatment is None or treatment.unknown else treatment.value,
    }


def expected(item: Item) -> dict[str, Any]:
    """What ``read`` must return for a faithful phrasing."""
    if not item.claims:
        return {}
    out = dict(item.claims)
    if "any" in out:
        out["any"] = UNKNOWN
    if "prior_treatment" in out and IMMUNO & set(out["prior_treatment"]):
        out.setdefault("immunotherapy_cycles", None)
        out.setdefault("immunotherapy_response", None)
    return out
