"""Every phrasing a bank can produce, with what it claims to mean, and what
``knowledge.normalize`` / ``knowledge.therapy`` read in it.

The unit tests use this to hold the banks to two promises: at least 8 phrasings per kind
of answer, and every phrasing (not tagged as a known gap) means, through the project's own
readers used the way the form's validation uses them (actions/forms.py, actions/reading.py),
exactly the canonical value the simulator puts in the intended profile. A treatment
answer is read as lines of therapy; one the reader leaves open on purpose (a plan, a
refusal: ``open`` in the bank) must be left open for exactly that reason.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import re
from dataclasses import dataclass
from typing import Any, Iterator

from knowledge import normalize, speaker, therapy, vocab

from .bank import Bank, Phrase, Speaker, Text
from .profiles import HISTORIES, IMMUNO, UNKNOWN, ordered_treatments, relative_words, stage_value, tnm_stage

AGES = (17, 18, 61, 75, 76)
CYCLES = (2, 6, 7)
YES_NO = ("recurrent", "resectable", "other_cancer_5y", "pregnant")
# Where a TNM is checked: (site, p16 known to the bot or None).
TNM_CASES = (
    ("larynx", None),
    ("oropharynx", "positive"),
    ("oropharynx", "negative"),
    ("oropharynx", None),
    ("nasopharynx", None),
)


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
            relative = relative_words(bank.data["relatives"][sex][0])[0] if voice == "carer" else None
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
                said = dict(claims)
                if "sex_word" in bank.placeholders(phrase.template):
                    said["sex_in_passing"] = sp.sex
                yield Item(kind, key, sp, phrase, said, dict(context or {}))

        yield from each("consent", "yes", {"consent": True})
        if sp.voice == "carer":  # who the patient is: "my dad" makes the questions say "he"
            for entry in bank.data["relatives"][sp.sex]:
                words, gap = relative_words(entry)
                phrase = Phrase(
                    f"I'm asking for {words}", "relative", sp.sex, "I'm asking for {rel}", [gap] if gap else []
                )
                yield Item("relative", sp.sex, sp, phrase, {"subject": "he" if sp.sex == "male" else "she"}, {})
        for n in AGES:
            yield from each("age", None, {"age": n}, {"n": n, "sex": sp.sex})
        for code in bank.term_keys("site"):
            yield from each("tumor_site", None, {"tumor_site": code}, {"site": code})
        for key in bank.term_keys("stage"):
            yield from each("stage", None, {"stage": stage_value(key)}, {"stage": key})
        for key, words in (bank.answers["stage"].get("alone") or {}).items():
            for word in words:
                yield Item(
                    "stage", f"alone:{key}", sp, Phrase(word, "stage", key, word), {"stage": stage_value(key)}, {}
                )
        tnm_templates = bank.for_voice(bank.answers["stage"]["tnm_templates"], sp.voice)
        for entry in bank.answers["stage"]["tnm"]:
            for site, p16 in TNM_CASES:
                for template in tnm_templates:
                    phrase = bank.fill(template, {"tnm": Text(entry["text"])}, sp, random.Random(0))
                    phrase.kind, phrase.key = "stage", "tnm"
                    yield Item(
                        "stage",
                        f"tnm:{site}:{p16}",
                        sp,
                        phrase,
                        {"stage": tnm_stage(entry, site, p16 or UNKNOWN)},
                        {"site": site, "p16": p16},
                    )
        for key in bank.term_keys("ecog_score"):
            yield from each("ecog", None, {"ecog": _ecog_value(key)}, {"ecog": key})
        for history in bank.keys("prior_treatment"):
            immuno = bool(IMMUNO & set(HISTORIES[history]))
            for response in ("CR", "PR", "SD", "PD") if immuno else (None,):
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
                        parts = {
                            f"t:{phrase.template}",
                            *(f"w:{w}" for w in phrase.terms),
                            *(f"d:{v.text}" for v in drugs.values()),
                        }
                        if not exhaustive and parts <= covered:
                            continue
                        covered |= parts
                        claims: dict[str, Any] = {"prior_treatment": ordered_treatments(HISTORIES[history])}
                        if phrase.open:
                            claims = {"prior_treatment_open": phrase.open}
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
        for key in bank.term_keys("histology"):  # read at the site where the persona has it
            site = "nasopharynx" if key == "nasopharyngeal_carcinoma" else None
            yield from each("histology", None, {"histology": key}, {"histology": key}, {"site": site})
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
            if key == sp.sex:  # a person tells their own sex (or the patient's)
                yield from each("sex", key, {"sex": key})
        for city in bank.term_keys("city"):
            yield from each("location", "city", {"location": city}, {"city": city})
        for province in bank.term_keys("province"):
            yield from each("location", "province", {"location": province}, {"province": province})
        yield from each("location", "anywhere", {"location": "anywhere"})
        yield from each("location", "country", {"location": "China"})
        yield from each("location", "rather_not_say", {"location": UNKNOWN})
        yield from each("late", "recurrent", {"recurrent": "yes"})
        for city in bank.term_keys("city"):
            yield from each("late", "location", {"location": city}, {"city": city})
        yield from each("dont_know", None, {"any": UNKNOWN})
        for n in AGES:
            yield from each("correction", "age", {"age": n}, {"n": n})
        for key in bank.term_keys("stage"):
            yield from each("correction", "stage", {"stage": stage_value(key)}, {"stage": key})
        for key in bank.term_keys("ecog_score"):
            yield from each("correction", "ecog", {"ecog": _ecog_value(key)}, {"ecog": key})
        for kind in ("offtopic_question", "remark", "nudge", "opening"):
            for key in bank.keys(kind) or [None]:
                yield from each(kind, key, {})


def _ecog_value(key: str) -> Any:
    """A bank ECOG key as the slot holds it: "1" -> 1, "1-2" -> [1, 2]."""
    low, _, high = str(key).partition("-")
    return [int(low), int(high)] if high else int(low)


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


@contextlib.contextmanager
def fast_vocabulary():
    """Reading thousands of phrasings quickly: ``knowledge.vocab.find_terms`` builds a regex
    for every term on every call and re's cache holds 512 patterns, so one treatment answer
    takes ~30 ms. Within this block the term regexes are cached (the same strings) and re
    keeps every compiled pattern; the readers' results are unchanged."""
    from knowledge import vocab as vocabulary

    original, cache_size = vocabulary.term_regex, re._MAXCACHE
    vocabulary.term_regex = functools.lru_cache(maxsize=None)(original)
    re._MAXCACHE = max(cache_size, 20000)
    try:
        yield
    finally:
        vocabulary.term_regex, re._MAXCACHE = original, cache_size


_READ_CACHE: dict[str, dict] = {}


def read(item: Item) -> dict[str, Any]:
    """What knowledge.normalize reads in a phrasing, for the fields it claims
    (or, for a message that claims nothing, any fact it should not carry).
    The same words with the same claims and context are read once."""
    key = json.dumps([item.text, item.claims, item.context], sort_keys=True, default=str)
    if key not in _READ_CACHE:
        _READ_CACHE[key] = _read(item)
    return dict(_READ_CACHE[key])


def _read(item: Item) -> dict[str, Any]:
    text = item.text
    out: dict[str, Any] = {}
    history = None
    for name, _meant in item.claims.items():
        if {"prior_treatment", "prior_treatment_open"} & set(item.claims) and name in (
            "immunotherapy_cycles",
            "immunotherapy_response",
        ):
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
            out[name] = (
                None
                if e is None
                else ("unknown" if e.unknown else list(e.value) if isinstance(e.value, tuple) else e.value)
            )
        elif name in ("prior_treatment", "prior_treatment_open"):
            # As actions/forms.py validate_prior_treatment: the lines, and the fields they settle.
            history = therapy.read(text)
            derived = therapy.derive(history)
            received = derived.fields.get("prior_treatment")
            if name == "prior_treatment_open":
                out[name] = None if received is not None else derived.unsettled.get("prior_treatment")
                continue
            out[name] = received
            immuno = bool(received and IMMUNO & set(received))
            if immuno or "immunotherapy_cycles" in item.claims:
                out["immunotherapy_cycles"] = derived.fields.get("immunotherapy_cycles")
            if immuno or "immunotherapy_response" in item.claims:
                out["immunotherapy_response"] = derived.fields.get("immunotherapy_response")
        elif name == "p16":
            out[name] = normalize.p16(text)
        elif name == "differentiation":
            out[name] = normalize.differentiation(text)
        elif name == "histology":
            out[name] = normalize.histology(text, item.context.get("site"))
        elif name == "immunotherapy_response":
            out[name] = normalize.response(text)
        elif name == "immunotherapy_cycles":
            out[name] = _cycles(text)
        elif name == "pathologic_response":
            out[name] = normalize.pathologic_response(text)
        elif name == "recurrent":
            # The recurrence entity (therapy.recurrence_mentions) wins over yes/no words. The NLU
            # component reads it on prepared text (vocab.prepare: "没有复发" -> "没 有 复 发"), as here.
            said = {value for *_, value in therapy.recurrence_mentions(vocab.prepare(text))}
            out[name] = said.pop() if len(said) == 1 else normalize.yes_no(text)
        elif name in YES_NO:
            out[name] = normalize.yes_no(text)
        elif name == "sex":
            out[name] = normalize.sex(text)
        elif name == "subject":
            found = speaker.relative(text)
            out[name] = found.code if found else None
        elif name == "sex_in_passing":  # the NLU component's sex entity: plain words only
            said = {code for *_, code in vocab.find_terms(text, vocab.sex_in_passing_terms())}
            out[name] = said.pop() if len(said) == 1 else None
        elif name == "location":
            place = normalize.location(text)  # as actions/forms.py validate_location reads it
            out[name] = place.name if place else None
        elif name == "any":
            out[name] = UNKNOWN if normalize.is_unknown(text) else text
    if not item.claims:  # not an answer: it must not state a fact
        out = {k: v for k, v in facts(text).items() if v is not None}
    return out


def _cycles(text: str) -> Any:
    """A count of immunotherapy cycles as actions/forms.py validate_immunotherapy_cycles reads
    it: the treatment reader when the answer names a treatment, else the number(s) in it."""
    history = therapy.read(text)
    if history is not None and history.lines:
        return therapy.derive(history).fields.get("immunotherapy_cycles")
    numbers = [int(n) for n in re.findall(r"(?<![\d.])(\d{1,2})(?![\d.])", text)]
    if not numbers:
        n = normalize.first_number(text)
        numbers = [int(n)] if n is not None else []
    if not numbers or len(set(numbers)) > 2:
        return None
    low, high = min(numbers), max(numbers)
    return low if low == high else [low, high]


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
    if "prior_treatment" in out and isinstance(out["prior_treatment"], list) and IMMUNO & set(out["prior_treatment"]):
        out.setdefault("immunotherapy_cycles", None)
        out.setdefault("immunotherapy_response", None)
    return out
