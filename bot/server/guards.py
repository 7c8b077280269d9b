"""Guards installed in the Rasa server process (by ``bot/server/rasa_server.py``).

Rasa 3.6 leaves a few gaps this assistant cannot have; each guard below closes
one, in-process, by wrapping one Rasa function (the wrapped functions are named
in each docstring, so an upgrade knows what to re-check):

- ``action_endpoint_auth``: the action server wants ``Authorization: Bearer``
  (``rasa_sdk_plugins/guard.py``). The token comes from the environment and is
  put on the action endpoint in memory, never in a file or on a command line;
  ``${ACTIONS_PORT}`` in endpoints.yml's URL is filled in the same way, so no
  per-run copy of endpoints.yml is written (two stacks started at once used to
  overwrite each other's ``models/endpoints.run.yml``). The same wrapper turns on
  Rasa's selective domain for the action endpoint (unless the endpoints file sets
  ``enable_selective_domain`` itself): Rasa then stops sending its whole domain,
  about 30 KB of JSON encoded here and decoded there, with every action call; the
  action server reads the responses from domain.yml itself (actions/say.py).
- ``action_calls_kept_alive``: Rasa opens a new HTTP client session, and so a
  new TCP connection, for every call to the action server, and closes it after
  the answer. The action endpoint here keeps one session whose idle connections
  live 2 seconds (the action server's Sanic keeps them 5), so the calls of a busy
  server reuse connections; the request and its errors are Rasa's own.
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
  ``utter_cannot_check`` instead of a log line quoting the message. It also
  keeps channels apart: a socket.io conversation
  (``socketio:<session id>``, bot/server/channels.py) takes messages from the socket.io
  channel only, and the socket.io channel writes into no other conversation.
- ``rest_body_check``: the REST webhook takes JSON only (415 otherwise, so a
  cross-site form cannot post into a conversation), answers a malformed body
  (not JSON, nested too deep, not an object, no sender, a message that is not
  text, metadata that is not a small object) with 400 and a body over 64 KiB
  with 413, where Rasa would fail with 500 or file it under the shared sender
  id ``default``; a sender in socket.io's namespace gets 403. What Rasa then
  reads is the sender, the message and ``role`` from the metadata, nothing else.
- ``action_responses_checked_once_built``: Rasa checks every custom-action
  response against its JSON schema with ``jsonschema.validate``, which first
  re-checks the *schema itself* against the JSON Schema meta-schema on every
  call: 20-38% of Rasa's CPU per turn (docs/performance.md). The same check
  runs here with a validator built once, and a quicker exact test first (each
  event against its own branch of the schema's ``oneOf`` only).
- ``event_types_resolved_once``: Rasa turns every stored or returned event into
  its class by walking all subclasses of ``Event`` (with an ``inspect.isabstract``
  test each) for every single event: about half the CPU of loading a tracker.
  The class of each event name is looked up once and remembered.
- ``redacted_logs``: Rasa's structured log events carry the user's text, slots
  and parse data as fields; only the event name, level and a few harmless
  fields are kept, and a traceback is reduced to the exception's type.
- ``redacted_warnings``: Rasa also reports odd input through Python warnings
  (``raise_warning`` -> ``warnings.warn``), quoting the message ("Failed to
  parse arguments in line '/inform{...}'"); a warning is logged with its
  category and where it was raised, never its text.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000  # longer messages are cut before NLU (the form reads at most 1,000)
MAX_SENDER_CHARS = 128
MAX_BODY_BYTES = 64 * 1024  # a 2,000-character message is at most 12 KB of JSON, even all escaped
MAX_JSON_DEPTH = 8  # the deepest body the webhook takes is {"metadata": {"role": ...}}
MAX_METADATA_CHARS = 1000
CANNOT_CHECK = "utter_cannot_check"
# Last resort when the loaded model predates the domain's utter_cannot_check response.
CANNOT_CHECK_FALLBACK = "I'm sorry, I can't check the trials right now. Please try again in a few minutes."
REST_WEBHOOK = "/webhooks/rest/webhook"
SELECTIVE_DOMAIN = "enable_selective_domain"  # rasa.core.actions.constants.SELECTIVE_DOMAIN
LOG_FIELDS_KEPT = {
    "event",
    "event_info",
    "log_level",
    "level",
    "timestamp",
    "error",
    "action_name",
    "policy_name",
    "filename",
    "model",
    "path",
}


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
            action.kwargs.setdefault(SELECTIVE_DOMAIN, True)
        return endpoints

    AvailableEndpoints.read_endpoints = read_endpoints


# --- the action endpoint: one client session, connections reused ---------------------------------

KEEPALIVE_SECONDS = 2.0  # below Sanic's KEEP_ALIVE_TIMEOUT (5 s), so the server never closes one in use


def _kept_alive_request():
    """``EndpointConfig.request`` as in Rasa 3.6, on a client session kept between calls."""
    import aiohttp
    from aiohttp import ContentTypeError
    from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
    from rasa.shared.exceptions import FileNotFoundException
    from rasa.utils.endpoints import ClientResponseError, concat_url

    def session(self) -> "aiohttp.ClientSession":
        loop = asyncio.get_running_loop()
        kept = self.__dict__.get("_kept_session")
        if kept is None or kept.closed or self.__dict__.get("_kept_loop") is not loop:
            auth = (
                aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
            )
            kept = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_SECONDS),
            )
            self.__dict__.update(_kept_session=kept, _kept_loop=loop)
        return kept

    async def request(
        self,
        method: Text = "post",
        subpath: Optional[Text] = None,
        content_type: Optional[Text] = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ):
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if "headers" in kwargs:
            headers.update(kwargs["headers"])
            del kwargs["headers"]
        if self.headers:
            headers.update(self.headers)
        url = concat_url(self.url, subpath)
        sslcontext = None
        if self.cafile:
            import ssl

            try:
                sslcontext = ssl.create_default_context(cafile=self.cafile)
            except FileNotFoundError as e:
                raise FileNotFoundException(
                    f"Failed to find certificate file, '{os.path.abspath(self.cafile)}' does not exist."
                ) from e
        async with session(self).request(
            method,
            url,
            headers=headers,
            params=self.combine_parameters(kwargs),
            compress=compress,
            ssl=sslcontext,
            **kwargs,
        ) as response:
            if response.status >= 400:
                raise ClientResponseError(response.status, response.reason, await response.content.read())
            try:
                return await response.json()
            except ContentTypeError:
                return None

    return request


def action_calls_kept_alive() -> None:
    """Wrap ``rasa.core.utils.AvailableEndpoints.read_endpoints``: the action endpoint's
    ``request`` (Rasa's ``EndpointConfig.request``, a new session per call) reuses one
    session and its connections."""
    import types

    from rasa.core.utils import AvailableEndpoints

    original = AvailableEndpoints.read_endpoints.__func__
    request = _kept_alive_request()

    @classmethod  # type: ignore[misc]
    def read_endpoints(cls, endpoint_file: Text):
        endpoints = original(cls, endpoint_file)
        if endpoints.action is not None:
            endpoints.action.request = types.MethodType(request, endpoints.action)
        return endpoints

    AvailableEndpoints.read_endpoints = read_endpoints


# --- the action server is down or failing -------------------------------------------------------


async def cannot_check_message(nlg, tracker, channel_name: str):
    """``utter_cannot_check`` as a BotUttered, rendered like any domain response."""
    from rasa.core.actions.action import create_bot_utterance

    try:
        draft = await nlg.generate(CANNOT_CHECK, _in_language_of_message(tracker), channel_name)
    except Exception:  # noqa: BLE001 - the apology must not fail in turn
        draft = None
    draft = dict(draft or {"text": CANNOT_CHECK_FALLBACK})
    draft["utter_action"] = CANNOT_CHECK
    return create_bot_utterance(draft)


def _in_language_of_message(tracker):
    """The tracker to word the apology from: when the action server is down nothing has set the
    ``language`` slot yet for a conversation that began in Chinese, so a message written in
    Chinese (or the page's language in its metadata) words it in Chinese (the rule of
    actions/language.py, which Rasa cannot import)."""
    import copy

    from rasa.shared.core.events import SlotSet

    if tracker.get_slot("language") not in (None, "en") or "language" not in tracker.slots:
        return tracker
    latest = tracker.latest_message
    text = (latest.text if latest else "") or ""
    from knowledge import vocab

    chinese, latin = vocab.cjk_share(text)
    metadata = (latest.metadata if latest else None) or {}
    if (chinese and chinese * 3 >= latin and not text.startswith("/")) or metadata.get("language") == "zh":
        copied = copy.deepcopy(tracker)
        copied.update(SlotSet("language", "zh"))
        return copied
    return tracker


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
    is_form_validation = action_name.startswith("validate_") and action_name[len("validate_") :] in domain.form_names
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
            logger.error(
                "action %s could not run: %s%s",
                self.name(),
                type(e).__name__,
                f" ({type(cause).__name__})" if cause is not None else "",
            )
            apology = (
                None
                if _already_apologised(tracker)
                else await cannot_check_message(nlg, tracker, output_channel.name())
            )
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


def channel_problem(message) -> Optional[str]:
    """Why ``message`` may not enter the conversation it names, or None when it may.

    socket.io conversations (``socketio:<session id>``) are written by the
    socket.io channel only, and that channel writes into no other conversation.
    Checked on every message, whatever the channel checked before: "from
    socket.io" means the channel's own output object, which no other channel
    (nor a REST body naming ``input_channel``) can hand in.
    """
    from bot.server.channels import TrialbotSocketIOOutput, session_of

    from_socketio = message.input_channel == "socketio" and isinstance(message.output_channel, TrialbotSocketIOOutput)
    into_socketio = session_of(message.sender_id) is not None
    if into_socketio and not from_socketio:
        return "a message from another channel named a socket.io conversation"
    if from_socketio and not into_socketio:
        return "a socket.io message named a conversation outside socket.io's"
    return None


def one_turn_at_a_time(locks: Optional[ConversationLocks] = None) -> ConversationLocks:
    """Wrap ``rasa.core.agent.Agent.handle_message`` (every channel's way in)."""
    from rasa.core.agent import Agent

    locks = locks or ConversationLocks()
    original = Agent.handle_message

    @functools.wraps(original)
    async def handle_message(self, message):
        problem = channel_problem(message)
        if problem:
            logger.warning("refused a message: %s", problem)
            return None
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


class BodyRefused(ValueError):
    """A REST webhook body that cannot be a message: the HTTP status and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def nested_deeper_than(value: Any, limit: int) -> bool:
    """True when JSON ``value`` nests objects/arrays more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def _json_body(body: bytes, content_type: Optional[str]) -> Any:
    """The parsed body, if it is JSON of a sane size and depth; else BodyRefused."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":  # a cross-site form can only send text/plain, form data or multipart
        raise BodyRefused(415, "the body must be sent as Content-Type: application/json")
    if len(body or b"") > MAX_BODY_BYTES:
        raise BodyRefused(413, f"the body is limited to {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BodyRefused(400, "the body must be JSON") from None
    if nested_deeper_than(data, MAX_JSON_DEPTH):
        raise BodyRefused(400, f"the body may nest at most {MAX_JSON_DEPTH} levels")
    return data


def rest_message(body: bytes, content_type: Optional[str]) -> Dict[str, Any]:
    """The REST webhook body as Rasa will read it: ``sender``, ``message`` and ``metadata``
    holding ``role`` and ``language`` at most (every other key is dropped, ``input_channel`` too). Raises
    BodyRefused for anything that cannot be a message."""
    from bot.server.channels import clean_metadata, session_of

    data = _json_body(body, content_type)
    if not isinstance(data, dict):
        raise BodyRefused(400, "the body must be a JSON object")
    sender, text, metadata = data.get("sender"), data.get("message"), data.get("metadata")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise BodyRefused(400, f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters")
    if session_of(sender) is not None:
        raise BodyRefused(403, "socket.io conversations cannot be reached over REST")
    if not isinstance(text, str):
        raise BodyRefused(400, "'message' must be a string")
    if metadata is not None and not isinstance(metadata, dict):
        raise BodyRefused(400, "'metadata' must be an object")
    if metadata is not None and len(json.dumps(metadata)) > MAX_METADATA_CHARS:
        raise BodyRefused(400, f"'metadata' is limited to {MAX_METADATA_CHARS} characters")
    try:  # json.loads lets lone surrogates through; they would fail later, in the tracker store
        (sender + text).encode("utf-8")
    except UnicodeEncodeError:
        raise BodyRefused(400, "the body must be valid UTF-8 text") from None
    return {"sender": sender, "message": text, "metadata": clean_metadata(metadata)}


def rest_body_check() -> None:
    """Wrap ``rasa.core.run.configure_app`` to check REST webhook bodies first.

    The checked body replaces what Sanic would parse (``request.parsed_json``,
    which ``RestInput`` reads through ``request.json``), so Rasa never sees the
    keys that were dropped.
    """
    import rasa.core.run
    from sanic import response

    original = rasa.core.run.configure_app

    @functools.wraps(original)
    def configure_app(*args, **kwargs):
        app = original(*args, **kwargs)

        async def check_rest_body(request):
            if request.method == "POST" and request.path.rstrip("/") == REST_WEBHOOK:
                try:
                    request.parsed_json = rest_message(request.body, request.headers.get("content-type"))
                except BodyRefused as refused:
                    return response.json({"error": refused.reason}, status=refused.status)
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


@functools.lru_cache(maxsize=1)
def _action_response_fast_check():
    """A quicker test that gives True only for responses the full schema accepts, or None.

    Each event must match exactly one of ~20 ``oneOf`` branches, and jsonschema tries
    (and builds a ValidationError for) every branch of every event. But the schema
    requires ``event`` to be a string and each branch pins it to its own constant, so
    an event can only ever match the branch of its own name: checking that branch
    (with the schema's common part) decides the same. The rest of the response is
    checked against the schema with the events' items left out. Returns None (no
    shortcut) if Rasa's schema ever stops having that shape.
    """
    import copy

    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    spec = RemoteAction.action_response_format_spec()
    try:
        events = spec["properties"]["events"]
        item = events["items"]
        branches = item["oneOf"]
        names = [b["properties"]["event"]["const"] for b in branches]
        if (
            events.get("type") != "array"
            or set(events) != {"type", "items"}
            or "event" not in item.get("required", [])
            or item["properties"]["event"] != {"type": "string"}
            or len(set(names)) != len(names)
            or not all(isinstance(n, str) for n in names)
        ):
            return None
    except (KeyError, TypeError):
        return None
    cls = validator_for(spec)
    top = copy.deepcopy(spec)
    top["properties"]["events"] = {"type": "array"}
    common = {k: v for k, v in item.items() if k != "oneOf"}
    per_event = {name: cls({"allOf": [common, branch]}) for name, branch in zip(names, branches)}
    top_validator = cls(top)

    def valid(result: Any) -> bool:
        if not top_validator.is_valid(result):
            return False
        for event in result.get("events") or ():
            name = event.get("event") if isinstance(event, dict) else None
            checker = per_event.get(name) if isinstance(name, str) else None
            if checker is None or not checker.is_valid(event):
                return False
        return True

    return valid


def action_responses_checked_once_built() -> None:
    """Replace ``rasa.core.actions.action.RemoteAction._validate_action_result``.

    Same outcome as Rasa's: True, or the best-matching ``ValidationError`` with Rasa's
    hint appended (``jsonschema.validate`` raises ``best_match`` of the errors too).
    A response the quick test accepts is valid; anything else goes through the full
    schema, which accepts it or raises the same error as Rasa's own check."""
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    def _validate_action_result(self, result: Dict[Text, Any]) -> bool:
        quick = _action_response_fast_check()
        if quick is not None and quick(result):
            return True
        error = best_match(_action_response_validator().iter_errors(result))
        if error is None:
            return True
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from "
            f"the Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error

    RemoteAction._validate_action_result = _validate_action_result


# --- the action call carries this turn's events only ---------------------------------------------


def current_turn(events: List[Any]) -> List[Any]:
    """The events from the latest user message on (all of them before the first one)."""
    from rasa.shared.core.events import UserUttered

    for at in range(len(events) - 1, -1, -1):
        if isinstance(events[at], UserUttered):
            return events[at:]
    return events


def action_calls_carry_this_turn() -> None:
    """Replace ``rasa.core.actions.action.RemoteAction._action_call_format``: the tracker sent
    to the action server keeps its slots, latest message and active loop, and only this
    turn's events.

    Why: Rasa sends every event of the conversation on every action call, so a screening's
    later turns serialised (here) and parsed (there) a longer and longer history: together a
    quarter of the action server's work and a tenth of Rasa's. The actions read slots and the
    latest message, and the form's validation reads the slot events at the end of the turn
    (``Tracker.slots_to_validate``); what they once read further back ("was the welcome
    said?") is a slot (``greeted``). The rest is Rasa 3.6's own call format.
    """
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.trackers import EventVerbosity

    def _action_call_format(self, tracker, domain) -> Dict[Text, Any]:
        state = tracker.current_state(EventVerbosity.NONE)
        state["events"] = [event.as_dict() for event in current_turn(list(tracker.events))]
        body = {
            "next_action": self._name,
            "sender_id": tracker.sender_id,
            "tracker": state,
            "version": rasa.__version__,
        }
        if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(self.name()):
            body["domain"] = domain.as_dict()
        return body

    RemoteAction._action_call_format = _action_call_format


# --- sparse features joined directly --------------------------------------------------------------


def joined_sparse(first: Any, second: Any) -> Any:
    """``scipy.sparse.hstack([first, second])`` for two sparse matrices with the same rows:
    the same COO matrix (entries in the same order, the same dtype), built directly."""
    import numpy as np
    import scipy.sparse

    a, b = first.tocoo(copy=False), second.tocoo(copy=False)
    return scipy.sparse.coo_matrix(
        (
            np.concatenate([a.data, b.data]).astype(np.result_type(a.dtype, b.dtype), copy=False),
            (np.concatenate([a.row, b.row]), np.concatenate([a.col, b.col + a.shape[1]])),
        ),
        shape=(a.shape[0], a.shape[1] + b.shape[1]),
    )


def sparse_features_joined_directly() -> None:
    """Replace ``rasa.shared.nlu.training_data.features.Features._combine_sparse_features``.

    Why: every message's features are joined featurizer by featurizer before the intent
    model reads them, each join a ``scipy.sparse.hstack``, whose general block-matrix path
    costs about four times a direct concatenation: 8% of Rasa's work per turn.
    tests/test_cheaper_turns.py checks the result equals Rasa's own.
    """
    from rasa.shared.nlu.training_data.features import Features

    def _combine_sparse_features(self, additional_features: Features) -> None:
        if self.features.shape[0] != additional_features.features.shape[0]:
            raise ValueError(
                f"Cannot combine sparse features as sequence dimensions do not "
                f"match: {self.features.shape[0]} != "
                f"{additional_features.features.shape[0]}."
            )
        self.features = joined_sparse(self.features, additional_features.features)
        self._cached_fingerprint = None

    Features._combine_sparse_features = _combine_sparse_features


# --- events: each event name resolved to its class once -----------------------------------------


def event_types_resolved_once() -> None:
    """Wrap ``rasa.shared.core.events.Event.resolve_by_type``.

    Rasa's version walks every (non-abstract) subclass of ``Event`` on every call,
    i.e. for every event of every tracker it loads and every event an action
    returns. The classes are all defined when Rasa is imported, so the class found
    for a name is the class for that name from then on: it is remembered. Names
    that resolve to nothing (``topic``, an unknown name, or a ``default`` given by
    the caller) are never cached, so those calls behave exactly as before.
    """
    from rasa.shared.core.events import Event

    original = Event.resolve_by_type
    found: Dict[str, Any] = {}

    def resolve_by_type(type_name, default=None):
        cls = found.get(type_name)
        if cls is not None:
            return cls
        try:
            cls = original(type_name)
        except ValueError:  # unknown: Rasa's own answer (the default, or the same ValueError)
            return original(type_name, default)
        if cls is not None:  # None for "topic" (never cached)
            found[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_by_type)


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


RASA_WARNING_HELPER = ("rasa", "shared", "utils", "io")  # raise_warning: its callers are the ones to name


def _module_path(filename: str) -> str:
    """A source file as a module path (``rasa.shared.utils.io``), without the machine's folders."""
    parts = Path(filename).with_suffix("").parts
    if "site-packages" in parts:
        return ".".join(parts[parts.index("site-packages") + 1 :])
    return parts[-1] if parts else "?"


def _warned_from(filename: str, lineno: int) -> str:
    """Where a warning was raised. Rasa's ``raise_warning`` is named as its caller, which
    is the component that actually complained (e.g. the YAML story reader)."""
    module = _module_path(filename)
    if tuple(module.split(".")) != RASA_WARNING_HELPER:
        return f"{module}:{lineno}"
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name not in (__name__, "warnings", ".".join(RASA_WARNING_HELPER)):
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back
    return f"{module}:{lineno}"


def withheld_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` that logs a warning's category and origin, never its text.

    Python prints a warning with its message, and Rasa's warnings about odd input
    quote the input word for word.
    """
    logger.warning(
        "%s from %s (its text is withheld: it may quote a message)",
        getattr(category, "__name__", "Warning"),
        _warned_from(str(filename), lineno),
    )


def redacted_warnings() -> None:
    """Replace ``warnings.showwarning``, where every ``warnings.warn`` ends (Rasa's
    ``rasa.shared.utils.io.raise_warning`` included). Nothing in this process calls
    ``logging.captureWarnings``, which would put Python's own printer back."""
    warnings.showwarning = withheld_warning


def install(actions_token: str, actions_port: Optional[str]) -> ConversationLocks:
    """Every guard, before Rasa reads its endpoints or builds its app."""
    redacted_warnings()
    redacted_logs()
    action_endpoint_auth(actions_token, actions_port)
    action_calls_kept_alive()
    action_calls_carry_this_turn()
    cannot_check_when_actions_fail()
    action_responses_checked_once_built()
    sparse_features_joined_directly()
    event_types_resolved_once()
    rest_body_check()
    return one_turn_at_a_time()
