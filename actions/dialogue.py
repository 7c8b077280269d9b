"""Small conversation moves around the form: nurse mode, go back, skip, correct."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import ActionExecuted, EventType, Restarted, SessionStarted, SlotSet
from rasa_sdk.forms import REQUESTED_SLOT

from knowledge import vocab

from .profile import FORM_SLOTS, UNKNOWN, is_nurse
from .safety import guarded


class ActionSessionStart(Action):
    """A session may start in nurse mode: ``{"role": "nurse"}`` in the message metadata."""

    def name(self) -> Text:
        return "action_session_start"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        metadata = tracker.get_slot("session_started_metadata") or {}
        from_metadata = isinstance(metadata, dict) and metadata.get("role") == "nurse"
        # A restart (action_restart) re-sets the role just before the new session starts.
        if from_metadata or tracker.get_slot("role") == "nurse":
            events.append(SlotSet("role", "nurse"))
        events.append(ActionExecuted("action_listen"))
        return events

    def fallback_events(self, tracker) -> List[EventType]:
        """Even when reading the metadata fails, the session starts (as a patient's)."""
        return [SessionStarted(), ActionExecuted("action_listen")]


class ActionSetNurseMode(Action):
    def name(self) -> Text:
        return "action_set_nurse_mode"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        dispatcher.utter_message(response="utter_nurse_mode")
        return [SlotSet("role", "nurse")]


class ActionAskEcog(Action):
    """Asks ECOG with one button per grade, worded from knowledge/vocabulary/ecog.yaml."""

    def name(self) -> Text:
        return "action_ask_ecog"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        nurse = is_nurse(tracker)
        buttons = [
            {"title": f"ECOG {g['grade']}" if nurse else g["patient"], "payload": f'/inform{{"ecog": "{g["grade"]}"}}'}
            for g in vocab.load("ecog")["grades"]
        ]
        buttons.append({"title": "Not sure", "payload": "/dont_know"})
        dispatcher.utter_message(response="utter_ask_ecog", buttons=buttons)
        return []


class ActionGoBack(Action):
    """"Go back": forget the last answer so the form asks that question again."""

    def name(self) -> Text:
        return "action_go_back"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        answered = [s for s in (tracker.get_slot("answered") or []) if s != "consent"]
        if not answered:
            dispatcher.utter_message(response="utter_nothing_to_go_back_to")
            return []
        last = answered.pop()
        dispatcher.utter_message(response="utter_went_back")
        events: List[EventType] = [SlotSet(last, None), SlotSet("answered", answered), SlotSet(REQUESTED_SLOT, last)]
        if last == "stage":
            events.append(SlotSet("tnm", None))
        return events


class ActionSkipQuestion(Action):
    """"Skip": the question being asked is answered as unknown."""

    def name(self) -> Text:
        return "action_skip_question"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        requested = tracker.get_slot(REQUESTED_SLOT)
        if requested not in FORM_SLOTS or requested == "consent":
            return []
        dispatcher.utter_message(response="utter_skipped")
        answered = [s for s in (tracker.get_slot("answered") or []) if s != requested] + [requested]
        return [SlotSet(requested, UNKNOWN), SlotSet("answered", answered)]


class ActionCorrect(Action):
    """"I made a mistake in my age": forget that answer so the form asks it again.

    When the correction already carries the new value ("sorry, I'm actually 16"),
    nothing is forgotten: the form picks the value up from the message.
    """

    def name(self) -> Text:
        return "action_correct"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        entities = {e.get("entity") for e in (tracker.latest_message or {}).get("entities") or []}
        if entities - {"number", "nct_id"}:
            return []
        text = (tracker.latest_message or {}).get("text") or ""
        field = next((name for *_, name in vocab.find_terms(text, _field_words())), None)
        if field is None:
            return []
        answered = [s for s in (tracker.get_slot("answered") or []) if s != field]
        events: List[EventType] = [SlotSet(field, None), SlotSet("answered", answered)]
        if field == "stage":
            events.append(SlotSet("tnm", None))
        return events


def _field_words() -> List[tuple]:
    """How people name each question ("my age", "the stage"), from fields.yaml, as (word, field)."""
    return [(word, name) for name, entry in vocab.load("fields")["fields"].items() for word in entry.get("words", [])]


class ActionRestart(Action):
    """"Start over": forget every answer, but not who is screening.

    Replaces Rasa's default ``action_restart`` so that a nurse who starts over
    (e.g. for the next patient) stays in nurse mode: the role came from the
    session's metadata or from "I'm a nurse", and a restart must not drop it.
    """

    def name(self) -> Text:
        return "action_restart"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        dispatcher.utter_message(response="utter_restart")
        return [Restarted(), SlotSet("role", tracker.get_slot("role") or "patient")]
