"""The simulated user: answers whatever the bot is asking, from a phrase bank.

Language-neutral: it decides *what* to say in canonical values (its persona's truth,
or a planned perturbation) and asks the bank for the words. Every message carries its
``claims`` (field -> canonical value it means), which the checks and the reference bot
use, and the record of which template and which known gaps produced it.

Behaviour, per question asked (``requested_slot``):
- first ask: the planned perturbation for this question if any (off-topic question,
  unrelated remark, several facts at once, a wrong value to correct next turn, a typo),
  else the answer; a matching button is pressed ``button_rate`` of the time;
- asked again: the answer again, plainly (no typo, no known-gap phrasing, a button
  when one matches), as a person retyping would;
- third ask with a Skip button (payload ``/skip``): pressed ``skip_rate`` of the time
  (always from the fourth ask on), and that field becomes unknown in the intended profile;
- a slot the bank has no words for: "I don't know" (unknown in the intended profile);
- nothing asked and no result: a nudge ("hello?"), at most three in a row, then it gives up;
- after the result: the pending correction if there is one, or the planned late answer
  (``plan.late``: an age said wrong during the screening and corrected now, "it came
  back", a city), then the answers to whatever the bot asks again until a new result;
  else done.

``intended`` is what the person means at each moment (the wrong age until they correct
it); ``meant()`` adds what the bot derives by rule (profiles.derived) and is recorded with
every result the bot shows.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from knowledge import vocab

from .bank import Bank, Phrase, Speaker, Text
from .profiles import CORE, UNKNOWN, Plan, derived, ecog_key, relative_words

YES_NO = ("recurrent", "resectable", "other_cancer_5y", "pregnant")
MAX_NUDGES = 3


def profile_fields() -> set[str]:
    return {name for name, f in vocab.fields().items() if not f.derived}


@dataclass
class Message:
    text: str
    kind: str  # opening | consent | answer | dont_know | button | skip | several | wrong | correction | late | offtopic | remark | nudge
    field: str | None = None
    claims: dict[str, Any] = dc_field(default_factory=dict)
    phrase: Phrase | None = None
    payload: bool = False
    parts: list[tuple[str, Phrase, dict]] = dc_field(default_factory=list)  # several facts: (field, clause, claims)
    derived: dict[str, Any] = dc_field(default_factory=dict)  # what the bot derives from it by rule (stage_ajcc7)

    @property
    def gaps(self) -> list[str]:
        return list(self.phrase.gaps) if self.phrase else []

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "kind": self.kind,
            "field": self.field,
            "claims": self.claims,
            "template": self.phrase.template if self.phrase else None,
            "gaps": self.gaps,
            "typo": self.phrase.typo if self.phrase else None,
        }


@dataclass
class Observation:
    """What the user sees after a turn."""

    requested: str | None = None
    asks: int = 0  # how many turns in a row the bot has been asking ``requested``
    buttons: list[dict] = dc_field(default_factory=list)
    result_seen: bool = False
    result_now: bool = False


class SimulatedUser:
    def __init__(self, plan: Plan, bank: Bank, rng: random.Random | None = None):
        self.plan = plan
        self.bank = bank
        self.persona = plan.persona
        self.rng = rng or random.Random(f"{plan.seed}:{plan.index}:play")
        self.speaker = Speaker(self.persona.voice, self.persona.sex, self.persona.relative)
        fields = profile_fields()
        self.intended: dict[str, Any] = {k: v for k, v in self.persona.truth.items() if k in fields}
        self.given: set[str] = set()
        self.skipped: list[str] = []
        self.unbanked: list[str] = []
        self.done_perturbations: set[str] = set()
        self.correction_armed = False
        self.late_done = False
        self.late_truth: Any = None
        if plan.late and plan.late[0] == "age":  # says the wrong age until after the result
            self.late_truth, self.intended["age"] = self.intended["age"], plan.late[1]
        self.nudges = 0
        self.gave_up = False
        self._button_meanings: dict[tuple[str, str], set[str]] = {}
        # The drugs this patient had: the same names every time they are mentioned.
        self.drugs = {}
        for name in ("pd1", "pdl1", "chemo"):
            entries = bank.term_entries(name, None, self.speaker.voice)
            if entries:
                self.drugs[name] = Text(self.rng.choice(entries).text)

    # --- the opening ---------------------------------------------------------------------

    def opening(self) -> list[Message]:
        out = []
        carer = self.persona.voice == "carer"
        for kind in self.plan.opening:
            phrase = self.bank.say("opening", kind, self.speaker, self.rng)
            text = phrase.text
            if carer and kind == "greeting":
                intro = self.bank.say("opening", "other", self.speaker, self.rng)
                text = f"{text}{self.bank.settings.get('clause_joiner', ', ')}{intro.text}"
                phrase = phrase.with_text(text)
            claims = {}
            if carer:  # names the relative: the patient is "he" or "she" (and of that sex)
                claims["subject"] = "he" if self.persona.sex == "male" else "she"
                gap = next(
                    (
                        relative_words(e)[1]
                        for e in self.bank.data["relatives"][self.persona.sex]
                        if relative_words(e)[0] == self.persona.relative
                    ),
                    None,
                )
                if gap:
                    phrase.gaps.append(gap)
            out.append(Message(self._typed(text), "opening", claims=claims, phrase=phrase))
        return out

    # --- each turn -------------------------------------------------------------------------

    def next(self, seen: Observation) -> Message | None:
        message = self._next(seen)
        if message is not None and message.claims.get("stage") not in (None, UNKNOWN):
            tnm = self.persona.said_tnm if message.claims["stage"] == self.persona.truth.get("stage") else None
            message.derived = {
                k: v
                for k, v in derived(
                    {**self.intended, "stage": message.claims["stage"]}, self.persona.voice, tnm
                ).items()
                if k == "stage_ajcc7"
            }
        return message

    def _next(self, seen: Observation) -> Message | None:
        plan = self.plan
        if self.correction_armed:
            return self._correction()
        if seen.result_now:
            if plan.late and not self.late_done:
                return self._late()
            return None  # the screening ended with a result and nothing is left to say
        slot = seen.requested
        if slot is None:
            if seen.result_seen:
                return None  # after a result (and a late answer) nothing is asked: no new screening
            if self.nudges >= MAX_NUDGES:
                self.gave_up = True
                return None
            self.nudges += 1
            if self.nudges == MAX_NUDGES:  # the last try: what anyone would type
                phrase = self.bank.say("opening", "greeting", self.speaker, self.rng)
            else:
                phrase = self.bank.say("nudge", None, self.speaker, self.rng)
            return Message(self._typed(phrase.text), "nudge", phrase=phrase)
        self.nudges = 0
        if slot == "consent":
            return self._consent(seen)
        if self._button(seen, "/skip") and (seen.asks > 3 or seen.asks == 3 and self.rng.random() < plan.skip_rate):
            return self._skip(slot)
        first = seen.asks <= 1
        if first and plan.offtopic_at == slot and "offtopic" not in self.done_perturbations:
            self.done_perturbations.add("offtopic")
            key = (
                slot
                if self.bank.templates("offtopic_question", slot, self.speaker.voice) and self.rng.random() < 0.5
                else "general"
            )
            phrase = self.bank.say("offtopic_question", key, self.speaker, self.rng)
            return Message(self._typed(phrase.text), "offtopic", slot, phrase=phrase)
        if first and plan.remark_at == slot and "remark" not in self.done_perturbations:
            self.done_perturbations.add("remark")
            phrase = self.bank.say("remark", "general", self.speaker, self.rng)
            return Message(self._typed(phrase.text), "remark", slot, phrase=phrase)
        if first and plan.correction and plan.correction[0] == slot and "wrong" not in self.done_perturbations:
            self.done_perturbations.add("wrong")
            self.correction_armed = True
            wrong = plan.correction[1]
            message = self._answer(slot, wrong, seen, clean=True, allow_button=False)
            message.kind = "wrong"
            self.intended[slot] = wrong  # what was typed, until the next message corrects it
            return message
        if first and plan.several_at == slot and "several" not in self.done_perturbations:
            self.done_perturbations.add("several")
            message = self._several(slot)
            if message is not None:
                return message
        value = self.intended.get(slot, UNKNOWN) if slot in self.intended else None
        if slot == "location":
            return self._location(seen)
        if value is None and not self._has_bank(slot):
            return self._unbanked(slot)
        if value is None:
            value = UNKNOWN
        typo = first and plan.typo_field == slot and "typo" not in self.done_perturbations
        if typo:
            self.done_perturbations.add("typo")
        return self._answer(slot, value, seen, clean=not first, allow_button=True, typo=typo)

    # --- kinds of message ------------------------------------------------------------------

    def _typed(self, text: str) -> str:
        return self.bank.lower(text) if self.plan.lower_case else text

    def _button(self, seen: Observation, payload: str) -> dict | None:
        return next((b for b in seen.buttons if str(b.get("payload", "")).strip() == payload), None)

    def _press(self, button: dict, kind: str, slot: str | None, claims: dict) -> Message:
        return Message(button["payload"], kind, slot, claims, Phrase(button.get("title", ""), "button"), payload=True)

    def _consent(self, seen: Observation) -> Message:
        button = self._button(seen, "/affirm")
        if button and self.rng.random() < 0.7:
            return self._press(button, "consent", "consent", {"consent": True})
        phrase = self.bank.say("consent", "yes", self.speaker, self.rng)
        return Message(self._typed(phrase.text), "consent", "consent", {"consent": True}, phrase)

    def _skip(self, slot: str) -> Message:
        self.skipped.append(slot)
        claims = {}
        if slot in profile_fields():
            self.intended[slot] = UNKNOWN
            claims[slot] = UNKNOWN
        return Message("/skip", "skip", slot, claims, Phrase("Skip", "button"), payload=True)

    def _unbanked(self, slot: str) -> Message:
        self.unbanked.append(slot)
        claims = {}
        if slot in profile_fields():
            self.intended[slot] = UNKNOWN
            claims[slot] = UNKNOWN
        phrase = self.bank.say("dont_know", None, self.speaker, self.rng, clean=True)
        return Message(self._typed(phrase.text), "dont_know", slot, claims, phrase)

    def _has_bank(self, slot: str) -> bool:
        return self.bank.has(slot) or slot in ("location",)

    def _location(self, seen: Observation) -> Message:
        place, kind = self.persona.location, self.persona.location_kind
        if place is None:  # this person would rather not say: Skip straight away (not a skip the bot forced)
            button = self._button(seen, "/skip")
            if button:
                return Message(
                    "/skip", "skip", "location", {}, Phrase(button.get("title", "Skip"), "button"), payload=True
                )
            phrase = self.bank.say("dont_know", None, self.speaker, self.rng, clean=True)
            return Message(self._typed(phrase.text), "dont_know", "location", {}, phrase)
        if kind == "anywhere":  # a button that says so, or words (again in other words if asked again)
            button = self._button(seen, "anywhere")
            if button is not None and self.rng.random() < self.plan.button_rate:
                return self._press(button, "button", "location", {"location": "anywhere"})
        values = {"city": place} if kind == "city" else {"province": place} if kind == "province" else {}
        phrase = self.bank.say("location", kind, self.speaker, self.rng, values, clean=seen.asks > 1)
        return Message(self._typed(phrase.text), "answer", "location", {"location": place}, phrase)

    def _answer(
        self, slot: str, value: Any, seen: Observation, clean: bool, allow_button: bool, typo: bool = False
    ) -> Message:
        """The answer meaning ``value`` for ``slot``: a button, or words from the bank."""
        self.given.add(slot)
        if allow_button and (clean or self.rng.random() < self.plan.button_rate):
            button = self._matching_button(slot, value, seen)
            if button is not None:
                return self._press(button, "button", slot, self._claims(slot, value))
        if value == UNKNOWN:
            button = self._button(seen, "/dont_know")
            if allow_button and button is not None and self.rng.random() < 0.5:
                return self._press(button, "dont_know", slot, {slot: UNKNOWN})
            phrase = None
            if slot == "p16" and self.rng.random() < 0.5:
                phrase = self.bank.say("p16_unknown", None, self.speaker, self.rng, clean=clean)
            phrase = phrase or self.bank.say("dont_know", None, self.speaker, self.rng, clean=clean)
            return Message(self._typed(phrase.text), "dont_know", slot, {slot: UNKNOWN}, phrase)
        phrase, claims = self.words(slot, value, clean=clean)
        for _ in range(8 if typo else 0):  # a phrasing with a word to mistype, when there is one
            if self.bank.typo(phrase.text, random.Random(0), terms=phrase.terms)[1]:
                break
            phrase, claims = self.words(slot, value, clean=clean)
        text = phrase.text
        if typo:
            text, made = self.bank.typo(text, self.rng, prefer=self.rng.choice(("filler", "term")), terms=phrase.terms)
            phrase = phrase.with_text(text, typo=made)
        return Message(self._typed(text), "answer", slot, claims, phrase)

    def _claims(self, slot: str, value: Any) -> dict:
        return {slot: value}

    def words(self, slot: str, value: Any, clean: bool = False, clause: bool = False) -> tuple[Phrase, dict]:
        """A phrasing of ``value`` for ``slot`` and the facts it states.

        ``clause``: a part of a several-facts message (answers.several.clauses)."""
        bank, rng, speaker, persona = self.bank, self.rng, self.speaker, self.persona
        claims = {slot: value}

        def say(key, values):
            if clause:
                return self._clause(slot, values)
            return bank.say(slot, key, speaker, rng, values, clean=clean)

        if slot == "age":
            phrase = say(None, {"n": value, "sex": persona.sex})
            if "sex_word" in bank.placeholders(phrase.template):  # "65 year old male": the sex in passing
                claims["sex"] = persona.sex
            return phrase, claims
        if slot == "tumor_site":
            return say(None, {"site": value}), claims
        if slot == "stage":
            if persona.stage_form == "tnm" and persona.tnm and value == self.persona.truth.get("stage"):
                tnm = Text(persona.tnm["text"])
                if clause:
                    return self._clause(slot, {"stage": tnm}), claims
                templates = self.bank.for_voice(self.bank.answers["stage"]["tnm_templates"], speaker.voice)
                phrase = bank.fill(rng.choice(templates), {"tnm": tnm}, speaker, rng)
                phrase.kind, phrase.key = "stage", "tnm"
                return phrase, claims
            key = "|".join(value)
            alone = (self.bank.answers["stage"].get("alone") or {}).get(key)
            if not clause and persona.stage_form == "alone" and alone and value == self.persona.truth.get("stage"):
                text = rng.choice(alone)
                return Phrase(text, "stage", key, text), claims
            return say(None, {"stage": key}), claims
        if slot == "ecog":
            return say(None, {"ecog": ecog_key(value)}), claims
        if slot == "prior_treatment":
            history = persona.history
            if clean and history in ("planned", "refused"):
                history = "none"  # retyped plainly: nothing received yet
            truth = persona.truth
            values: dict[str, Any] = dict(self.drugs)
            if truth.get("immunotherapy_cycles") not in (None, UNKNOWN):
                values["cycles"] = truth["immunotherapy_cycles"]
            if truth.get("immunotherapy_response") not in (None, UNKNOWN):
                values["response"] = truth["immunotherapy_response"]
            phrase = bank.say("prior_treatment", history, speaker, rng, values, clean=clean)
            if clause and phrase.open:  # a clause among others states what it means on its own
                phrase = bank.say(
                    "prior_treatment",
                    "none" if history in ("planned", "refused") else history,
                    speaker,
                    rng,
                    values,
                    clean=True,
                )
            placeholders = set(bank.placeholders(phrase.template))
            if placeholders & {"cycles", "cycles_words"}:
                claims["immunotherapy_cycles"] = values["cycles"]
            if placeholders & {"response", "response_code"}:
                claims["immunotherapy_response"] = values["response"]
            if clause:
                return self._clause(slot, {"prior_treatment": Text(phrase.text, tuple(phrase.gaps))}), claims
            return phrase, claims
        if slot == "p16":
            return say(None, {"p16": value}), claims
        if slot == "differentiation":
            return say(None, {"diff": value}), claims
        if slot == "histology":
            return say(None, {"histology": value}), claims
        if slot == "immunotherapy_response":
            return say(None, {"response": value}), claims
        if slot == "immunotherapy_cycles":
            return say(None, {"n": value}), claims
        if slot == "pathologic_response":
            return say(None, {"path": value}), claims
        if slot in YES_NO or slot == "sex":
            return say(value, {}), claims
        raise KeyError(slot)

    def _clause(self, slot: str, values: dict) -> Phrase:
        spec = self.bank.answers["several"]["clauses"][slot]
        templates = [
            t
            for t in self.bank.for_voice(spec, self.speaker.voice, sex=self.speaker.sex)
            if self.bank.usable(t.text, values, self.speaker.voice, self.speaker.sex)
        ]
        phrase = self.bank.fill(self.rng.choice(templates), values, self.speaker, self.rng)
        phrase.kind, phrase.key = "several", slot
        return phrase

    def _several(self, slot: str) -> Message | None:
        """Answer ``slot`` and the next known core facts in one message."""
        if slot not in CORE:
            return None
        fields = [slot] + [f for f in CORE[CORE.index(slot) + 1 :] if f not in self.given]
        if self.plan.correction and self.plan.correction[0] in fields[1:]:  # that one is said wrong, then corrected
            fields = fields[: fields.index(self.plan.correction[0])]
        fields = [f for f in fields if self.intended.get(f, UNKNOWN) != UNKNOWN][: self.plan.several_count]
        if len(fields) < 2 or fields[0] != slot:
            return None
        parts, claims, gaps = [], {}, []
        for f in fields:
            phrase, said = self.words(f, self.intended[f], clause=True)
            parts.append((f, phrase, said))
            claims.update(said)
            gaps += phrase.gaps
            self.given.add(f)
        joiners = self.bank.answers["several"]["joiners"]
        text = parts[0][1].text
        for part in parts[1:]:
            text += self.rng.choice(joiners) + part[1].text
        phrase = Phrase(text, "several", ",".join(fields), " + ".join(fields), gaps)
        return Message(self._typed(text), "several", slot, claims, phrase, parts=parts)

    def _correction(self) -> Message:
        self.correction_armed = False
        slot, _wrong = self.plan.correction
        value = self.intended[slot] = self.persona.truth[slot]
        values: dict[str, Any] = {}
        if slot == "age":
            values["n"] = value
        elif slot == "stage":
            values["stage"] = "|".join(value)
        elif slot == "ecog":
            values["ecog"] = value
        phrase = self.bank.say("correction", slot, self.speaker, self.rng, values, clean=True)
        return Message(self._typed(phrase.text), "correction", slot, {slot: value}, phrase)

    def _late(self) -> Message:
        """One more message after the result: a correction of the age said wrong, "it came
        back", or where the patient lives."""
        self.late_done = True
        slot, _ = self.plan.late
        if slot == "age":
            self.intended["age"] = self.late_truth
            phrase = self.bank.say("correction", "age", self.speaker, self.rng, {"n": self.late_truth}, clean=True)
            return Message(self._typed(phrase.text), "late", "age", {"age": self.late_truth}, phrase)
        if slot == "recurrent":
            self.intended["recurrent"] = "yes"
            phrase = self.bank.say("late", "recurrent", self.speaker, self.rng, clean=True)
            return Message(self._typed(phrase.text), "late", "recurrent", {"recurrent": "yes"}, phrase)
        city = self.plan.late[1]
        self.persona.location, self.persona.location_kind = city, "city"
        phrase = self.bank.say("late", "location", self.speaker, self.rng, {"city": city}, clean=True)
        return Message(self._typed(phrase.text), "late", "location", {"location": city}, phrase)

    def meant(self, p16_known: bool = True) -> dict:
        """What the person means now: the profile fields, and what the bot derives from them by rule."""
        out = dict(self.intended)
        out.update(derived(out, self.persona.voice, self.persona.said_tnm, p16_known))
        return out

    # --- buttons -----------------------------------------------------------------------------

    def _matching_button(self, slot: str, value: Any, seen: Observation) -> dict | None:
        """A button that means exactly ``value`` for ``slot``: an /inform payload with that
        value, /affirm or /deny for a yes/no question, or a payload the bank itself says
        means that value."""
        for button in seen.buttons:
            payload = str(button.get("payload", "")).strip()
            if payload.startswith("/inform"):
                try:
                    data = json.loads(payload[len("/inform") :] or "{}")
                except ValueError:
                    continue
                if slot in data and _same(slot, data[slot], value):
                    return button
            elif slot in YES_NO and payload in ("/affirm", "/deny"):
                if (payload == "/affirm") == (value == "yes") and value in ("yes", "no"):
                    return button
            elif payload == "/dont_know":
                continue
            elif payload.lower() in self._meanings(slot, value):
                return button
        return None

    def _meanings(self, slot: str, value: Any) -> set[str]:
        key = (slot, json.dumps(value, sort_keys=True))
        if key not in self._button_meanings:
            texts: set[str] = set()
            for voice in self.bank.voices:
                speaker = Speaker(voice, self.speaker.sex, self.speaker.relative)
                try:
                    texts |= {p.text.lower() for p in _all_words(self, slot, value, speaker)}
                except KeyError:
                    pass
            self._button_meanings[key] = texts
        return self._button_meanings[key]

    # --- the end ------------------------------------------------------------------------------

    def summary(self) -> dict:
        return {
            "intended": dict(self.intended),
            "skipped": list(self.skipped),
            "unbanked": list(self.unbanked),
            "gave_up": self.gave_up,
        }


def _same(slot: str, said: Any, value: Any) -> bool:
    if isinstance(value, list):
        return sorted(map(str, said if isinstance(said, list) else [said])) == sorted(map(str, value))
    return str(said) == str(value)


def _all_words(user: SimulatedUser, slot: str, value: Any, speaker: Speaker):
    """Every bank phrasing of ``value`` for ``slot`` (simple one-term kinds only)."""
    bank = user.bank
    bind = {
        "tumor_site": "site",
        "p16": "p16",
        "differentiation": "diff",
        "histology": "histology",
        "immunotherapy_response": "response",
        "pathologic_response": "path",
    }
    if slot in bind:
        name = bind[slot]
        for entry in bank.term_entries(name, str(value), speaker.voice):
            yield Phrase(entry.text, slot)
        if slot == "immunotherapy_response":
            for entry in bank.term_entries("response_code", str(value), speaker.voice):
                yield Phrase(entry.text, slot)
        return
    if slot in YES_NO or slot == "sex":
        yield from bank.enumerate(slot, str(value), speaker)
        return
    if slot == "prior_treatment" and value == []:
        yield from bank.enumerate("prior_treatment", "none", speaker)
        return
    raise KeyError(slot)
