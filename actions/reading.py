"""Reading one message: what it says about each question, whatever NLU guessed.

The form (``actions/forms.py``) and the conversation outside it
(``actions/converse.py``) read a message the same way, here. The NLU intent is
a hint, never a gate: an answer is taken wherever it is found, so "squamous
cell carcinoma, poorly differentiated" answers the histology question even
though it also names a grade, and "anywhere in China is fine" answers the
city question even when NLU calls it out of scope. The intent decides only
what the message is when it answers nothing (a question about the questions,
a skip, a restart).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from rasa_sdk import Tracker
from rasa_sdk.forms import REQUESTED_SLOT

from knowledge import geo, normalize, speaker, vocab

from .profile import FORM_SLOTS, UNKNOWN

# Answers longer than this are not read further (a pasted letter is not an answer).
MAX_ANSWER_CHARS = 1000
# Questions about the questions: answered with the response, then the question is asked again.
QUESTION_INTENTS = {
    "ask_what_is_ecog": "utter_explain_ecog",
    "ask_what_is_stage": "utter_explain_stage",
    "ask_what_is_p16": "utter_explain_p16",
    "ask_why_needed": "utter_why_needed",
    "ask_what_is_this": "utter_what_is_this",
    "bot_challenge": "utter_iamabot",
}
# Intents handled by their own rule even in the middle of the form (the form lets them through).
CONTROL_INTENTS = {"restart", "delete_my_data"}
# A destructive intent must be this sure before it is acted on; otherwise the message is read as an answer.
CONTROL_CONFIDENCE = 0.8
# Moves inside the form that answer no question.
REPAIR_INTENTS = {"skip", "go_back", "correct"}
# Entities that carry each slot's value when the user volunteers it unasked.
SLOT_ENTITIES = {
    "age": ("age",),
    "tumor_site": ("tumor_site",),
    "stage": ("tnm", "stage"),
    "ecog": ("ecog",),
    "prior_treatment": ("treatment", "drug"),
    "p16": ("p16",),
    "differentiation": ("differentiation",),
    "histology": ("histology",),
    "immunotherapy_response": ("response",),
    "immunotherapy_cycles": ("cycles",),
    "recurrent": ("recurrence",),
    "sex": ("sex",),
}
# Entities whose typed words the form reads itself rather than the entity's value.
WORDS_READ_BY_THE_FORM = ("stage", "tnm", "ecog")
YES_NO_SLOTS = ("consent", "recurrent", "resectable", "other_cancer_5y", "pregnant")


@dataclass(frozen=True)
class Turn:
    """The latest user message as the actions see it."""

    text: str
    intent: Optional[str]
    confidence: float
    entities: tuple
    message_id: Optional[str]

    @property
    def command(self) -> bool:
        """A button press or an injected ``/intent{...}``: its entities are its values."""
        return self.text.startswith("/")

    @property
    def is_question(self) -> bool:
        """A question to the bot (``QUESTION_INTENTS``), unless the words are an answer: clinical
        words and nothing that asks ("the doctor wrote T3 N1 M0", which the NLU once took for
        "what is the stage?"). "What does T3 N1 M0 mean?" stays a question."""
        if self.intent not in QUESTION_INTENTS:
            return False
        return self.command or not self.entities or normalize.sounds_like_a_question(self.text)

    @property
    def is_control(self) -> bool:
        """Start over or delete my data: the form lets the rules run them. A typed "delete" must
        also say so in words (it cannot be undone): "who sees the record?" is a question."""
        if self.intent not in CONTROL_INTENTS:
            return False
        if self.command:
            return True
        if self.intent == "delete_my_data" and not normalize.asks_to_delete(self.text):
            return False
        return self.confidence >= CONTROL_CONFIDENCE

    def entity_values(self, names: tuple) -> list[str]:
        """The values of these entities; for a stage or an ECOG description, the words as they
        were typed, so the form reads them whole: a stage with the site and p16 (and its AJCC 7
        reading), a description of daily life as one (said back to the person as a grade)."""
        values = []
        for e in self.entities:
            if e.get("entity") not in names or e.get("value") is None:
                continue
            start, end = e.get("start"), e.get("end")
            words = self.text[start:end] if isinstance(start, int) and isinstance(end, int) else ""
            values.append(words if e.get("entity") in WORDS_READ_BY_THE_FORM and words.strip() else str(e.get("value")))
        return values


def turn(tracker: Tracker) -> Turn:
    latest = tracker.latest_message or {}
    intent = latest.get("intent") or {}
    return Turn(
        text=(latest.get("text") or "")[:MAX_ANSWER_CHARS],
        intent=intent.get("name"),
        confidence=float(intent.get("confidence") or 0.0),
        entities=tuple(e for e in latest.get("entities") or [] if isinstance(e, dict)),
        message_id=latest.get("message_id"),
    )


# --- what a message says about the question being asked -------------------------------------------


def _finds(read: Callable[[str], Any]) -> Callable[[str], bool]:
    return lambda text: read(text) is not None


# Does the text hold an answer of this kind? (The validators then say what it means.)
READERS: dict[str, Callable[[str], bool]] = {
    "age": lambda t: normalize.age(t) is not None,
    "tumor_site": _finds(lambda t: normalize.site(t, typos=True)),  # the site question: "larnyx" too
    "stage": _finds(lambda t: normalize.stage(t)),
    "ecog": _finds(normalize.ecog),
    "prior_treatment": _finds(normalize.treatment),
    "p16": _finds(normalize.p16),
    "differentiation": _finds(normalize.differentiation),
    "histology": _finds(normalize.histology),
    "immunotherapy_response": _finds(normalize.response),
    "immunotherapy_cycles": lambda t: normalize.first_number(t) is not None,
    "pathologic_response": _finds(normalize.pathologic_response),
    "sex": _finds(normalize.sex),
    "location": _finds(geo.place),
    **{slot: _finds(normalize.yes_no) for slot in YES_NO_SLOTS},
}


def _masked(text: str, entities: tuple, keep: tuple) -> str:
    """The text with the words of other questions' entities blanked out.

    "stage 4a, he is 66" read for the stage must not see 66; read for the age it must not see 4.
    A bare ``number`` entity stays: "58" at the age question is the age.
    """
    chars = list(text)
    others = {name for names in SLOT_ENTITIES.values() for name in names} - set(keep)
    for e in entities:
        start, end = e.get("start"), e.get("end")
        if e.get("entity") not in others or not isinstance(start, int) or not isinstance(end, int):
            continue  # a bare number may be this very answer; only other questions' words go
        for i in range(max(start, 0), min(end, len(chars))):
            chars[i] = " "
    return "".join(chars)


def _corrects(turn_: Turn, requested: str) -> bool:
    """A message the NLU takes for a correction that may still answer this question: it names
    no other question ("I live in Suzhou but can travel to Shanghai", "no wait, stage 3"). Not
    for a yes/no question: "no, sorry, I meant yes" must not be read as its first word."""
    return turn_.intent == "correct" and requested not in YES_NO_SLOTS and named_field(turn_.text) in (None, requested)


def answer_to_requested(turn_: Turn, requested: Optional[str]) -> Optional[str]:
    """What the message answers to the question being asked, before validation.

    An entity for the question wins (from the NLU component or a button's
    ``/inform{...}``). Otherwise the words count when the question's own reader
    finds an answer in them once other questions' words are blanked out.
    "Don't know" is an answer; a yes or no answers a yes/no question.
    """
    if requested is None or requested not in FORM_SLOTS or turn_.is_question or turn_.is_control:
        return None
    if turn_.intent in REPAIR_INTENTS and not turn_.entities and not _corrects(turn_, requested):
        return None  # "skip", "go back", "I made a mistake in my age": no answer to this question
    found = turn_.entity_values(SLOT_ENTITIES.get(requested, ()))
    if found and requested != "prior_treatment":
        return one_value(requested, found)
    if not turn_.command and normalize.asks_what_is_meant(turn_.text):
        return None  # "not sure what you mean": no answer (and no don't-know); the form explains
    if turn_.intent == "dont_know":
        return "don't know" if turn_.command else turn_.text
    if turn_.command:
        if turn_.intent in ("affirm", "deny") and requested in (*YES_NO_SLOTS, "histology", "p16"):
            return "yes" if turn_.intent == "affirm" else "no"
        return None
    if requested == "prior_treatment":
        text = treatment_words(turn_)
        return text if READERS["prior_treatment"](text) or found else None
    text = _masked(turn_.text, turn_.entities, SLOT_ENTITIES.get(requested, ()))
    if READERS[requested](text):
        return text.strip()
    if normalize.is_unknown(turn_.text):
        return turn_.text
    if requested in (*YES_NO_SLOTS, "histology"):
        # "Was it squamous cell carcinoma?" "yes, that's what the biopsy said" / "不是": the
        # words first, the NLU's intent only when they hold no yes or no.
        said = normalize.yes_no(text)
        if said in ("yes", "no"):
            return said
        if turn_.intent in ("affirm", "deny"):
            return "yes" if turn_.intent == "affirm" else "no"
    return None


def one_value(slot: str, found: list[str]) -> str:
    """The value a message gives one question, from the entities found for it.

    Two different sites named do not settle where the cancer started ("laryngeal cancer, not
    nasopharyngeal", "it spread from the tongue to the lung"): every site named is kept, as
    an ambiguous word's are ("throat"), so the form asks which one instead of taking the first.
    Two descriptions of daily life ("works part time, but in bed most afternoons", "I still
    work but I'm wiped out by evening") are read together, as a range of grades.
    """
    if slot == "tumor_site":
        codes = list(dict.fromkeys(code for value in found for code in str(value).split("|")))
        return "|".join(codes)
    if slot == "ecog":
        return "; ".join(found)
    return found[0]


def volunteered(turn_: Turn, requested: Optional[str]) -> dict[str, str]:
    """Answers to questions that were not asked ("I'm 61 with stage 4a cancer of the hypopharynx").

    Only what the NLU component tagged, plus a named city or province; a
    command's entities count too (a button may answer another question).
    """
    if turn_.is_question or turn_.is_control:
        return {}
    values: dict[str, str] = {}
    for slot, names in SLOT_ENTITIES.items():
        if slot == requested:
            continue
        found = turn_.entity_values(names)
        if found:
            # A treatment history is read whole: cycles, responses and plans need their context.
            values[slot] = (
                treatment_words(turn_) if slot == "prior_treatment" and not turn_.command else one_value(slot, found)
            )
    if requested != "location" and not turn_.command:
        place = geo.place(turn_.text)
        if place is not None and place.kind in ("city", "province"):
            values["location"] = place.name
    return values


# Fields a treatment answer settles itself, line by line (knowledge/therapy.py): their
# entities in a treatment answer are not answers on their own ("TPF 3 cycles, then
# pembrolizumab 8 cycles" holds two counts; only the reader knows which is the PD-1's).
FROM_TREATMENT = ("immunotherapy_cycles", "immunotherapy_response", "recurrent")


# The words of a treatment answer: everything but what answers other questions ("I'm 61,
# ECOG 2, had pembro x3": the age and the grade are no stray numbers of the treatment).
TREATMENT_WORDS = ("treatment", "drug", "cycles", "response", "recurrence")


def treatment_words(turn_: Turn) -> str:
    return _masked(turn_.text, turn_.entities, TREATMENT_WORDS).strip()


def answers(turn_: Turn, requested: Optional[str]) -> dict[str, str]:
    """Every answer in the message: to the question asked, and volunteered ones."""
    found = volunteered(turn_, requested)
    asked = answer_to_requested(turn_, requested)
    if asked is not None:
        found[requested] = asked  # type: ignore[index]
    if "prior_treatment" in found and not turn_.command:
        for slot in FROM_TREATMENT:
            if slot != requested:
                found.pop(slot, None)
    return {slot: found[slot] for slot in FORM_SLOTS if slot in found}


def named_field(text: str) -> Optional[str]:
    """The question a correction names ("I made a mistake in my age" -> age), from fields.yaml words."""
    pairs = [
        (word, name)
        for name, entry in vocab.load("fields")["fields"].items()
        for word in entry.get("words", [])
        if name in FORM_SLOTS
    ]
    return next((name for *_, name in vocab.find_terms(text, pairs)), None)


def subject(turn_: Turn, current: Optional[str]) -> Optional[speaker.Subject]:
    """Someone else named as the patient by this message ("my dad has ..."), if new."""
    if turn_.command:
        return None
    return speaker.about(turn_.text, current)


def who_is_speaking(turn_: Turn, slots: dict) -> tuple[dict, list[str]]:
    """Who this message says is typing and about whom: (slot updates, responses to say).

    A relative or carer ("I'm asking for my dad", "my wife has ...") makes the questions
    say "him" / "her" / "the patient" from then on, and "my dad" settles the sex. "I'm a
    nurse" switches to nurse mode, unless the message names a relative ("I'm here for my
    aunt" is a relative, whatever NLU guessed). The form and the conversation outside it
    both use this, so the first message counts as much as any other.
    """
    updates: dict = {}
    says: list[str] = []
    found = subject(turn_, slots.get("subject"))
    names_someone = found is not None or (not turn_.command and speaker.about(turn_.text) is not None)
    is_clinician = turn_.intent == "i_am_nurse" and turn_.confidence >= 0.5 and speaker.says_clinician(turn_.text)
    if is_clinician and not names_someone and slots.get("role") != "nurse":
        updates["role"] = "nurse"
        says.append("utter_nurse_mode")
    if updates.get("role", slots.get("role")) == "nurse" or found is None:
        return updates, says
    wording = found.wording
    updates.update(
        {
            "carer": True,
            "subject": found.code,
            "pronoun": wording["pronoun"],
            "possessive": wording["possessive"],
            "object_pronoun": wording["object"],
        }
    )
    if found.code in ("he", "she") and slots.get("sex") is None:
        updates["sex"] = "male" if found.code == "he" else "female"
    if not slots.get("carer"):
        says.append("utter_carer_noted")
    return updates, says


def is_unknown(value: Any) -> bool:
    return value == UNKNOWN or (isinstance(value, str) and normalize.is_unknown(value))


def requested_slot(tracker: Tracker) -> Optional[str]:
    return tracker.get_slot(REQUESTED_SLOT)


_SPACES = re.compile(r"\s+")


def tidy(text: str) -> str:
    return _SPACES.sub(" ", text).strip()
