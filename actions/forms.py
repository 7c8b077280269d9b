"""The pre-screening form: extract, validate, and choose the next question.

Every slot has an ``extract_<slot>`` (where the answer comes from: the whole
message when it answers the question asked, or an entity when the user
volunteers it, e.g. "I'm 61 with stage 4a cancer of the hypopharynx") and a
``validate_<slot>`` (what it means: always through ``knowledge.normalize``, so
typed words, buttons and injected ``/inform{...}`` commands are checked alike).

The next question is ours, not the domain's list: the five core questions in
order, then only the follow-ups ``knowledge.engine.next_question`` says can
still change a verdict, then the patient's city when more than one trial may
fit. As soon as no trial can fit, the form stops asking.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.types import DomainDict

from knowledge import engine, geo, normalize, vocab

from .profile import CORE, FOLLOW_UPS, FORM_SLOTS, SCOPE, UNKNOWN, is_nurse, profile_from_slots, site_label
from .safety import guarded

logger = logging.getLogger(__name__)

# Answers longer than this are not read further (a pasted letter is not an answer).
MAX_ANSWER_CHARS = 1000
# Intents that are never an answer to the question asked.
NOT_ANSWERS = {
    "greet", "goodbye", "start_screening", "i_am_nurse", "ask_what_is_ecog", "ask_what_is_stage",
    "ask_what_is_p16", "ask_why_needed", "ask_what_is_this", "ask_trial_details", "ask_why_not",
    "go_back", "skip", "restart", "bot_challenge", "chitchat", "out_of_scope", "nlu_fallback",
    "delete_my_data",
}
# Intents that steer the conversation: never read as an answer, even when they name a city.
CONTROL_INTENTS = {"restart", "goodbye", "go_back", "skip", "correct", "delete_my_data", "ask_trial_details", "ask_why_not"}
# Entities that carry each slot's value when the user volunteers it unasked.
SLOT_ENTITIES = {
    "age": ("age",),
    "tumor_site": ("tumor_site",),
    "stage": ("tnm", "stage"),
    "ecog": ("ecog",),
    "prior_treatment": ("treatment", "drug"),
    "p16": ("p16",),
    "differentiation": ("differentiation",),
    "immunotherapy_response": ("response",),
    "immunotherapy_cycles": ("cycles",),
}
ALL_SLOT_ENTITIES = {e for names in SLOT_ENTITIES.values() for e in names}
YES_NO_SLOTS = ("recurrent", "resectable", "other_cancer_5y", "pregnant")
FAILURES_BEFORE_OFFERING_SKIP = 2


def _message(tracker: Tracker) -> tuple[str, str | None, list[dict]]:
    latest = tracker.latest_message or {}
    text = (latest.get("text") or "")[:MAX_ANSWER_CHARS]
    intent = (latest.get("intent") or {}).get("name")
    return text, intent, latest.get("entities") or []


def _entity_values(entities: list[dict], names: tuple[str, ...]) -> list[str]:
    return [str(e.get("value")) for e in entities if e.get("entity") in names and e.get("value") is not None]


def raw_answer(tracker: Tracker, slot: str) -> Optional[str]:
    """What the latest message says about ``slot``, before validation.

    An entity for the slot wins (it may come from the NLU component or from a
    button's ``/inform{...}`` payload). The whole text counts only when the
    slot is the question being asked and the message is not about other
    slots ("sorry, I'm actually 16" at the ECOG question is about age).
    """
    text, intent, entities = _message(tracker)
    if slot == "location" and intent not in CONTROL_INTENTS and not text.startswith("/") and geo.city(text):
        return text  # a known city is an answer whatever the intent, even after a result
    if intent in NOT_ANSWERS:
        return None
    found = _entity_values(entities, SLOT_ENTITIES.get(slot, ()))
    if found:
        return " ".join(found) if slot == "prior_treatment" else found[0]
    if tracker.get_slot(REQUESTED_SLOT) != slot:
        return None
    if intent == "dont_know":  # the words, so the validator can answer them (e.g. the stage hint)
        return "don't know" if text.startswith("/") else text
    if intent in ("affirm", "deny") and (slot in YES_NO_SLOTS or slot == "consent"):
        return "yes" if intent == "affirm" else "no"
    if text.startswith("/"):
        return None  # a command with no value for this slot
    if _entity_values(entities, tuple(ALL_SLOT_ENTITIES)):
        return None
    return text


def canonical(slot: str, value: Any) -> bool:
    """True when ``value`` is already what validation produces for ``slot``.

    Slots set by other actions (skip, go back, a re-screen) are validated again
    on the next turn; a canonical value must pass through unchanged.
    """
    if value == UNKNOWN:
        return True
    if slot in ("stage", "prior_treatment"):
        codes = vocab.field(slot).values
        return isinstance(value, list) and all(v in codes for v in value)
    if slot in ("age", "immunotherapy_cycles"):
        return isinstance(value, int) and not isinstance(value, bool)
    if slot == "ecog":
        return (isinstance(value, int) and 0 <= value <= 4) or (
            isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value))
    if slot == "consent":
        return isinstance(value, bool)
    if slot in vocab.fields() and slot != "tumor_site":  # the site's validator also explains out-of-scope cancers
        field = vocab.field(slot)
        return field.type == "category" and value in field.values
    return False


def validator(method):
    """Wrap ``validate_<slot>``: a cleared slot stays cleared and a canonical value
    (set by skip, go back or a re-screen) passes unchanged, without messages."""
    slot = method.__name__[len("validate_"):]

    @functools.wraps(method)
    def wrapper(self, value, dispatcher, tracker, domain):
        if value is None or canonical(slot, value):
            return {slot: value}
        return method(self, value, dispatcher, tracker, domain)

    return wrapper


class ValidatePrescreeningForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_prescreening_form"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        """FormValidationAction.run (extract, validate, next question), with errors caught."""
        return await super().run(dispatcher, tracker, domain)

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

    # --- which slots the form handles, and which question comes next ------------------

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> List[Text]:
        """Every form slot is extracted and validated on every turn (answers may come
        unasked); the question to ask is chosen in ``next_requested_slot``."""
        return list(FORM_SLOTS)

    async def next_requested_slot(self, dispatcher, tracker, domain) -> Optional[EventType]:
        question = self.next_question(dispatcher, tracker)
        if is_nurse(tracker):
            # The nurse console shows the running profile beside the chat.
            dispatcher.utter_message(json_message={
                "type": "screening_profile",
                "profile": profile_from_slots(tracker.current_slot_values()),
                "asking": question,
            })
        return SlotSet(REQUESTED_SLOT, question)

    def next_question(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[str]:
        slots = tracker.current_slot_values()
        if slots.get("consent") is not True:
            return None if slots.get("consent") is False else "consent"
        profile = profile_from_slots(slots)
        verdicts = engine.verdicts(profile, scope=SCOPE)
        possible = [nct for nct, verdict in verdicts.items() if verdict != "ineligible"]
        # Questions serve the trials a screening can settle; partial records are listed
        # in the result with their open points for the study team, but ask nothing.
        decisive = engine.decisive()
        if not (set(possible) & decisive) and any(slots.get(s) is not None for s in CORE):
            if slots.get(REQUESTED_SLOT) is not None:
                dispatcher.utter_message(response="utter_no_trial_fits")
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

    # --- bookkeeping over every validation: answer order and repeated failures --------

    async def get_validation_events(self, dispatcher, tracker, domain) -> List[EventType]:
        events = await super().get_validation_events(dispatcher, tracker, domain)
        requested = tracker.get_slot(REQUESTED_SLOT)
        answered = list(tracker.get_slot("answered") or [])
        failed = dict(tracker.get_slot("failed") or {})
        for event in events:
            if event.get("event") != "slot" or event["name"] not in FORM_SLOTS:
                continue
            name, value = event["name"], event["value"]
            if value is None and name == requested:
                failed[name] = failed.get(name, 0) + 1
                if failed[name] >= FAILURES_BEFORE_OFFERING_SKIP:
                    dispatcher.utter_message(response="utter_offer_skip")
            elif value is not None:
                failed.pop(name, None)
                if name in answered:
                    answered.remove(name)
                answered.append(name)
        # Bookkeeping only when it changed: a turn that sets no slot at all (skip, go back,
        # "what is ECOG?") must let Rasa's form reject it, so the rules for those run.
        if answered != list(tracker.get_slot("answered") or []):
            events.append(SlotSet("answered", answered))
        if failed != dict(tracker.get_slot("failed") or {}):
            events.append(SlotSet("failed", failed))
        return events

    # --- extraction: one method per slot ------------------------------------------------

    async def extract_consent(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("consent", raw_answer(tracker, "consent"))

    async def extract_age(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("age", raw_answer(tracker, "age"))

    async def extract_tumor_site(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("tumor_site", raw_answer(tracker, "tumor_site"))

    async def extract_stage(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("stage", raw_answer(tracker, "stage"))

    async def extract_ecog(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("ecog", raw_answer(tracker, "ecog"))

    async def extract_prior_treatment(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("prior_treatment", raw_answer(tracker, "prior_treatment"))

    async def extract_p16(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("p16", raw_answer(tracker, "p16"))

    async def extract_differentiation(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("differentiation", raw_answer(tracker, "differentiation"))

    async def extract_histology(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("histology", raw_answer(tracker, "histology"))

    async def extract_immunotherapy_response(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("immunotherapy_response", raw_answer(tracker, "immunotherapy_response"))

    async def extract_immunotherapy_cycles(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("immunotherapy_cycles", raw_answer(tracker, "immunotherapy_cycles"))

    async def extract_pathologic_response(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("pathologic_response", raw_answer(tracker, "pathologic_response"))

    async def extract_recurrent(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("recurrent", raw_answer(tracker, "recurrent"))

    async def extract_resectable(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("resectable", raw_answer(tracker, "resectable"))

    async def extract_other_cancer_5y(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("other_cancer_5y", raw_answer(tracker, "other_cancer_5y"))

    async def extract_pregnant(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("pregnant", raw_answer(tracker, "pregnant"))

    async def extract_location(self, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _extracted("location", raw_answer(tracker, "location"))

    # --- validation: one method per slot, always through knowledge.normalize ----------

    @validator
    def validate_consent(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        answer = normalize.yes_no(str(value))
        if answer == "yes":
            return {"consent": True}
        if answer == "no":
            dispatcher.utter_message(response="utter_no_consent")
            return {"consent": False}
        dispatcher.utter_message(text="Please answer yes to go ahead, or no to stop here.")
        return {"consent": None}

    @validator
    def validate_age(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _is_unknown(value):
            return {"age": UNKNOWN}
        age = normalize.age(str(value))
        if age is None:
            dispatcher.utter_message(text="I couldn't read an age in that. Please type your age in years, for example 58.")
            return {"age": None}
        if age.value is None:
            dispatcher.utter_message(text="That doesn't look like a possible age. Please type your age in years, for example 58.")
            return {"age": None}
        if age.minor:
            dispatcher.utter_message(response="utter_minor")
        return {"age": age.value}

    @validator
    def validate_tumor_site(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _is_unknown(value):
            _offer_sites(dispatcher, vocab.head_and_neck_sites(), "That's fine. Which of these is closest?")
            return {"tumor_site": None}
        text = str(value)
        codes = text.split("|") if "|" in text and all(c in vocab.sites() for c in text.split("|")) else None
        site = normalize.Site(tuple(codes), text) if codes else normalize.site(text)
        if site is None:
            _offer_sites(dispatcher, vocab.head_and_neck_sites(),
                         "I don't recognise that part of the head or neck. Which of these is closest?")
            return {"tumor_site": None}
        if site.ambiguous:
            _offer_sites(dispatcher, list(site.codes), f'"{site.matched}" can mean several places. Which one is it?')
            return {"tumor_site": None}
        if not site.in_scope:
            dispatcher.utter_message(response="utter_out_of_scope_cancer", tumor_site_label=site_label(site.code))
        return {"tumor_site": site.code, **_restaged(tracker, tumor_site=site.code)}

    @validator
    def validate_stage(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _is_unknown(value):
            dispatcher.utter_message(response="utter_stage_hint")
            return {"stage": UNKNOWN, "tnm": None}
        text = str(value)
        if "," in text or text in vocab.field("stage").values:  # an entity value: stage codes
            codes = [c for c in text.split(",") if c in vocab.field("stage").values]
            if codes:
                return {"stage": codes, "tnm": None}
        site = tracker.get_slot("tumor_site")
        p16 = tracker.get_slot("p16")
        result = normalize.stage(text, _staged_site(site), p16 if p16 in ("positive", "negative") else None)
        if result is None:
            dispatcher.utter_message(
                text="I couldn't read a stage in that. You can type it like \"stage 3\", \"4a\" or \"T2 N1 M0\", "
                     "or say you don't know.")
            return {"stage": None}
        if result.unknown:
            if result.tnm is not None:
                dispatcher.utter_message(text="I can't work out a stage group from that TNM for this site, so I'll mark the stage as unknown.")
            else:
                dispatcher.utter_message(response="utter_stage_hint")
        tnm = None if result.tnm is None else f"{result.tnm.prefix}{result.tnm.t}{result.tnm.n}{result.tnm.m or ''}"
        return {"stage": result.value, "tnm": tnm}

    @validator
    def validate_ecog(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _is_unknown(value):
            return {"ecog": UNKNOWN}
        text = str(value)
        if "-" in text and all(p.strip().isdigit() for p in text.split("-")):  # entity "1-2"
            low, high = (int(p) for p in text.split("-"))
            return {"ecog": [low, high] if low != high else low}
        result = normalize.ecog(text)
        if result is None:
            dispatcher.utter_message(text="Sorry, I didn't get that. Please pick the description closest to you, or say you're not sure.")
            return {"ecog": None}
        if result.unknown:
            return {"ecog": UNKNOWN}
        return {"ecog": list(result.value) if isinstance(result.value, tuple) else result.value}

    @validator
    def validate_prior_treatment(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _is_unknown(value):
            return {"prior_treatment": UNKNOWN}
        result = normalize.treatment(str(value))
        if result is None:
            dispatcher.utter_message(
                text="Sorry, I didn't get that. You can say \"none yet\", or name treatments such as surgery, "
                     "radiotherapy, chemotherapy or a drug like pembrolizumab.")
            return {"prior_treatment": None}
        slots: Dict[Text, Any] = {"prior_treatment": result.value, "drugs": list(result.drugs) or None}
        had_immunotherapy = result.categories and result.categories & {"anti_pd1", "anti_pdl1", "immunotherapy_unspecified"}
        if had_immunotherapy and result.cycles is not None:
            slots["immunotherapy_cycles"] = result.cycles
        if had_immunotherapy and result.response:
            slots["immunotherapy_response"] = result.response
        if result.pathologic_response:
            slots["pathologic_response"] = result.pathologic_response
        return slots

    @validator
    def validate_p16(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        answer = UNKNOWN if _is_unknown(value) else normalize.p16(str(value)) or _yes_no_as(value, "positive", "negative")
        if answer is None:
            return _ask_again(dispatcher, "p16", "Please answer positive, negative, or that it wasn't tested.")
        restaged = _restaged(tracker, p16=answer) if answer in ("positive", "negative") else {}
        return {"p16": answer, **restaged}

    @validator
    def validate_differentiation(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("differentiation", value, normalize.differentiation, dispatcher, "Please answer well, moderately or poorly differentiated, or don't know.")

    @validator
    def validate_histology(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _is_unknown(value):
            return {"histology": UNKNOWN}
        answer = normalize.histology(str(value)) or _yes_no_as(value, "squamous_cell_carcinoma", "other")
        if answer is None and "another" in str(value).lower():
            answer = "other"
        if answer is None:
            return _ask_again(dispatcher, "histology", "Please answer yes if it is squamous cell carcinoma, no if not, or don't know.")
        return {"histology": answer}

    @validator
    def validate_immunotherapy_response(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("immunotherapy_response", value, normalize.response, dispatcher, "Please say whether it disappeared, shrank, stayed about the same or grew.")

    @validator
    def validate_immunotherapy_cycles(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _is_unknown(value):
            return {"immunotherapy_cycles": UNKNOWN}
        number = normalize.first_number(str(value))
        if number is None or not 0 <= number <= vocab.field("immunotherapy_cycles").max:
            return _ask_again(dispatcher, "immunotherapy_cycles", "Please type the number of cycles, for example 3.")
        return {"immunotherapy_cycles": int(number)}

    @validator
    def validate_pathologic_response(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_code("pathologic_response", value, normalize.pathologic_response, dispatcher, "Please answer pCR, MPR, neither, or don't know.")

    @validator
    def validate_recurrent(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_yes_no("recurrent", value, dispatcher)

    @validator
    def validate_resectable(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_yes_no("resectable", value, dispatcher)

    @validator
    def validate_other_cancer_5y(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_yes_no("other_cancer_5y", value, dispatcher)

    @validator
    def validate_pregnant(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return _validate_yes_no("pregnant", value, dispatcher)

    @validator
    def validate_location(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        if _is_unknown(value) or normalize.yes_no(str(value)) == "no":
            return {"location": UNKNOWN}
        city = geo.city(str(value))
        if city is None:
            return _ask_again(dispatcher, "location", "I don't know that place. Try the nearest large city, or say skip.")
        return {"location": city.name}


# --- helpers ------------------------------------------------------------------------------------


def _extracted(slot: str, raw: Optional[str]) -> Dict[Text, Any]:
    return {} if raw is None else {slot: raw}


def _is_unknown(value: Any) -> bool:
    return value == UNKNOWN or (isinstance(value, str) and normalize.is_unknown(value))


def _yes_no_as(value: Any, yes: str, no: str) -> Optional[str]:
    answer = normalize.yes_no(str(value))
    return {"yes": yes, "no": no, "unknown": UNKNOWN}.get(answer or "")


def _validate_code(slot: str, value: Any, read, dispatcher: CollectingDispatcher, hint: str) -> Dict[Text, Any]:
    """A small categorical answer: "don't know", a code ``read`` finds, or ask again."""
    answer = UNKNOWN if _is_unknown(value) else read(str(value))
    if answer is None:
        return _ask_again(dispatcher, slot, hint)
    return {slot: answer}


def _validate_yes_no(slot: str, value: Any, dispatcher: CollectingDispatcher) -> Dict[Text, Any]:
    return _validate_code(slot, value, normalize.yes_no, dispatcher, "Please answer yes, no, or don't know.")


def _ask_again(dispatcher: CollectingDispatcher, slot: str, hint: str) -> Dict[Text, Any]:
    dispatcher.utter_message(text=f"Sorry, I didn't get that. {hint}")
    return {slot: None}


def _offer_sites(dispatcher: CollectingDispatcher, codes: list[str], text: str) -> None:
    buttons = [{"title": site_label(c), "payload": f'/inform{{"tumor_site": "{c}"}}'} for c in codes]
    dispatcher.utter_message(text=text, buttons=buttons)


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
    return {} if result is None else {"stage": result.value}
