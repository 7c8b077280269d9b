"""The pre-screening form: read every message, validate it, and ask the next question.

One action sees every message while the screening runs (Rasa's form predicts
it on each turn and it never rejects one, except "start over" and "delete my
data", whose rules must run), so the dialogue's guarantees do not depend on
NLU's intent guess:

- every answer in a message is taken, asked or not (``actions/reading.py``),
  and validated by ``validate_<slot>`` through ``knowledge.normalize``, so
  typed words, buttons and injected ``/inform{...}`` commands are checked alike;
- a message that answers nothing is still answered: a question about the
  questions, a skip, "go back", "I made a mistake in my age", a greeting, or a
  hint about what kind of answer is needed;
- every turn ends with a question (``actions/questions.py``: at most three
  times in a row, then unknown), or the form ends and the result follows.

The next question is ours, not the domain's list: the five core questions in
order, then only the follow-ups ``knowledge.engine.next_question`` says can
still change a verdict, then the patient's city when more than one trial may
fit. As soon as no trial can fit, the form stops asking.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction

from knowledge import engine, normalize, therapy, vocab

from . import language as languages
from . import messages, questions, reading
from .profile import (
    CORE,
    FOLLOW_UPS,
    FORM_SLOTS,
    SCOPE,
    UNKNOWN,
    field_label,
    is_nurse,
    profile_from_slots,
    value_label,
)
from .reading import is_unknown
from .safety import guarded
from .say import say

logger = logging.getLogger(__name__)

# "What do you mean?" at a question: what explains it (else the question's hint, utter_hint_<slot>).
EXPLAINED_BY = {
    "consent": "utter_what_is_this",
    "stage": "utter_explain_stage",
    "ecog": "utter_explain_ecog",
    "p16": "utter_explain_p16",
}


@dataclass
class TurnNotes:
    """What this turn has already said and chosen, so the question that follows fits it."""

    explained: bool = False  # the reply already says what was wrong or answers the person's question
    described: bool = False  # the ECOG answer was a description of daily life (said back as a grade)
    echoed: set = field(default_factory=set)  # answers a validation already said back
    buttons: Dict[str, list] = field(default_factory=dict)  # slot -> buttons to offer instead of the usual
    ask_next: Optional[str] = None  # a repair chose the next question (go back, correct)
    stop: bool = False  # say nothing more this turn (goodbye)
    attempted: bool = False  # the message held words for the question asked (taken or not): no repair


class ValidatePrescreeningForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_prescreening_form"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        """Read the message (once), repair what needs repairing, ask the next question."""
        turn = reading.turn(tracker)
        fresh = turn.message_id is None or turn.message_id != tracker.get_slot("read_message")
        if fresh and turn.is_control:
            return []  # the form is rejected, so the "restart" / "delete my data" rule runs
        before = dict(tracker.slots)
        notes = TurnNotes()
        # The validators' signature is rasa_sdk's, so they reach this turn's domain and notes
        # through the action. Safe: nothing in this method awaits, so no other turn interleaves.
        self._domain, self._notes = domain, notes
        if fresh:
            languages.update(tracker, dispatcher)  # a message in Chinese is answered in Chinese
            tracker.slots["read_message"] = turn.message_id
            self.who_is_speaking(turn, dispatcher, tracker)
            answered = self.read_answers(turn, dispatcher, tracker, domain, notes)
            if not answered and not notes.attempted:
                self.repair(turn, dispatcher, tracker, notes)
            self.acknowledge(before, answered, dispatcher, tracker)
        if notes.stop:
            return _changed(before, tracker.slots)
        if notes.ask_next is None:
            self.give_up_after_three(tracker, dispatcher)
        question = notes.ask_next or self.next_question(dispatcher, tracker)
        if is_nurse(tracker):
            # The nurse console shows the running profile beside the chat. Sent before the
            # question: the web widget shows quick replies of the last message only.
            dispatcher.utter_message(
                json_message={
                    "type": "screening_profile",
                    "profile": profile_from_slots(tracker.current_slot_values()),
                    "asking": question,
                }
            )
        tracker.slots["asked"] = self.ask(dispatcher, tracker, question, notes) if question else None
        tracker.slots[REQUESTED_SLOT] = question
        events = _changed(before, tracker.slots)
        # Rasa's form reads a validation that sets nothing as "nothing extracted" and rejects it:
        # the question asked (requested_slot) and the ask count always go back, even unchanged.
        return events + [SlotSet(REQUESTED_SLOT, question)]

    def say(self, dispatcher: CollectingDispatcher, tracker: Tracker, name: str, **values: Any) -> None:
        """A domain response, worded for the slots as this turn has left them (actions/say.py)."""
        say(dispatcher, self._domain, tracker.slots, name, **values)

    def fallback_events(self, tracker: Tracker) -> List[EventType]:
        """What a failed validation returns: the same question again, no answer changed.

        Rasa's FormAction reads a validation that sets no slot as "nothing was
        extracted" and rejects the whole form, which drops our message. Re-setting
        the slot being asked to the value it already has (and the question to that
        slot) keeps the message and has the form ask the same question again.
        """
        requested = tracker.get_slot(REQUESTED_SLOT)
        if not requested:
            return []
        return [SlotSet(requested, tracker.get_slot(requested)), SlotSet(REQUESTED_SLOT, requested)]

    # --- who is speaking, and about whom ---------------------------------------------------

    def who_is_speaking(self, turn: reading.Turn, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        """A relative ("my dad has ...") is asked about "him" from now on; "I'm a nurse" switches mode."""
        updates, says = reading.who_is_speaking(turn, tracker.slots)
        tracker.slots.update(updates)
        for name in says:
            self.say(dispatcher, tracker, name)

    # --- answers ----------------------------------------------------------------------------

    def read_answers(
        self, turn: reading.Turn, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict, notes: TurnNotes
    ) -> Dict[str, Any]:
        """Validate every answer the message holds; the accepted values (slot -> value)."""
        requested = tracker.get_slot(REQUESTED_SLOT)
        accepted: Dict[str, Any] = {}
        found = reading.answers(turn, requested)
        notes.attempted = requested in found
        for slot, raw in found.items():
            messages_before = len(dispatcher.messages)
            result = getattr(self, f"validate_{slot}")(raw, dispatcher, tracker, domain)
            tracker.slots.update(result)
            if result.get(slot) is not None:
                accepted.update({k: v for k, v in result.items() if v is not None})
                if slot != requested:
                    tracker.slots["answered"] = _answered(tracker, slot)
            elif slot == requested and len(dispatcher.messages) > messages_before:
                notes.explained = True
        if requested in accepted:
            tracker.slots["answered"] = _answered(tracker, requested)
        return accepted

    def acknowledge(
        self, before: Dict[str, Any], accepted: Dict[str, Any], dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> None:
        """Say back what was taken from a message in the person's own words, so they can correct it.

        A changed answer: "Updated: age 61 → 67". An answer to another question
        than the one asked, or a description read as a grade or a treatment:
        "I noted: larynx, stage IVA".
        """
        requested = before.get(REQUESTED_SLOT)
        language = languages.of(tracker)
        noted, updated = [], []
        for slot in FORM_SLOTS:
            if slot not in accepted or slot == "consent":
                continue
            old, new = before.get(slot), tracker.get_slot(slot)
            if old == new or new == UNKNOWN:
                continue
            if old is not None and old != UNKNOWN:
                updated.append(_change(slot, old, new, language))
            elif slot == "ecog" and self._notes.described and isinstance(new, (int, list)):
                # One grade, or two when the words were of both ("still works, wiped out by evening").
                grades = new if isinstance(new, list) else [new]
                joiner = messages.text("or", language)
                self.say(
                    dispatcher,
                    tracker,
                    "utter_understood_ecog",
                    grade=joiner.join(str(g) for g in grades),
                    words=messages.text("quoted_or", language).join(_ecog_words(g, language) for g in grades),
                )
            elif slot in self._notes.echoed:
                continue
            elif slot != requested:
                noted.append(value_label(slot, new, language))
        if updated:
            self.say(dispatcher, tracker, "utter_updated", what=messages.text("item_joiner", language).join(updated))
        if noted:
            self.say(dispatcher, tracker, "utter_noted", what=messages.text("list_joiner", language).join(noted))

    # --- a message that answers nothing ----------------------------------------------------

    def repair(self, turn: reading.Turn, dispatcher: CollectingDispatcher, tracker: Tracker, notes: TurnNotes) -> None:
        """Answer what the message is when it is no answer: a question, a skip, a correction..."""
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested and not turn.command and normalize.asks_what_is_meant(turn.text):
            # "What do you mean?" about the question just asked, whatever intent the NLU guessed.
            self.say(dispatcher, tracker, EXPLAINED_BY.get(requested, f"utter_hint_{requested}"))
            notes.explained = True
        elif turn.is_question:
            self.say(dispatcher, tracker, reading.QUESTION_INTENTS[turn.intent])
            notes.explained = True
        elif turn.intent == "skip" and requested:
            self.skip(requested, dispatcher, tracker)
        elif turn.intent == "go_back":
            notes.ask_next = self.go_back(dispatcher, tracker)
            notes.explained = True
        elif turn.intent == "correct" and reading.named_field(turn.text):
            notes.ask_next = self.forget(reading.named_field(turn.text), tracker)
            self.say(dispatcher, tracker, "utter_correction_ask")
            notes.explained = True
        elif turn.intent in ("greet", "start_screening", "i_am_nurse"):
            if tracker.get_slot("asked"):  # "let's carry on" only once a question was asked
                self.say(dispatcher, tracker, "utter_resume")
            notes.explained = True
        elif turn.intent == "delete_my_data":  # not a control: the words ask about the data
            self.say(dispatcher, tracker, "utter_privacy_answer")
            notes.explained = True
        elif turn.intent in ("ask_trial_details", "ask_why_not"):
            self.say(dispatcher, tracker, "utter_trials_after_questions")
            notes.explained = True
        elif turn.intent == "goodbye":
            self.say(dispatcher, tracker, "utter_goodbye_mid_form")
            notes.stop = True
        elif turn.intent == "out_of_scope":
            self.say(dispatcher, tracker, "utter_out_of_scope")
        elif turn.intent == "chitchat":
            self.say(dispatcher, tracker, "utter_chitchat")

    def skip(self, slot: str, dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
        if slot == "consent":
            return
        self.say(dispatcher, tracker, "utter_skipped")
        tracker.slots[slot] = UNKNOWN
        tracker.slots["answered"] = _answered(tracker, slot)

    def go_back(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[str]:
        """Forget the last answer so its question is asked again."""
        answered = [s for s in (tracker.get_slot("answered") or []) if s != "consent"]
        if not answered:
            self.say(dispatcher, tracker, "utter_nothing_to_go_back_to")
            return None
        self.say(dispatcher, tracker, "utter_went_back")
        return self.forget(answered[-1], tracker)

    def forget(self, slot: Optional[str], tracker: Tracker) -> Optional[str]:
        if slot is None:
            return None
        tracker.slots[slot] = None
        if slot == "stage":
            tracker.slots["tnm"] = None
        tracker.slots["answered"] = [s for s in (tracker.get_slot("answered") or []) if s != slot]
        return slot

    def give_up_after_three(self, tracker: Tracker, dispatcher: CollectingDispatcher) -> None:
        """A question asked three times in a row and still unanswered is recorded as unknown."""
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested is None or tracker.get_slot(requested) is not None:
            return
        if not questions.exhausted(tracker.get_slot("asked"), requested):
            return
        if requested == "consent":
            tracker.slots["consent"] = False
            self.say(dispatcher, tracker, "utter_no_consent")
            return
        tracker.slots[requested] = UNKNOWN
        tracker.slots["answered"] = _answered(tracker, requested)
        self.say(dispatcher, tracker, "utter_marked_unknown")

    def ask(self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, notes: TurnNotes) -> dict:
        """Ask ``slot``; the new value of the ``asked`` slot (which question, how many times in a row)."""
        nurse = is_nurse(tracker)
        if tracker.get_slot("asked") is None and tracker.get_slot(REQUESTED_SLOT) == slot:
            tracker.slots["asked"] = {"slot": slot, "times": 1}  # asked before the count was kept
        if slot in notes.buttons:  # a validation chose the choices (e.g. the sites "throat" may mean)
            times = questions.times_asked(tracker.get_slot("asked"), slot) + 1
            language = languages.of(tracker)
            buttons = list(notes.buttons[slot]) + [questions.not_sure(language)]
            if times >= questions.MAX_ASKS:
                buttons.append(questions.skip(language))
            self.say(dispatcher, tracker, f"utter_question_{slot}_choice", buttons=buttons)
            return {"slot": slot, "times": times}
        return questions.ask(
            dispatcher,
            self._domain,
            tracker.slots,
            slot,
            tracker.get_slot("asked"),
            nurse=nurse,
            carer=bool(tracker.get_slot("carer")) and not nurse,
            explained=notes.explained,
        )

    # --- which question comes next ------------------------------------------------------------

    def next_question(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[str]:
        slots = tracker.current_slot_values()
        if slots.get("consent") is not True:
            return None if slots.get("consent") is False else "consent"
        profile = profile_from_slots(slots)
        possible = engine.still_possible(profile, scope=SCOPE)
        # Questions serve the trials a screening can settle; partial records are listed
        # in the result with their open points for the study team, but ask nothing.
        decisive = engine.decisive()
        if not engine.still_possible(profile, scope=SCOPE, among=decisive) and any(
            slots.get(s) is not None for s in CORE
        ):
            if slots.get(REQUESTED_SLOT) is not None:
                self.say(dispatcher, tracker, "utter_no_trial_fits")
            return None
        for slot in CORE:
            if slots.get(slot) is None:
                return slot
        answered = [f for f in FOLLOW_UPS if slots.get(f) is not None]
        question = engine.next_question(profile, scope=SCOPE, askable=FOLLOW_UPS, asked=answered, among=decisive)
        if question is not None:
            return question.field
        if slots.get("location") is None and len(possible) >= 2:
            return "location"
        return None

    # --- validation: one method per slot, always through knowledge.normalize ----------

    def validate_consent(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if value is True or value is False:
            return {"consent": value}
        answer = normalize.yes_no(str(value))
        if answer == "yes":
            return {"consent": True}
        if answer == "no":
            self.say(dispatcher, tracker, "utter_no_consent")
            return {"consent": False}
        return {"consent": None}

    def validate_age(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if is_unknown(value):
            return {"age": UNKNOWN}
        age = normalize.age(value if isinstance(value, int) and not isinstance(value, bool) else str(value))
        if age is None:
            return {"age": None}
        if age.value is None:
            self.say(dispatcher, tracker, "utter_invalid_age")
            return {"age": None}
        if age.minor:
            self.say(dispatcher, tracker, "utter_minor")
        return {"age": age.value}

    def validate_tumor_site(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if is_unknown(value):
            self._notes.buttons["tumor_site"] = questions.site_buttons(language=languages.of(tracker))
            self.say(dispatcher, tracker, "utter_site_not_sure")
            return {"tumor_site": None}
        site = _site(str(value), tracker)
        if site is None:
            self.say(dispatcher, tracker, "utter_site_unknown")
            self._notes.buttons["tumor_site"] = questions.site_buttons(language=languages.of(tracker))
            return {"tumor_site": None}
        if site.ambiguous:
            # One word for several places ("throat"), or several places named ("laryngeal, not
            # nasopharyngeal"): said in the person's words, then the places as buttons.
            words = dict.fromkeys(word for word, _ in site.named) or [site.matched]
            matched = ("、" if languages.of(tracker) == "zh" else ", ").join(words)
            self.say(
                dispatcher, tracker, "utter_site_several" if site.several else "utter_site_ambiguous", matched=matched
            )
            self._notes.buttons["tumor_site"] = questions.site_buttons(list(site.codes), languages.of(tracker))
            return {"tumor_site": None}
        if not site.in_scope:
            self.say(
                dispatcher,
                tracker,
                "utter_out_of_scope_cancer",
                tumor_site_label=value_label("tumor_site", site.code, languages.of(tracker)),
            )
        return {"tumor_site": site.code, **_restaged(tracker, tumor_site=site.code)}

    def validate_stage(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if isinstance(value, list) and all(v in vocab.field("stage").values for v in value):
            return {"stage": value}
        if is_unknown(value):
            self.say(dispatcher, tracker, "utter_stage_hint")
            return {"stage": UNKNOWN, "tnm": None, "stage_ajcc7": None}
        text = str(value)
        if "," in text or text in vocab.field("stage").values:  # a command's value: stage codes
            codes = [c for c in text.split(",") if c in vocab.field("stage").values]
            if codes:
                return {"stage": codes, "tnm": None, "stage_ajcc7": None}
        site = tracker.get_slot("tumor_site")
        p16 = tracker.get_slot("p16")
        result = normalize.stage(text, _staged_site(site), p16 if p16 in ("positive", "negative") else None)
        if result is None:
            return {"stage": None}
        if result.unknown:
            self.say(dispatcher, tracker, "utter_stage_tnm_unknown" if result.tnm is not None else "utter_stage_hint")
        tnm = None if result.tnm is None else f"{result.tnm.prefix}{result.tnm.t}{result.tnm.n}{result.tnm.m or ''}"
        return {"stage": result.value, "tnm": tnm, "stage_ajcc7": result.ajcc7_value}

    def validate_ecog(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        # Who judged the grade: a nurse's (clinician) or the patient's own words, which the study
        # team reviews against an "ECOG 0-1" criterion rather than ruling the patient out.
        source = {"ecog_source": "clinician" if is_nurse(tracker) else "patient"}
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 4:
            return {"ecog": value, **source}
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
            return {"ecog": value, **source}
        if is_unknown(value):
            return {"ecog": UNKNOWN}
        text = str(value)
        if "-" in text and all(p.strip().isdigit() for p in text.split("-")):  # entity "1-2"
            low, high = (int(p) for p in text.split("-"))
            return {"ecog": [low, high] if low != high else low, **source}
        result = normalize.ecog(text)
        if result is None:
            return {"ecog": None}
        if result.unknown:
            return {"ecog": UNKNOWN}
        self._notes.described = result.source == "description"
        return {"ecog": list(result.value) if isinstance(result.value, tuple) else result.value, **source}

    def validate_prior_treatment(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        """A treatment answer, read as lines of therapy (knowledge/therapy.py).

        The fields the lines settle are taken (received treatment, the
        immunotherapy's own cycles and response, a recurrence); the ones they
        leave open are cleared, so the form asks them if they matter, never a
        guess from "the first number". A late answer (not to this question)
        adds to the history told before instead of replacing it.
        """
        if isinstance(value, list) and all(v in vocab.field("prior_treatment").values for v in value):
            return {"prior_treatment": value}
        text = str(value)
        earlier = tracker.get_slot("treatment_text")
        if earlier and tracker.get_slot(REQUESTED_SLOT) != "prior_treatment":
            text = f"{earlier}. {text}"
        history = therapy.read(text)
        if history is None:
            return {"prior_treatment": UNKNOWN} if is_unknown(value) else {"prior_treatment": None}
        derived = therapy.derive(history)
        if history.unknown and "prior_treatment" not in derived.fields:
            return {"prior_treatment": UNKNOWN}
        slots: Dict[Text, Any] = {
            "prior_treatment": derived.fields.get("prior_treatment"),
            "treatment_text": text,
            "drugs": sorted({d for line in history.lines if line.given for d in line.drugs}) or None,
        }
        for name in ("immunotherapy_cycles", "immunotherapy_response", "pathologic_response", "recurrent"):
            if name in derived.fields:
                slots[name] = derived.fields[name]
            elif name in derived.unsettled:
                slots[name] = None  # asked next, if it can change a verdict
        reason = derived.unsettled.get("prior_treatment")
        if reason:
            self.say(
                dispatcher, tracker, f"utter_treatment_{reason}", what=therapy.describe(history, languages.of(tracker))
            )
            self._notes.explained = True
            return slots
        self.say(dispatcher, tracker, "utter_treatment_noted", what=therapy.describe(history, languages.of(tracker)))
        self._notes.echoed.update(slots)  # cycles, response, recurrence: said back in that one line
        return slots

    def validate_p16(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        answer = (
            UNKNOWN if is_unknown(value) else normalize.p16(str(value)) or _yes_no_as(value, "positive", "negative")
        )
        if answer is None:
            return {"p16": None}
        restaged = _restaged(tracker, p16=answer) if answer in ("positive", "negative") else {}
        return {"p16": answer, **restaged}

    def validate_differentiation(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("differentiation", value, normalize.differentiation)

    def validate_histology(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        codes = vocab.field("histology").values
        if value in codes or isinstance(value, list) and value and all(v in codes for v in value):
            return {"histology": value}  # an entity's code, or the codes words may mean at this site
        if is_unknown(value):
            return {"histology": UNKNOWN}
        answer = normalize.histology(str(value), _staged_site(tracker.get_slot("tumor_site"))) or _yes_no_as(
            value, "squamous_cell_carcinoma", "other"
        )
        if answer is None and "another" in str(value).lower():
            answer = "other"
        return {"histology": answer}

    def validate_immunotherapy_response(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("immunotherapy_response", value, normalize.response)

    def validate_immunotherapy_cycles(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        """A count of the immunotherapy's cycles: a number, a range [low, high] ("4 or 5"),
        or, when the answer names treatments, the immunotherapy's own count as the
        treatment reader places it ("6 of pembro, 3 of TPF" is 6)."""
        top = vocab.field("immunotherapy_cycles").max
        if isinstance(value, int) and not isinstance(value, bool):
            return {"immunotherapy_cycles": value if 0 <= value <= top else None}
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
            return {"immunotherapy_cycles": value}
        if is_unknown(value):
            return {"immunotherapy_cycles": UNKNOWN}
        text = str(value)
        history = therapy.read(text)
        if history is not None and history.lines:
            derived = therapy.derive(history)
            cycles = derived.fields.get("immunotherapy_cycles")
            if cycles is None:
                cycles = _one_count(history)
            return {"immunotherapy_cycles": cycles}
        numbers = [int(n) for n in re.findall(r"(?<![\d.])(\d{1,2})(?![\d.])", text)] or (
            [int(normalize.first_number(text))] if normalize.first_number(text) is not None else []
        )
        if not numbers or not all(0 <= n <= top for n in numbers) or len(set(numbers)) > 2:
            return {"immunotherapy_cycles": None}
        low, high = min(numbers), max(numbers)
        return {"immunotherapy_cycles": low if low == high else [low, high]}

    def validate_pathologic_response(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("pathologic_response", value, normalize.pathologic_response)

    def validate_recurrent(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("recurrent", value, normalize.yes_no)

    def validate_resectable(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("resectable", value, normalize.yes_no)

    def validate_other_cancer_5y(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("other_cancer_5y", value, normalize.yes_no)

    def validate_sex(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if value in ("female", "male", UNKNOWN):
            return {"sex": value}
        return {"sex": normalize.sex(str(value))}

    def validate_pregnant(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("pregnant", value, normalize.yes_no)

    def validate_location(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if is_unknown(value):
            return {"location": UNKNOWN}
        place = normalize.location(str(value))
        if place is not None and place.kind in ("anywhere", "country"):
            self.say(dispatcher, tracker, "utter_location_no_order")
        return {"location": place.name if place else None}


# --- helpers ------------------------------------------------------------------------------------


def _site(value: str, tracker: Tracker) -> Optional[normalize.Site]:
    """The site an answer names: typed words, or the codes the NLU tagged ("larynx|nasopharynx"
    when a message named two places), read back from the message to keep the person's words."""
    codes = value.split("|") if "|" in value and all(c in vocab.sites() for c in value.split("|")) else None
    if codes is None:
        return normalize.site(value, typos=True)
    said = normalize.site((tracker.latest_message or {}).get("text") or "", typos=True)
    if said is not None and (set(said.codes) == set(codes) or said.code in codes):
        return said  # the same places, or the one of them the words settle ("tounge" beside "neck")
    # Tagged by a button or by words the normaliser does not read: the places by their names.
    named = tuple((value_label("tumor_site", code, languages.of(tracker)), (code,)) for code in codes)
    return normalize.Site(tuple(codes), named[0][0], named)


def _changed(before: Dict[str, Any], after: Dict[str, Any]) -> List[EventType]:
    """SlotSet events for every slot whose value this turn changed."""
    return [SlotSet(k, v) for k, v in after.items() if k != REQUESTED_SLOT and before.get(k) != v]


def _answered(tracker: Tracker, slot: str) -> List[str]:
    """The answer order (for "go back"), with ``slot`` moved to the end."""
    return [s for s in (tracker.get_slot("answered") or []) if s != slot] + [slot]


def _change(slot: str, old: Any, new: Any, language: Optional[str] = "en") -> str:
    """ "age 71 → 76", "recurrent disease: no → yes": one changed answer, named once."""
    before, after = value_label(slot, old, language), value_label(slot, new, language)
    label = field_label(slot, language)
    if before.startswith(label) and after.startswith(label):
        return f"{before} \u2192 {after[len(label) :].lstrip(': ：')}"
    return messages.text("change", language, field=label, old=before, new=after)


def _ecog_words(grade: int, language: Optional[str] = "en") -> str:
    """The everyday words of an ECOG grade (ecog.yaml), to say back what was understood."""
    entry = next(g for g in vocab.load("ecog")["grades"] if g["grade"] == grade)
    return vocab.text(entry, "carer" if entry.get("carer") else "patient", language)


def _yes_no_as(value: Any, yes: str, no: str) -> Optional[str]:
    answer = normalize.yes_no(str(value))
    return {"yes": yes, "no": no, "unknown": UNKNOWN}.get(answer or "")


def _validate_code(slot: str, value: Any, read) -> Dict[Text, Any]:
    """A small categorical answer: "don't know" or a code ``read`` finds (None: ask again)."""
    if vocab.fields().get(slot) is not None and value in (vocab.field(slot).values or []):
        return {slot: value}
    return {slot: UNKNOWN if is_unknown(value) else read(str(value))}


def _staged_site(site: Optional[str]) -> Optional[str]:
    return site if site in vocab.sites() else None


def _restaged(tracker: Tracker, **changed: str) -> Dict[Text, Any]:
    """Recompute the stage from a TNM the user gave once site or p16 become known."""
    tnm = tracker.get_slot("tnm")
    if not tnm:
        return {}
    site = changed.get("tumor_site", tracker.get_slot("tumor_site"))
    p16 = changed.get("p16", tracker.get_slot("p16"))
    result = normalize.stage(tnm, _staged_site(site), p16 if p16 in ("positive", "negative") else None)
    return {} if result is None else {"stage": result.value, "stage_ajcc7": result.ajcc7_value}


def _one_count(history: therapy.History) -> Any:
    """The one count an answer to "how many cycles of the immunotherapy itself?" gives, when
    it names the immunotherapy's line only; None when it gives several."""
    counts = {c.value for line in history.lines if line.immunotherapy for c in line.counts if c.value is not None}
    if len(counts) != 1:
        return None
    count = counts.pop()
    return list(count) if isinstance(count, tuple) else count
