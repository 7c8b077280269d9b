"""The conversation's two ends: a session starts (maybe in nurse mode), a screening starts over."""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import ActionExecuted, ActiveLoop, AllSlotsReset, EventType, SessionStarted, SlotSet

from . import language as languages
from .safety import guarded
from .say import say

FORM = "prescreening_form"


class ActionSessionStart(Action):
    """A session may start in nurse mode: ``{"role": "nurse"}`` in the message metadata."""

    def name(self) -> Text:
        return "action_session_start"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        metadata = tracker.get_slot("session_started_metadata") or {}
        from_metadata = isinstance(metadata, dict) and metadata.get("role") == "nurse"
        if from_metadata or tracker.get_slot("role") == "nurse":
            events.append(SlotSet("role", "nurse"))
        # The page's language switch (metadata {"language": "zh"}), or the language already chosen.
        language = languages.from_metadata(metadata) or tracker.get_slot("language")
        if language in languages.LANGUAGES and language != languages.DEFAULT:
            events.append(SlotSet("language", language))
        if tracker.get_slot("greeted") is True:  # a new session of the same conversation: not welcomed twice
            events.append(SlotSet("greeted", True))
        events.append(ActionExecuted("action_listen"))
        return events

    def fallback_events(self, tracker) -> List[EventType]:
        """Even when reading the metadata fails, the session starts (as a patient's)."""
        return [SessionStarted(), ActionExecuted("action_listen")]


class ActionRestart(Action):
    """ "Start over", "new patient": forget every answer and ask the first question at once.

    Replaces Rasa's default ``action_restart`` (which says nothing and waits): the
    new screening starts in the same turn, with its consent question. Who is
    screening stays: a nurse who starts over for the next patient stays in nurse
    mode. The message itself is marked as read, so the form does not take
    "start over" as an answer.
    """

    def name(self) -> Text:
        return "action_restart"

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        languages.update(tracker, dispatcher)
        say(dispatcher, domain, tracker.slots, "utter_restart")
        return [
            AllSlotsReset(),
            SlotSet("role", tracker.get_slot("role") or "patient"),
            SlotSet("language", tracker.get_slot("language")),
            SlotSet("greeted", tracker.get_slot("greeted")),
            SlotSet("read_message", (tracker.latest_message or {}).get("message_id")),
            ActiveLoop(FORM),
        ]
