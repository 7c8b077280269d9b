"""Saying a domain response with the slots as they are after this turn.

Rasa renders a response an action names with the conversation *before* the
action's events apply, so a response that depends on a slot the same turn
changes comes out wrong: "my dad has laryngeal cancer" would still get "How old
are you?", and "I'm a nurse" the patient's wording. The words stay in
domain.yml; ``say`` picks the variant and fills it here, from domain.yml's
responses and the slots this action has already updated, the way Rasa does (a
variant whose conditions all hold wins over one without conditions, the most specific first; ``{name}``
is filled from the keyword arguments, then the slots). The response's name
travels as ``utter_action`` metadata, as Rasa's own does.

Where the responses come from: Rasa sends its whole domain with an action call
only when told to (bot/server/guards.py turns on Rasa's selective domain: the domain is
about 30 KB of JSON that both sides would encode and decode on every call, for
the responses alone). So the action server reads domain.yml itself, once, from
the same checkout Rasa's model was trained from, and again only when the file
changes. A call that does carry a domain with responses (Rasa configured
otherwise, a test) is worded from that domain, as before.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml
from rasa_sdk.executor import CollectingDispatcher

from knowledge import speaker

_FIELD = re.compile(r"\{(\w+)\}")
DOMAIN_FILE = Path(__file__).resolve().parent.parent / "domain.yml"
_loaded: dict = {"stamp": None, "responses": {}}
_lock = threading.Lock()


def domain_responses() -> Mapping[str, Any]:
    """The responses of domain.yml, read once and again when the file changes."""
    try:
        st = os.stat(DOMAIN_FILE)
    except FileNotFoundError:
        return {}
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    with _lock:
        if _loaded["stamp"] != stamp:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            data = yaml.load(DOMAIN_FILE.read_text(encoding="utf-8"), Loader=loader) or {}
            _loaded.update(stamp=stamp, responses=data.get("responses") or {})
        return _loaded["responses"]


def responses_of(domain: Optional[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The responses the action call carried, else domain.yml's."""
    return (domain or {}).get("responses") or domain_responses()


def _holds(condition: Mapping[str, Any], slots: Mapping[str, Any]) -> bool:
    return condition.get("type", "slot") == "slot" and slots.get(condition.get("name")) == condition.get("value")


def variant(domain: Mapping[str, Any], name: str, slots: Mapping[str, Any]) -> Optional[dict]:
    """The variant of response ``name`` for these slots, or None when the domain has no such response.

    Of the variants whose conditions all hold, the one with the most conditions wins (a
    variant for a nurse who reads Chinese beats one for any nurse); the first of equals.
    """
    variants = responses_of(domain).get(name)
    if not variants:
        return None
    holding = [v for v in variants if v.get("condition") and all(_holds(c, slots) for c in v["condition"])]
    if holding:
        return max(holding, key=lambda v: len(v["condition"]))  # max keeps the first of equals
    return next((v for v in variants if not v.get("condition")), variants[0])


def fill(text: str, values: Mapping[str, Any]) -> str:
    """``{name}`` -> the value (a name with no value is left as it is, as Rasa leaves it)."""
    return _FIELD.sub(lambda m: str(values[m.group(1)]) if values.get(m.group(1)) is not None else m.group(0), text)


def _naming(slots: Mapping[str, Any]) -> dict:
    """How the questions name a relative in the conversation's language: the slots hold the
    English words ("he", "his"); a Chinese question says 他 / 他的 / 患者."""
    language = slots.get("language")
    if not slots.get("carer") or language in (None, "en"):
        return {}
    words = speaker.wording(slots.get("subject") or "they", language)
    return {"pronoun": words["pronoun"], "possessive": words["possessive"], "object_pronoun": words["object"]}


def say(
    dispatcher: CollectingDispatcher,
    domain: Mapping[str, Any],
    slots: Mapping[str, Any],
    name: str,
    buttons: Optional[list] = None,
    **values: Any,
) -> None:
    """Send response ``name`` as the slots now are; ``buttons`` are added after the response's own."""
    chosen = variant(domain, name, slots)
    if chosen is None:  # not in this domain (an older model): let Rasa say it by name
        dispatcher.utter_message(response=name, buttons=buttons or [], **values)
        return
    fields = {**slots, **_naming(slots), **values}
    own = [dict(b, title=fill(str(b.get("title", "")), fields)) for b in chosen.get("buttons") or []]
    dispatcher.utter_message(
        text=fill(str(chosen.get("text") or ""), fields) or None, buttons=own + list(buttons or []), utter_action=name
    )
