"""Every message outside the screening form: it always leads somewhere.

``action_converse`` is the one action the rules run for every intent when no
form is active (data/rules.yml), so no NLU guess can strand a person:

- before a screening (or after consent was declined), whatever the message is,
  the reply answers it if it was a question, welcomes, and starts the form,
  which asks for consent; facts in the message ("my dad has laryngeal cancer,
  stage 4a, he is 66") are read by the form, not lost;
- after a result, a message that holds an answer ("now it came back", "I live
  in Beijing", "sorry, he is 67") re-enters the form, which updates the same
  screening, asks what that new answer makes necessary, and shows the updated
  result; questions about a trial are answered; anything else gets what the
  person can do next, as buttons.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from knowledge.db import KnowledgeBaseError

from . import language as languages
from . import messages, reading
from .profile import profile_from_tracker
from .results import details_text, trial_ids, why_not_text
from .safety import CANNOT_CHECK, guarded
from .say import say

logger = logging.getLogger(__name__)

FORM = "prescreening_form"


def state(tracker: Tracker) -> str:
    """ "result" once a screening has a result, else "fresh" (nothing yet, or consent declined)."""
    return "result" if tracker.get_slot("result_profile") is not None else "fresh"


def already_greeted(tracker: Tracker) -> bool:
    """Said once a conversation: a slot, so the action server needs no past events to know."""
    return tracker.get_slot("greeted") is True


class ActionConverse(Action):
    def name(self) -> Text:
        return "action_converse"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        turn = reading.turn(tracker)
        spoken = languages.update(tracker, dispatcher)  # a message in Chinese is answered in Chinese
        if state(tracker) == "result":
            return spoken + self.after_result(turn, dispatcher, tracker, domain)
        return spoken + self.start(turn, dispatcher, tracker, domain)

    def start(
        self, turn: reading.Turn, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        """Any message before a screening: answer it if it asks something, welcome, start the form."""
        slots = tracker.slots
        updates, says = reading.who_is_speaking(turn, slots)
        slots.update(updates)
        events: List[EventType] = [SlotSet(name, value) for name, value in updates.items()]
        if turn.is_question:
            say(dispatcher, domain, slots, reading.QUESTION_INTENTS[turn.intent])
        if "utter_nurse_mode" not in says and (not already_greeted(tracker) or tracker.get_slot("consent") is False):
            say(dispatcher, domain, slots, "utter_greet")
            events.append(SlotSet("greeted", True))
        for name in says:
            say(dispatcher, domain, slots, name)
        if tracker.get_slot("consent") is False:
            events.append(SlotSet("consent", None))
        if turn.is_question or not (reading.answers(turn, None) or reading.subject(turn, None)):
            # Nothing in it for the form to read (and a question is answered here): the form
            # must not take the same message again ("can you find me a trial?" is no answer).
            # A relative named ("can you check trials for my mum?", "帮我妈查一下") is read by
            # the form, so the consent question already says "her".
            events.append(SlotSet("read_message", turn.message_id))
        return events + [SlotSet("asked", None), ActiveLoop(FORM)]

    def after_result(
        self, turn: reading.Turn, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        """After the result: update the screening, answer about a trial, or say what can come next."""
        slots = tracker.slots
        if self.holds_answers(turn, tracker):
            return [SlotSet("asked", None), ActiveLoop(FORM)]
        if turn.intent == "correct":
            field = reading.named_field(turn.text)
            if field is not None:
                say(dispatcher, domain, slots, "utter_correction_ask")
                answered = [s for s in (tracker.get_slot("answered") or []) if s != field]
                return [SlotSet(field, None), SlotSet("answered", answered), SlotSet("asked", None), ActiveLoop(FORM)]
        if turn.intent in ("ask_trial_details", "ask_why_not") or trial_ids(tracker):
            self.about_a_trial(turn, dispatcher, tracker, domain)
        elif turn.is_question:
            say(dispatcher, domain, slots, reading.QUESTION_INTENTS[turn.intent])
        elif turn.intent == "goodbye":
            say(dispatcher, domain, slots, "utter_goodbye_after_result")
            return []
        elif turn.intent == "start_screening":
            say(dispatcher, domain, slots, "utter_new_screening_offer")
            return []
        say(dispatcher, domain, slots, "utter_after_result")
        return []

    @staticmethod
    def holds_answers(turn: reading.Turn, tracker: Tracker) -> bool:
        """True when the message gives an answer that differs from the screening's."""
        if turn.is_question or turn.is_control or turn.intent in ("ask_trial_details", "ask_why_not"):
            return False
        found = reading.answers(turn, None)
        return (
            any(str(tracker.get_slot(slot)) != str(value) for slot, value in found.items())
            or reading.subject(turn, tracker.get_slot("subject")) is not None
            and bool(found)
        )

    @staticmethod
    def about_a_trial(
        turn: reading.Turn, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> None:
        slots = tracker.slots
        ids = trial_ids(tracker)
        if not ids:
            say(dispatcher, domain, slots, "utter_which_trial")
            return
        profile = tracker.get_slot("result_profile") or profile_from_tracker(tracker)
        language = languages.of(tracker)
        try:
            text = (
                why_not_text(profile, ids[0], language)
                if turn.intent == "ask_why_not"
                else details_text(ids[0], language)
            )
        except KnowledgeBaseError as e:
            logger.error("answering about a trial failed: %s", type(e).__name__)
            dispatcher.utter_message(response=CANNOT_CHECK)
            return
        if text is None:
            say(dispatcher, domain, slots, "utter_unknown_trial", nct_id=ids[0])
            return
        dispatcher.utter_message(text=f"{text}\n\n{messages.text('disclaimer', language)}")
