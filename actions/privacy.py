"""What is kept about a screening, and how a patient makes it go away.

A completed screening is saved as a pre-screening record (``screenings.store``) whose
reference the patient or nurse can quote. "Delete my data" removes that record
here, on the action server, and the conversation itself in the tracker store
(``bot.server.tracker_store``), which deletes every stored event of a conversation
whose turn ran ``action_delete_my_data``. Logs name only exception types: never
answers, references or sender ids.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any, Dict, List, Sequence, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, EventType, Restarted
from rasa_sdk.executor import CollectingDispatcher

from knowledge import normalize
from screenings import store as records

from . import language as languages
from . import messages
from .safety import guarded
from .say import say

logger = logging.getLogger(__name__)

RECORD_NOT_DELETED = messages.text("record_not_deleted")
_STORE_ERRORS = (sqlite3.Error, OSError, RuntimeError, ValueError)


def save_record(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: Dict[str, Any],
    profile: Dict[str, Any],
    matches: Sequence[Any],
    ref: str | None = None,
) -> str | None:
    """Save the screening's record (or update it: ``ref``) and tell the user its reference.

    One screening, one record: a later result of the same screening updates
    the record it already has. A failure to save never hides the result the
    user already has: it is logged (type only) and the user simply gets no
    reference.
    """
    mode = "nurse" if tracker.get_slot("role") == "nurse" else "patient"
    try:
        saved = records.save(
            profile,
            records.verdicts_from_matches(matches),
            mode=mode,
            sender_id=tracker.sender_id,
            kb_build_id=records.current_kb_build_id(),
            ref=ref,
        )
    except _STORE_ERRORS as e:
        logger.error("saving the pre-screening record failed: %s", type(e).__name__)
        return None
    say(
        dispatcher,
        domain,
        tracker.slots,
        "utter_record_updated" if saved == ref else "utter_record_saved",
        reference=saved,
    )
    return saved


class ActionDeleteMyData(Action):
    """ "Delete my data": the conversation's records go now, its stored events when the turn is saved."""

    def name(self) -> Text:
        return "action_delete_my_data"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        languages.update(tracker, dispatcher)
        text = (tracker.latest_message or {}).get("text") or ""
        if not text.startswith("/") and not normalize.asks_to_delete(text):
            # The NLU said "delete", the words do not ("who sees the record?"): nothing is
            # deleted on a guess; the question about the data is answered, with the button.
            say(dispatcher, domain, tracker.slots, "utter_privacy_answer")
            return []
        try:
            records.delete_conversation(tracker.sender_id)
        except _STORE_ERRORS as e:
            logger.error("deleting the conversation's records failed: %s", type(e).__name__)
            dispatcher.utter_message(text=messages.text("record_not_deleted", languages.of(tracker)))
        else:
            say(dispatcher, domain, tracker.slots, "utter_data_deleted")
        # Restarted also empties the conversation Rasa holds in memory for this turn.
        return [ActiveLoop(None), AllSlotsReset(), Restarted()]
