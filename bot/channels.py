"""The socket.io channel the web page and the nurse console talk to.

Rasa 3.6's ``SocketIOInput`` is close to what the widget (rasa-webchat 1.0.1)
needs, but three of its choices are unsafe or broken for us, so this channel
replaces its blueprint (the handlers are closures there, so they cannot be
patched one by one):

1. **Custom JSON**: Rasa does ``sio.emit(evt, **json_message)``, which turns our
   ``{"type": "trial_matches", ...}`` into keyword arguments of ``emit`` and
   fails. Here a custom payload goes out as ``{"custom": payload}``: a message
   with neither text nor attachment, which rasa-webchat hands to the page's
   ``customComponent`` (the result cards, the nurse checklist).
2. **Session ids**: Rasa joins whatever ``session_id`` the client asks for, so
   anyone who guesses or copies an id joins that person's conversation. Here
   ids are issued by the server: random, signed with HMAC under a per-process
   (or configured) secret; an id we did not sign is replaced by a new one, and a
   message is accepted only for the id this very socket was confirmed.
3. **CORS**: Rasa passes ``cors_allowed_origins=[]``, which switches origin
   checks off. Here only the page's own origins (``http://127.0.0.1:$WEB_PORT``
   and ``http://localhost:$WEB_PORT``) may open a socket from a browser.

It also keeps from the client's ``customData`` only what the bot reads
(``role``), and tells the widget when a message produced no reply at all
(``{"custom": {"type": "no_reply"}}``) so the page can offer a retry instead of
leaving the person waiting.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from socketio import AsyncServer

logger = logging.getLogger(__name__)

DEFAULT_WEB_PORT = 8080
ROLES = ("patient", "nurse")
NO_REPLY = {"type": "no_reply"}


class SessionIds:
    """Issues and checks session ids: 32 random hex digits + 32 hex digits of HMAC-SHA256.

    An id cannot be forged without the secret, and the secret never leaves the
    server. Without a configured secret each process draws its own, so ids die
    with the process (the tracker store is in memory too, so nothing is lost).
    """

    RANDOM_HEX = 32
    MAC_HEX = 32

    def __init__(self, secret: Optional[bytes] = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, random_part: str) -> str:
        return hmac.new(self._secret, random_part.encode("ascii"), hashlib.sha256).hexdigest()[: self.MAC_HEX]

    def issue(self) -> str:
        random_part = secrets.token_hex(self.RANDOM_HEX // 2)
        return random_part + self._mac(random_part)

    def is_valid(self, session_id: Any) -> bool:
        if not isinstance(session_id, str) or len(session_id) != self.RANDOM_HEX + self.MAC_HEX:
            return False
        random_part, mac = session_id[: self.RANDOM_HEX], session_id[self.RANDOM_HEX:]
        try:
            expected = self._mac(random_part)
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(mac, expected)


def page_origins(web_port: Optional[str] = None) -> List[str]:
    """The origins the web page is served from (see bot/web.py): loopback only."""
    port = int(web_port or os.environ.get("WEB_PORT") or DEFAULT_WEB_PORT)
    return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]


def clean_metadata(custom_data: Any) -> Dict[str, str]:
    """Keep only ``role`` from the widget's customData, and only a known value.

    The bot reads nothing else; anything more a client sends would end up in
    the tracker (and in saved records) unchecked.
    """
    if not isinstance(custom_data, dict):
        return {}
    role = custom_data.get("role")
    return {"role": role} if role in ROLES else {}


class TrialbotSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output, with custom JSON the widget can show, and a count
    of what was sent (so the input channel can tell an empty reply)."""

    def __init__(self, sio: AsyncServer, bot_message_evt: Text) -> None:
        super().__init__(sio, bot_message_evt)
        self.sent = 0

    async def _send_message(self, socket_id: Text, response: Any) -> None:
        self.sent += 1
        await super()._send_message(socket_id, response)

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        """rasa-webchat passes any message without text/attachment to customComponent."""
        await self._send_message(recipient_id, {"custom": json_message})


class TrialbotSocketIO(SocketIOInput):
    """socket.io input for the web page: signed session ids, origin checks, clean metadata."""

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
    ) -> None:
        # Sessions always persist across reconnects: the page keeps its id in
        # sessionStorage and asks for it again after a reload.
        super().__init__(user_message_evt, bot_message_evt, namespace, True, socketio_path,
                         metadata_key=metadata_key)
        self.allowed_origins = list(allowed_origins or page_origins())
        if "*" in self.allowed_origins:
            raise ValueError("socket.io origins must be listed, never '*'")
        self.session_ids = session_ids or SessionIds()

    def get_output_channel(self) -> Optional[TrialbotSocketIOOutput]:
        if self.sio is None:
            return super().get_output_channel()
        return TrialbotSocketIOOutput(self.sio, self.bot_message_evt)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=self.allowed_origins, cors_credentials=False)
        self.sio = sio
        socketio_webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_):
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            return True

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            await self._confirm_session(sid, data)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Dict) -> None:
            await self._handle_message(sid, data, on_new_message)

        return socketio_webhook

    async def _confirm_session(self, sid: Text, data: Optional[Dict]) -> str:
        """Confirm the id the client asked for only if we issued it; else issue a new one.

        rasa-webchat treats a confirmed id that differs from the one it asked
        for as a new conversation, so a refused id simply starts afresh.
        """
        requested = (data or {}).get("session_id") if isinstance(data, dict) else None
        session_id = requested if self.session_ids.is_valid(requested) else self.session_ids.issue()
        if requested and requested != session_id:
            logger.info("socket.io: refused a session id this server did not issue; issued a new one")
        await self.sio.save_session(sid, {"session_id": session_id}, namespace=self.namespace)
        self.sio.enter_room(sid, session_id, namespace=self.namespace)
        await self.sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
        return session_id

    async def _bound_session(self, sid: Text) -> Optional[str]:
        try:
            return (await self.sio.get_session(sid, namespace=self.namespace)).get("session_id")
        except KeyError:
            return None

    async def _handle_message(self, sid: Text, data: Any,
                              on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Pass a message on under the session this socket was confirmed, never another."""
        session_id = await self._bound_session(sid)
        if not isinstance(data, dict) or not session_id or data.get("session_id") != session_id:
            logger.warning("socket.io: dropped a message whose session id was not confirmed for its socket")
            return
        text = data.get("message")
        if not isinstance(text, str):
            return
        output = TrialbotSocketIOOutput(self.sio, self.bot_message_evt)
        message = UserMessage(text, output, session_id, input_channel=self.name(),
                              metadata=clean_metadata(data.get(self.metadata_key)))
        try:
            await on_new_message(message)
        except Exception as error:  # the person must not wait forever for an answer that will not come
            logger.error("socket.io: handling a message failed (%s)", type(error).__name__)
        if output.sent == 0:
            await output.send_custom_json(session_id, dict(NO_REPLY))
