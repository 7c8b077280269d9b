"""Which language the bot speaks in a conversation: English (the default) or Chinese.

The person chooses it: the page's language switch rides in every message's metadata
(``{"language": "zh"}``, kept by bot/server/channels.py), and a message written in Chinese
selects Chinese, the first message too, whatever the page said. The slot ``language``
keeps the choice (unset = English). Every action that answers a message calls
``update`` before it says anything, so the reply to that very message is in the new
language; the words themselves are the domain's ``language: zh`` variants
(actions/say.py) and, for text built in code, actions/messages.yaml.

When the words of a message switch the language (not the page's switch), the page is
told with a custom message ``{"type": "language", "language": "zh"}`` so its own labels
follow. Buttons and ``/commands`` never switch the language, nor does a message that is
mostly Latin letters ("ECOG 1", "T3N1M0", "Keytruda x3").
"""

from __future__ import annotations

from typing import Any, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from knowledge import vocab

LANGUAGES = vocab.LANGUAGES
DEFAULT = "en"


def of(slots: Any) -> str:
    """The conversation's language from its slots (a tracker or a dict)."""
    value = slots.get_slot("language") if hasattr(slots, "get_slot") else (slots or {}).get("language")
    return value if value in LANGUAGES else DEFAULT


def written_in(text: str) -> Optional[str]:
    """ "zh" when a typed message is written in Chinese (at least a third of its letters
    are Chinese characters: "K药打了三次" is, "I live in 广州" is not), else None."""
    if not text or text.lstrip().startswith("/"):
        return None
    chinese, latin = vocab.cjk_share(text)
    return "zh" if chinese and chinese * 3 >= latin else None


def from_metadata(metadata: Any) -> Optional[str]:
    value = metadata.get("language") if isinstance(metadata, dict) else None
    return value if value in LANGUAGES else None


def update(tracker: Tracker, dispatcher: CollectingDispatcher) -> List[EventType]:
    """Set the conversation's language from the latest message; the events (none if unchanged)."""
    latest = tracker.latest_message or {}
    by_words = written_in(latest.get("text") or "")
    by_page = from_metadata(latest.get("metadata"))
    chosen = by_words or by_page
    if chosen is None or chosen == of(tracker):
        return []
    tracker.slots["language"] = chosen
    if by_words and by_page != by_words:
        dispatcher.utter_message(json_message={"type": "language", "language": chosen})
    return [SlotSet("language", chosen)]
