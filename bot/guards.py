"""Guards installed in the Rasa server process (by ``bot/rasa_server.py``).

Rasa 3.6 leaves a few gaps this assistant cannot have; each guard below closes
one, in-process, by wrapping one Rasa function (the wrapped functions are named
in each docstring, so an upgrade knows what to re-check):

- ``action_endpoint_auth``: the action server wants ``Authorization: Bearer``
  (``rasa_sdk_plugins/guard.py``). The token comes from the environment and is
  put on the action endpoint in memory, never in a file or on a command line;
  ``${ACTIONS_PORT}`` in endpoints.yml's URL is filled in the same way, so no
  per-run copy of endpoints.yml is written (two stacks started at once used to
  overwrite each other's ``models/endpoints.run.yml``).
- ``cannot_check_when_actions_fail``: when the action server cannot be reached
  (or fails), Rasa logs an exception, drops the action and the user hears
  nothing. Here the user gets ``utter_cannot_check`` and no slot changes, so the
  same conversation carries on once the action server is back.
- ``one_turn_at_a_time``: Rasa's in-memory lock store hands the lock to the
  next message of a conversation as soon as the first one's ticket outlives
  ``TICKET_LOCK_LIFETIME`` (60 s), even while the first turn is still running,
  so a slow action lets two turns interleave (tests/test_faults.py shows it).
  One asyncio lock per conversation, with no lifetime, serialises the turns of
  a conversation in this process. (Several Rasa processes need a shared lock
  store, e.g. Redis: see the scale-out notes.) The same wrapper caps the
  message length before NLU and turns any unexpected failure into
  ``utter_cannot_check`` instead of a log line quoting the message.
- ``rest_body_check``: the REST webhook answers a malformed body (not JSON, not
  an object, no sender, a message that is not text) with 400, where Rasa would
  fail with 500 or file it under the shared sender id ``default``.
- ``action_responses_checked_once_built``: Rasa checks every custom-action
  response against its JSON schema with ``jsonschema.validate``, which first
  re-checks the *schema itself* against the JSON Schema meta-schema on every
  call: 20-38% of Rasa's CPU per turn (docs/performance.md). The same check
  runs here with a validator built once.
- ``redacted_logs``: Rasa's structured log events carry the user's text, slots
  and parse data as fields; only the event name, level and a few harmless
  fields are kept, and a traceback is reduced to the exception's type.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Text

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000  # longer messages are cut before NLU (the form reads at most 1,000)
MAX_SENDER_CHARS = 128
CANNOT_CHECK = "utter_cannot_check"
# Last resort when the loaded model predates the domain's utter_cannot_check response.
CANNOT_CHECK_FALLBACK = "I'm sorry, I can't check the trials right now. Please try again in a few minutes."
REST_WEBHOOK = "/webhooks/rest/webhook"
LOG_FIELDS_KEPT = {"event", "event_info", "log_level", "level", "timestamp", "error", "action_name",
                   "policy_name", "filename", "model", "path"}


# --- the action endpoint: port and token, in memory --------------------------------------------


def action_endpoint_auth(token: str, port: Optional[str]) -> None:
    """Wrap ``rasa.core.utils.AvailableEndpoints.read_endpoints``."""
    from rasa.core.utils import AvailableEndpoints

    original = AvailableEndpoints.read_endpoints.__func__

    @classmethod  # type: ignore[misc]
    def read_endpoints(cls, endpoint_file: Text):
        endpoints = original(cls, endpoint_file)
        action = endpoints.action
        if action is not None:
            if "${ACTIONS_PORT}" in (action.url or ""):
                if not port:
                    sys.exit("endpoints.yml names ${ACTIONS_PORT} but ACTIONS_PORT is not set")
                action.url = action.url.replace("${ACTIONS_PORT}", port)
            if token:
                action.headers = {**(action.headers or {}), "Authorization": f"Bearer {token}"}
        return endpoints

    AvailableEndpoints.read_endpoints = read_endpoints


# --- the action server is down or failing -------------------------------------------------------


async def cannot_check_message(nlg, tracker, channel_name: str):
    """``utter_cannot_check`` as a BotUttered, rendered like any domain response."""
    from rasa.core.actions.action import create_bot_utterance

    try:
        draft = await nlg.generate(CANNOT_CHECK, tracker, channel_name)
    except Exception:  # noqa: BLE001 - the apology must not fail in turn
        draft = None
    draft = dict(draft or {"text": CANNOT_CHECK_FALLBACK})
    draft["utter_action"] = CANNOT_CHECK
    return create_bot_utterance(draft)


def _already_apologised(tracker) -> bool:
    """True when this turn already said ``utter_cannot_check`` (one apology per turn)."""
    from rasa.shared.core.events import BotUttered, UserUttered

    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and (event.metadata or {}).get("utter_action") == CANNOT_CHECK:
            return True
    return False


def _failure_events(action_name: str, tracker, domain, apology) -> List[Any]:
    """What a remote action that could not run leaves in the conversation: the apology.

    Two actions need a little more. Session start still starts the session (as
    Rasa's default does). A form's validation re-sets the slot being asked to
    the value it already has (and the question to the same slot): Rasa's
    FormAction reads a validation without any slot as "nothing extracted" and
    rejects the form, which drops the apology and leaves the policies to guess;
    with these no-op SlotSets the form asks the same question again and listens,
    and no answer changes. (A *rejection* of the validation is no good either:
    Rasa then does not log the form as run and predicts it again, in a loop.)
    """
    from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME, REQUESTED_SLOT
    from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet

    events: List[Any] = [] if apology is None else [apology]
    if action_name == ACTION_SESSION_START_NAME:
        return [SessionStarted(), *events, ActionExecuted(ACTION_LISTEN_NAME)]
    requested = tracker.get_slot(REQUESTED_SLOT)
    is_form_validation = action_name.startswith("validate_") and action_name[len("validate_"):] in domain.form_names
    if is_form_validation and requested:
        events += [SlotSet(requested, tracker.get_slot(requested)), SlotSet(REQUESTED_SLOT, requested)]
    return events


def cannot_check_when_actions_fail() -> None:
    """Wrap ``rasa.core.actions.action.RemoteAction.run``.

    Connection refused, a timeout, a 401/403/5xx from the action server: the
    user hears ``utter_cannot_check`` and the conversation keeps every slot. A
    rejection (the action server's 400, e.g. a form that extracted nothing) is
    Rasa's normal flow and passes through untouched.
    """
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction

    original = RemoteAction.run

    @functools.wraps(original)
    async def run(self, output_channel, nlg, tracker, domain):
        try:
            return await original(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise
        except Exception as e:  # noqa: BLE001 - RasaException, aiohttp and asyncio errors alike
            cause = e.__cause__ or e.__context__
            logger.error("action %s could not run: %s%s", self.name(), type(e).__name__,
                         f" ({type(cause).__name__})" if cause is not None else "")
            apology = None if _already_apologised(tracker) else \
                await cannot_check_message(nlg, tracker, output_channel.name())
            return _failure_events(self.name(), tracker, domain, apology)

    RemoteAction.run = run


# --- one turn at a time per conversation; capped messages ---------------------------------------


class ConversationLocks:
    """One asyncio lock per conversation, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: Dict[str, List[Any]] = {}  # sender -> [lock, holders and waiters]

    @property
    def active(self) -> int:
        return len(self._locks)

    def __call__(self, sender_id: str) -> "_Held":
        return _Held(self, sender_id)


class _Held:
    def __init__(self, registry: ConversationLocks, sender_id: str) -> None:
        self.registry, self.sender_id = registry, sender_id

    async def __aenter__(self) -> None:
        entry = self.registry._locks.setdefault(self.sender_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            await entry[0].acquire()
        except BaseException:
            self._release_slot(entry)
            raise

    async def __aexit__(self, *exc) -> None:
        entry = self.registry._locks[self.sender_id]
        entry[0].release()
        self._release_slot(entry)

    def _release_slot(self, entry: List[Any]) -> None:
        entry[1] -= 1
        if entry[1] == 0:
            del self.registry._locks[self.sender_id]


def cap_text(text: Optional[str]) -> Optional[str]:
    """At most ``MAX_MESSAGE_CHARS`` characters reach NLU, the tracker and the actions."""
    if text is None or len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[:MAX_MESSAGE_CHARS]


def _cannot_check_text(agent) -> str:
    responses = getattr(getattr(agent, "domain", None), "responses", None) or {}
    variants = responses.get(CANNOT_CHECK) or []
    return next((v["text"] for v in variants if v.get("text") and not v.get("condition")), CANNOT_CHECK_FALLBACK)


def one_turn_at_a_time(locks: Optional[ConversationLocks] = None) -> ConversationLocks:
    """Wrap ``rasa.core.agent.Agent.handle_message`` (every channel's way in)."""
    from rasa.core.agent import Agent

    locks = locks or ConversationLocks()
    original = Agent.handle_message

    @functools.wraps(original)
    async def handle_message(self, message):
        message.text = cap_text(message.text)
        async with locks(message.sender_id):
            try:
                return await original(self, message)
            except Exception as e:  # noqa: BLE001 - the channel would log the message text
                logger.error("a turn failed: %s", type(e).__name__)
                if message.output_channel is not None:
                    await message.output_channel.send_text_message(message.sender_id, _cannot_check_text(self))
                return None

    Agent.handle_message = handle_message
    return locks


# --- the REST webhook's body --------------------------------------------------------------------


def rest_body_problem(body: bytes) -> Optional[str]:
    """Why a REST webhook body cannot be a message, or None when it can."""
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return "the body must be JSON"
    if not isinstance(data, dict):
        return "the body must be a JSON object"
    sender = data.get("sender")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        return f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters"
    if not isinstance(data.get("message"), str):
        return "'message' must be a string"
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        return "'metadata' must be an object"
    try:  # json.loads lets lone surrogates through; they would fail later, in the tracker store
        (sender + data["message"]).encode("utf-8")
    except UnicodeEncodeError:
        return "the body must be valid UTF-8 text"
    return None


def rest_body_check() -> None:
    """Wrap ``rasa.core.run.configure_app`` to check REST webhook bodies first."""
    import rasa.core.run
    from sanic import response

    original = rasa.core.run.configure_app

    @functools.wraps(original)
    def configure_app(*args, **kwargs):
        app = original(*args, **kwargs)

        async def check_rest_body(request):
            if request.method == "POST" and request.path.rstrip("/") == REST_WEBHOOK:
                problem = rest_body_problem(request.body)
                if problem:
                    return response.json({"error": problem}, status=400)
            return None

        app.register_middleware(check_rest_body, "request")
        return app

    rasa.core.run.configure_app = configure_app


# --- custom-action responses: the same schema check, its validator built once -------------------


@functools.lru_cache(maxsize=1)
def _action_response_validator():
    """The validator for Rasa's action-response schema, built (and the schema checked) once."""
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    spec = RemoteAction.action_response_format_spec()
    cls = validator_for(spec)
    cls.check_schema(spec)
    return cls(spec)


def action_responses_checked_once_built() -> None:
    """Replace ``rasa.core.actions.action.RemoteAction._validate_action_result``.

    Same outcome as Rasa's: True, or the best-matching ``ValidationError`` with Rasa's
    hint appended (``jsonschema.validate`` raises ``best_match`` of the errors too)."""
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    def _validate_action_result(self, result: Dict[Text, Any]) -> bool:
        error = best_match(_action_response_validator().iter_errors(result))
        if error is None:
            return True
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from "
            f"the Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error

    RemoteAction._validate_action_result = _validate_action_result


# --- logs ---------------------------------------------------------------------------------------


def redact_event(logger_, method: str, event_dict: Dict[str, Any]) -> Dict[str, Any]:
    """A structlog processor: keep the event's name and harmless fields only."""
    if event_dict.pop("exc_info", None):
        error = sys.exc_info()[1]
        if error is not None:
            event_dict["error"] = type(error).__name__
    for key in list(event_dict):
        if key not in LOG_FIELDS_KEPT:
            event_dict[key] = "<redacted>"
    return event_dict


def redacted_logs() -> None:
    """Replace ``rasa.utils.log_utils._anonymizer``, the first processor of Rasa's structlog chain."""
    import rasa.utils.log_utils

    rasa.utils.log_utils._anonymizer = redact_event


def install(actions_token: str, actions_port: Optional[str]) -> ConversationLocks:
    """Every guard, before Rasa reads its endpoints or builds its app."""
    redacted_logs()
    action_endpoint_auth(actions_token, actions_port)
    cannot_check_when_actions_fail()
    action_responses_checked_once_built()
    rest_body_check()
    return one_turn_at_a_time()
