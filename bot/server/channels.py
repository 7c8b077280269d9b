"""The socket.io channel the web page and the nurse console talk to.

Rasa 3.6's ``SocketIOInput`` is close to what the widget (rasa-webchat 1.0.1)
needs, but several of its choices are unsafe or broken for us, so this channel
replaces its blueprint (the handlers are closures there, so they cannot be
patched one by one):

1. **Custom JSON**: Rasa does ``sio.emit(evt, **json_message)``, which turns our
   ``{"type": "trial_matches", ...}`` into keyword arguments of ``emit`` and
   fails. Here a custom payload goes out as ``{"custom": payload}``: a message
   with neither text nor attachment, which rasa-webchat hands to the page's
   ``customComponent`` (the result cards, the nurse checklist).
2. **A session belongs to one tab**: Rasa joins whatever ``session_id`` the
   client asks for and sends replies to a room any socket can enter, so anyone
   who guesses or copies an id reads and writes that person's conversation.
   Here ids are issued by the server (random, HMAC-signed), each comes with a
   *resume secret* that only the tab it was issued to receives, and at most one
   live socket holds a session (``SessionTable``). A socket that asks for an
   existing session is only *pending* until its first message proves the resume
   secret; a session another live socket holds, or one left too long ago, is
   never handed out: the asker gets a new conversation. Replies go to the socket
   that holds the session, never to a room.
3. **Channels do not share conversations**: socket.io conversations are kept
   under ``socketio:<session id>``, a namespace the REST webhook may not use
   (``bot/server/guards.py`` checks both ends on every message).
4. **CORS**: Rasa passes ``cors_allowed_origins=[]``, which switches origin
   checks off. Here only the page's own origins (``http://127.0.0.1:$WEB_PORT``
   and ``http://localhost:$WEB_PORT``) may open a socket from a browser.
5. **Malformed events**: a packet or event Rasa's handlers would fail on (no
   data, wrong types, nesting too deep to decode, too many packets at once) is
   ignored with one log line naming the error type, never a traceback.

It also keeps from the client's ``customData`` only what the bot reads
(``role``, ``language``), and tells the widget when a message produced no reply at all
(``{"custom": {"type": "no_reply"}}``) so the page can offer a retry instead of
leaving the person waiting.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from socketio import AsyncServer
from socketio.exceptions import TimeoutError as SocketIOTimeout

logger = logging.getLogger(__name__)

DEFAULT_WEB_PORT = 8080
ROLES = ("patient", "nurse")
LANGUAGES = ("en", "zh")  # the page's language switch (actions/language.py)
NO_REPLY = {"type": "no_reply"}
CONVERSATION_PREFIX = "socketio:"  # socket.io conversations live here; the REST webhook may not
DEFAULT_RESUME_MINUTES = 15.0
MAX_PACKET_BYTES = 64 * 1024  # the widget's messages are a few hundred bytes (text is cut at 2,000 chars)
HOLDER_CHECK_SECONDS = 3.0


def conversation_key(session_id: str) -> str:
    """The Rasa sender id of the socket.io session ``session_id``."""
    return CONVERSATION_PREFIX + session_id


def session_of(conversation: Any) -> Optional[str]:
    """The session id inside a socket.io conversation key, or None for any other sender id."""
    if isinstance(conversation, str) and conversation.startswith(CONVERSATION_PREFIX):
        return conversation[len(CONVERSATION_PREFIX) :]
    return None


class SessionIds:
    """Issues and checks session ids and their resume secrets.

    An id is 32 random hex digits + 32 hex digits of HMAC-SHA256: it cannot be
    forged without the secret, which never leaves the server. The resume secret
    of an id is another HMAC of it (64 hex digits), so nothing per session has to
    be stored to check one, and it is only ever sent to the tab the id was issued
    to. Without a configured secret each process draws its own, so ids and
    resume secrets die with the process.
    """

    RANDOM_HEX = 32
    MAC_HEX = 32

    def __init__(self, secret: Optional[bytes] = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, purpose: bytes, value: str) -> str:
        return hmac.new(self._secret, purpose + value.encode("ascii"), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        random_part = secrets.token_hex(self.RANDOM_HEX // 2)
        return random_part + self._mac(b"id:", random_part)[: self.MAC_HEX]

    def is_valid(self, session_id: Any) -> bool:
        if not isinstance(session_id, str) or len(session_id) != self.RANDOM_HEX + self.MAC_HEX:
            return False
        random_part, mac = session_id[: self.RANDOM_HEX], session_id[self.RANDOM_HEX :]
        try:
            expected = self._mac(b"id:", random_part)[: self.MAC_HEX]
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(mac, expected)

    def resume_secret(self, session_id: str) -> str:
        """What the tab holding ``session_id`` must show to carry it on after a reload."""
        return self._mac(b"resume:", session_id)

    def resume_ok(self, session_id: str, candidate: Any) -> bool:
        """True when ``candidate`` is the resume secret of ``session_id`` (constant time)."""
        if not isinstance(candidate, str) or not candidate.isascii():
            return False
        return hmac.compare_digest(candidate, self.resume_secret(session_id))


@dataclass
class Binding:
    """The session a socket was confirmed, and whether it still has to prove it holds it."""

    session_id: str
    pending: bool


class SessionTable:
    """Which live socket holds each session: at most one, for one tab.

    A socket is bound to one session, either as its holder or *pending* (it
    asked to carry on a session and has not yet shown the resume secret). When
    the holder disconnects, the session can be resumed for ``resume_window``
    seconds, then never again (the tab gets a new conversation). Entries go when
    their socket disconnects and release times once they are past the window, so
    the table holds live sockets and recently left sessions only.
    """

    def __init__(self, resume_window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.resume_window = resume_window
        self._clock = clock
        self._started = clock()  # sessions from before a restart count as left then
        self._bindings: Dict[str, Binding] = {}  # socket id -> its binding
        self._holders: Dict[str, str] = {}  # session id -> the socket holding it
        self._left: Dict[str, float] = {}  # session id -> when its holder left

    def __len__(self) -> int:
        return len(self._bindings) + len(self._holders) + len(self._left)

    def binding(self, sid: str) -> Optional[Binding]:
        return self._bindings.get(sid)

    def holder(self, session_id: str) -> Optional[str]:
        return self._holders.get(session_id)

    def hold(self, sid: str, session_id: str) -> None:
        """Bind ``sid`` as the holder of a session nobody else holds (a new one, or a proven resume)."""
        assert self._holders.get(session_id, sid) == sid, "a session has one holder"
        self.drop(sid)
        self._bindings[sid] = Binding(session_id, pending=False)
        self._holders[session_id] = sid
        self._left.pop(session_id, None)

    def wait_for_proof(self, sid: str, session_id: str) -> None:
        """Bind ``sid`` to ``session_id`` until its first message shows the resume secret."""
        self.drop(sid)
        self._bindings[sid] = Binding(session_id, pending=True)

    def resumable(self, session_id: str) -> bool:
        """Nobody holds the session and its holder left at most ``resume_window`` seconds ago."""
        if session_id in self._holders:
            return False
        left = self._left.get(session_id, self._started)
        return self._clock() - left <= self.resume_window

    def drop(self, sid: str) -> None:
        """Forget a socket (disconnected, or re-bound); a session it held starts its resume window."""
        binding = self._bindings.pop(sid, None)
        if binding is not None and self._holders.get(binding.session_id) == sid:
            del self._holders[binding.session_id]
            self._left[binding.session_id] = self._clock()
        self._forget_expired()

    def _forget_expired(self) -> None:
        """Drop release times past the window; oldest first (a dict keeps insertion order, and
        a session enters ``_left`` only when it is released, so that order is time order)."""
        now = self._clock()
        while self._left:
            session_id, left = next(iter(self._left.items()))
            if now - left <= self.resume_window:
                break
            del self._left[session_id]


def page_origins(web_port: Optional[str] = None) -> List[str]:
    """The origins the web page is served from (see bot/web.py): loopback only."""
    port = int(web_port or os.environ.get("WEB_PORT") or DEFAULT_WEB_PORT)
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


def clean_metadata(custom_data: Any) -> Dict[str, str]:
    """Keep only ``role`` and ``language`` from a message's metadata, and only known values.

    The bot reads nothing else; anything more a client sends would end up in
    the tracker (and in saved records) unchecked. Both channels use this: the
    widget's ``customData`` and the REST webhook's ``metadata``.
    """
    if not isinstance(custom_data, dict):
        return {}
    role, language = custom_data.get("role"), custom_data.get("language")
    kept = {"role": role} if role in ROLES else {}
    if language in LANGUAGES:
        kept["language"] = language
    return kept


def resume_minutes() -> float:
    """``TRIALBOT_RESUME_MINUTES`` (default 15): how long a tab may take to come back."""
    value = os.environ.get("TRIALBOT_RESUME_MINUTES", "")
    try:
        return float(value) if value else DEFAULT_RESUME_MINUTES
    except ValueError:
        raise ValueError(f"TRIALBOT_RESUME_MINUTES must be a number of minutes, not {value!r}") from None


class TracebackToType(logging.Filter):
    """Reduces a log record's traceback to the exception's type: a traceback can quote the data."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            error = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()} ({type(error).__name__})", ()
            record.exc_info, record.exc_text = None, None
        return True


def server_logger(name: str) -> logging.Logger:
    """A logger for python-socketio / python-engineio: errors only (their info lines quote
    packets), and no traceback (they log any handler failure with one)."""
    log = logging.getLogger(name)
    log.setLevel(logging.ERROR)
    if not any(isinstance(f, TracebackToType) for f in log.filters):
        log.addFilter(TracebackToType())
    return log


class GuardedAsyncServer(AsyncServer):
    """python-socketio's server, ignoring packets it cannot decode or dispatch.

    Overrides ``AsyncServer._handle_eio_message`` and ``_handle_event`` (python-socketio
    5.9): a packet that is not valid JSON, nested deeper than the decoder can go
    (RecursionError), of an unknown type, or an event whose name is not a string
    would otherwise end in a traceback in the log; an event a client names
    ``connect`` or ``disconnect`` would run the server's own handler for it.
    """

    async def _handle_eio_message(self, eio_sid, data):
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as error:  # noqa: BLE001 - whatever a client sends, the log gets the type only
            logger.warning("socket.io: ignored a packet that could not be read (%s)", type(error).__name__)

    async def _handle_event(self, eio_sid, namespace, id, data):
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            logger.warning("socket.io: ignored an event without a name")
            return
        if data[0] in self.reserved_events:  # "disconnect" sent as an event would run our handler
            logger.warning("socket.io: ignored an event named like a reserved one")
            return
        await super()._handle_event(eio_sid, namespace, id, data)


def quietly(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """An event handler that takes any arguments and fails with one log line, never a traceback.

    python-socketio calls a handler with as many arguments as the client sent
    (none, for ``emit("user_uttered")``), and logs an escaping exception with
    its traceback, which may quote the data.
    """

    @functools.wraps(handler)
    async def guarded(sid: Text, *args: Any) -> Any:
        try:
            return await handler(sid, args[0] if args else None)
        except Exception as error:  # noqa: BLE001
            logger.error("socket.io: %s failed (%s)", handler.__name__, type(error).__name__)
            return None

    return guarded


class TrialbotSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output, sending to the one socket that holds the conversation,
    with custom JSON the widget can show, and a count of what was sent (so the input
    channel can tell an empty reply)."""

    def __init__(self, sio: AsyncServer, bot_message_evt: Text, route: Callable[[Text], Optional[str]]) -> None:
        super().__init__(sio, bot_message_evt)
        self.route = route
        self.sent = 0

    async def _send_message(self, socket_id: Text, response: Any) -> None:
        """``socket_id`` is Rasa's recipient, the conversation key: sent to its holder only."""
        sid = self.route(socket_id)
        if sid is None:
            return  # nobody holds the conversation now (the tab left); never broadcast
        self.sent += 1
        await self.sio.emit(self.bot_message_evt, response, to=sid)

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        """rasa-webchat passes any message without text/attachment to customComponent."""
        await self._send_message(recipient_id, {"custom": json_message})


class TrialbotSocketIO(SocketIOInput):
    """socket.io input for the web page: one tab per session, origin checks, clean metadata."""

    @classmethod
    def name(cls) -> Text:
        # Tracker events and logs keep calling this input "socketio".
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TrialbotSocketIO":
        credentials = credentials or {}
        secret = os.environ.get("TRIALBOT_SESSION_SECRET")
        return cls(
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            metadata_key=credentials.get("metadata_key", "customData"),
            allowed_origins=credentials.get("allowed_origins") or page_origins(),
            session_ids=SessionIds(secret.encode("utf-8") if secret else None),
            resume_window=resume_minutes() * 60,
        )

    def __init__(
        self,
        user_message_evt: Text = "user_uttered",
        bot_message_evt: Text = "bot_uttered",
        namespace: Optional[Text] = None,
        socketio_path: Text = "/socket.io",
        metadata_key: Text = "customData",
        allowed_origins: Optional[Iterable[str]] = None,
        session_ids: Optional[SessionIds] = None,
        resume_window: float = DEFAULT_RESUME_MINUTES * 60,
    ) -> None:
        # Sessions persist across reloads, for the tab that holds the resume secret.
        super().__init__(user_message_evt, bot_message_evt, namespace, True, socketio_path, metadata_key=metadata_key)
        self.allowed_origins = list(allowed_origins or page_origins())
        if "*" in self.allowed_origins:
            raise ValueError("socket.io origins must be listed, never '*'")
        self.session_ids = session_ids or SessionIds()
        self.sessions = SessionTable(resume_window)

    def holder_of(self, conversation: Text) -> Optional[str]:
        """The socket that holds a socket.io conversation (key ``socketio:<id>``), if any."""
        session_id = session_of(conversation)
        return self.sessions.holder(session_id) if session_id else None

    def get_output_channel(self) -> Optional[TrialbotSocketIOOutput]:
        if self.sio is None:
            return super().get_output_channel()
        return TrialbotSocketIOOutput(self.sio, self.bot_message_evt, self.holder_of)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = GuardedAsyncServer(
            async_mode="sanic",
            cors_allowed_origins=self.allowed_origins,
            cors_credentials=False,
            max_http_buffer_size=MAX_PACKET_BYTES,
            logger=server_logger("bot.server.channels.socketio"),
            engineio_logger=server_logger("bot.server.channels.engineio"),
        )
        self.sio = sio
        socketio_webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_):
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth: Any = None) -> bool:
            return True

        @sio.on("disconnect", namespace=self.namespace)
        @quietly
        async def disconnect(sid: Text, _: Any) -> None:
            self.sessions.drop(sid)

        @sio.on("session_request", namespace=self.namespace)
        @quietly
        async def session_request(sid: Text, data: Any) -> None:
            await self._confirm_session(sid, data)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        @quietly
        async def user_uttered(sid: Text, data: Any) -> None:
            await self._handle_message(sid, data, on_new_message)

        return socketio_webhook

    async def _confirm(self, sid: Text, payload: Dict[str, str]) -> None:
        await self.sio.emit("session_confirm", payload, to=sid, namespace=self.namespace)

    async def _start_new_session(self, sid: Text) -> str:
        """A new conversation held by ``sid``; its resume secret goes to this socket only."""
        session_id = self.session_ids.issue()
        self.sessions.hold(sid, session_id)
        await self._confirm(sid, {"session_id": session_id, "resume": self.session_ids.resume_secret(session_id)})
        return session_id

    async def _holder_answers(self, holder: str) -> bool:
        """Does the socket holding a session still answer? One that does not is let go.

        A tab whose connection dropped comes back on a new socket, sometimes
        before the server has noticed the old one is dead; the page answers
        ``session_check`` (web/static/chat.js), a dead socket cannot.
        """
        try:
            await self.sio.call("session_check", {}, to=holder, namespace=self.namespace, timeout=HOLDER_CHECK_SECONDS)
            return True
        except (SocketIOTimeout, asyncio.TimeoutError):
            self.sessions.drop(holder)
            await self.sio.disconnect(holder, namespace=self.namespace)
            return False

    async def _confirm_session(self, sid: Text, data: Any) -> str:
        """Carry on the session the client asks for only if it may; else start a new one.

        May: we issued the id, no other live socket holds it, and it was left
        within the resume window. Even then the socket is only pending: its first
        message must show the resume secret (``_handle_message``). rasa-webchat
        treats a confirmed id that differs from the one it asked for as a new
        conversation, and the page starts afresh (web/static/chat.js).
        """
        requested = data.get("session_id") if isinstance(data, dict) else None
        current = self.sessions.binding(sid)
        if current is not None and current.session_id == requested:
            await self._confirm(sid, {"session_id": requested})
            return requested
        if requested is None or not self.session_ids.is_valid(requested):
            if requested is not None:
                logger.info("socket.io: refused a session id this server did not issue; started a new one")
            return await self._start_new_session(sid)
        holder = self.sessions.holder(requested)
        if holder is not None and holder != sid and await self._holder_answers(holder):
            logger.info("socket.io: a session another live socket holds was asked for; started a new one")
            return await self._start_new_session(sid)
        if not self.sessions.resumable(requested):
            logger.info("socket.io: a session past its resume window was asked for; started a new one")
            return await self._start_new_session(sid)
        self.sessions.wait_for_proof(sid, requested)
        await self._confirm(sid, {"session_id": requested})
        return requested

    async def _may_speak(self, sid: Text, binding: Binding, custom_data: Any) -> bool:
        """A holder may; a pending socket may once it shows the resume secret and nobody holds the session.

        A pending socket that cannot is given a new session instead (and its
        message is not written anywhere).
        """
        if not binding.pending:
            return self.sessions.holder(binding.session_id) == sid
        secret = custom_data.get("resume") if isinstance(custom_data, dict) else None
        if self.session_ids.resume_ok(binding.session_id, secret) and self.sessions.resumable(binding.session_id):
            self.sessions.hold(sid, binding.session_id)
            return True
        logger.info("socket.io: a socket could not prove it holds the session it asked for; started a new one")
        await self._start_new_session(sid)
        return False

    async def _handle_message(
        self, sid: Text, data: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """Pass a message on under the session this socket holds, never another."""
        binding = self.sessions.binding(sid)
        if not isinstance(data, dict) or binding is None or data.get("session_id") != binding.session_id:
            logger.warning("socket.io: dropped a message whose session id was not confirmed for its socket")
            return
        text = data.get("message")
        custom_data = data.get(self.metadata_key)
        if not isinstance(text, str) or not await self._may_speak(sid, binding, custom_data):
            return
        key = conversation_key(binding.session_id)
        output = TrialbotSocketIOOutput(self.sio, self.bot_message_evt, self.holder_of)
        message = UserMessage(text, output, key, input_channel=self.name(), metadata=clean_metadata(custom_data))
        try:
            await on_new_message(message)
        except Exception as error:  # the person must not wait forever for an answer that will not come
            logger.error("socket.io: handling a message failed (%s)", type(error).__name__)
        if output.sent == 0:
            await output.send_custom_json(key, dict(NO_REPLY))
