"""Every action catches its own errors: the user is told, nothing else is lost.

An exception that escapes an action reaches rasa_sdk's error handler (which the
``rasa_sdk_plugins.guard`` plugin keeps from echoing the tracker), Rasa drops
the action's events and the user is left with silence. ``guarded`` wraps each
action's ``run`` instead:

- the log names the action and the exception *type* only (never the message,
  which may quote an answer);
- whatever the action had already queued for the user is dropped (half a
  result is worse than none) and ``utter_cannot_check`` is sent;
- the events returned keep the conversation as it was: no slot is touched, so
  every earlier answer is still there for the next try. Each action may say
  which events that takes (``fallback_events``), e.g. the form's validation.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

logger = logging.getLogger(__name__)

# The one place the "can't check" words live is domain.yml (responses: utter_cannot_check);
# Rasa's side says the same response when the action server cannot be reached (bot/server/rasa_server.py).
CANNOT_CHECK = "utter_cannot_check"

Run = Callable[[Any, CollectingDispatcher, Tracker, Dict[Text, Any]], Awaitable[List[EventType]]]


def guarded(run: Run) -> Run:
    """Wrap an action's ``run`` so that no exception escapes it (see the module doc)."""

    @functools.wraps(run)
    async def wrapper(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[EventType]:
        queued = len(dispatcher.messages)
        slots_before = dict(tracker.slots)
        try:
            return await run(self, dispatcher, tracker, domain)
        except Exception as e:  # noqa: BLE001 - the point is that nothing escapes
            logger.error("%s failed: %s", self.name(), type(e).__name__)
            del dispatcher.messages[queued:]
            # rasa_sdk's form validation writes extracted, unvalidated values into
            # tracker.slots as it goes: the fallback must see the slots as they were.
            tracker.slots.clear()
            tracker.slots.update(slots_before)
            dispatcher.utter_message(response=CANNOT_CHECK)
            fallback = getattr(self, "fallback_events", None)
            return list(fallback(tracker)) if fallback else []

    wrapper.guarded = True  # type: ignore[attr-defined]
    return wrapper
