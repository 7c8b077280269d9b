"""Nobody joins another person's conversation: the socket.io channel and the REST webhook
against the real stack (``python -m bot run``, the shared stack of tests/conftest.py).

A python-socketio client speaks the widget's protocol (``session_request``,
``user_uttered`` with ``customData``, answering ``session_check`` as
web/static/chat.js does). Conversations are read back through the
token-protected HTTP API, the one way staff tools read across channels.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time

import pytest

from tests.stack import MODEL
from tests.test_security import request

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make train` (make test does)"),
]

QUIET = 4  # seconds a client waits to be sure nothing more comes


@pytest.fixture(scope="module")
def stack(shared_stack):
    return shared_stack


def socket_client(answer_checks: bool):
    """A python-socketio client. It acknowledges every event that asks for it, as chat.js
    acknowledges ``session_check``; with ``answer_checks=False`` it stays silent on
    ``session_check`` like a tab whose connection dropped without the server noticing."""
    import socketio

    class Silent(socketio.Client):
        def _handle_event(self, namespace, id, data):
            if data and data[0] == "session_check":
                return
            super()._handle_event(namespace, id, data)

    return socketio.Client() if answer_checks else Silent()


class SocketClient:
    """One browser tab's socket, as rasa-webchat and chat.js drive it."""

    def __init__(self, stack, answer_checks: bool = True):
        self.events: list[tuple[str, object]] = []
        self.changed = threading.Condition()
        self.sio = socket_client(answer_checks)
        self.sio.on("session_confirm", lambda data: self._record("confirm", data))
        self.sio.on("bot_uttered", lambda data: self._record("bot", data))
        self.sio.connect(
            f"http://127.0.0.1:{stack.rasa_port}",
            socketio_path="/socket.io/",
            transports=["polling"],
            headers={"Origin": f"http://127.0.0.1:{stack.web_port}"},
        )

    def _record(self, kind: str, data) -> None:
        with self.changed:
            self.events.append((kind, data))
            self.changed.notify_all()

    def _wait(self, until, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(until, timeout)

    def confirms(self) -> list[dict]:
        return [data for kind, data in self.events if kind == "confirm"]

    def replies(self) -> list[dict]:
        return [data for kind, data in self.events if kind == "bot"]

    def request(self, session_id, timeout: float = 20) -> dict:
        """session_request as the widget sends it on connect; the confirmation."""
        before = len(self.confirms())
        self.sio.emit("session_request", {"session_id": session_id})
        assert self._wait(lambda: len(self.confirms()) > before, timeout), "no session_confirm"
        return self.confirms()[-1]

    def say(self, text: str, session_id: str, resume: str | None = None, expect_reply: bool = True) -> list[dict]:
        """user_uttered as the widget sends it; the bot's messages of that turn (or, when no
        reply is expected, whatever came within ``QUIET`` seconds)."""
        before = len(self.replies())
        custom = {"role": "patient", **({"resume": resume} if resume else {})}
        self.sio.emit("user_uttered", {"message": text, "session_id": session_id, "customData": custom})
        if not expect_reply:
            self._wait(lambda: len(self.replies()) > before, QUIET)
            return self.replies()[before:]
        assert self._wait(lambda: len(self.replies()) > before, 60), f"no reply to {text!r}"
        seen = len(self.replies())
        while self._wait(lambda: len(self.replies()) > seen, 1.5):  # until the bot stops talking
            seen = len(self.replies())
        return self.replies()[before:]

    def close(self) -> None:
        self.sio.disconnect()


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def user_texts(stack, session_id: str) -> list[str]:
    tracker = stack.tracker("socketio:" + session_id)
    return [e.get("text") for e in tracker["events"] if e["event"] == "user"]


@pytest.fixture
def clients(stack):
    opened: list[SocketClient] = []

    def open_client(**kwargs) -> SocketClient:
        opened.append(SocketClient(stack, **kwargs))
        return opened[-1]

    yield open_client
    for client in opened:
        if client.sio.connected:
            client.close()


def test_session_ids_are_issued_by_the_server_and_cannot_be_forged(clients):
    a, b = clients(), clients()
    issued = a.request(None)
    assert re.fullmatch(r"[0-9a-f]{64}", issued["session_id"]) and re.fullmatch(r"[0-9a-f]{64}", issued["resume"])
    assert b.request("my-own-id")["session_id"] != "my-own-id"
    forged = issued["session_id"][:-1] + ("0" if issued["session_id"][-1] != "0" else "1")
    assert b.request(forged)["session_id"] not in (forged, issued["session_id"])
    guessed = os.urandom(32).hex()
    assert b.request(guessed)["session_id"] != guessed


def test_a_second_client_with_the_first_clients_id_is_refused_the_conversation(stack, clients):
    """Issue 14, case 1: B copies A's id (and even A's resume secret) while A's tab is open."""
    a = clients()
    mine = a.request(None)
    a_id = mine["session_id"]
    assert "not medical advice" in texts(a.say("hello", a_id, mine["resume"]))
    b = clients()
    given = b.request(a_id)
    assert given["session_id"] != a_id and given["resume"] != mine["resume"]  # a new conversation
    assert b.request(a_id)["session_id"] not in (a_id, given["session_id"])  # asking again changes nothing
    b_id = b.confirms()[-1]["session_id"]
    # B writes under A's id, with A's secret: dropped (and A hears nothing of it)
    assert b.say("T2N0M0", a_id, mine["resume"], expect_reply=False) == []
    # A carries on and only A hears the bot
    assert "How old" in texts(a.say("yes", a_id, mine["resume"]))
    assert b.replies() == []
    assert user_texts(stack, a_id) == ["hello", "yes"]
    assert stack.tracker("socketio:" + a_id)["slots"]["stage"] is None
    # B's own conversation works, and A hears none of it
    heard_by_a = len(a.replies())
    assert "not medical advice" in texts(b.say("hello", b_id, b.confirms()[-1]["resume"]))
    time.sleep(1)
    assert len(a.replies()) == heard_by_a
    assert user_texts(stack, b_id) == ["hello"]


def test_a_reloaded_tab_carries_on_and_a_copied_id_without_the_secret_does_not(stack, clients):
    a = clients()
    mine = a.request(None)
    a_id = mine["session_id"]
    a.say("hello", a_id, mine["resume"])
    a.close()  # the tab reloads (or a shared computer's next user finds its id)
    intruder = clients()
    assert intruder.request(a_id) == {"session_id": a_id}  # pending, and no secret is handed out
    assert intruder.say("T2N0M0", a_id, expect_reply=False) == []
    fresh = intruder.confirms()[-1]
    assert fresh["session_id"] != a_id and "resume" in fresh  # told to start a new conversation
    reloaded = clients()
    assert reloaded.request(a_id) == {"session_id": a_id}
    assert "How old" in texts(reloaded.say("yes", a_id, mine["resume"]))
    assert user_texts(stack, a_id) == ["hello", "yes"]
    assert intruder.replies() == []


def test_a_tab_whose_old_connection_still_looks_alive_gets_its_conversation_back(stack, clients):
    """A reconnect after a network drop can come before the server notices the old socket is
    dead; a holder that does not answer session_check is let go."""
    old = clients(answer_checks=False)
    mine = old.request(None)
    old.say("hello", mine["session_id"], mine["resume"])
    new = clients()
    started = time.monotonic()
    assert new.request(mine["session_id"]) == {"session_id": mine["session_id"]}
    assert time.monotonic() - started < 10
    assert "How old" in texts(new.say("yes", mine["session_id"], mine["resume"]))
    deadline = time.monotonic() + 10
    while old.sio.connected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not old.sio.connected


def test_the_rest_channel_cannot_write_into_a_socketio_conversation(stack, clients):
    """Issue 14, case 2: the REST webhook and socket.io no longer share sender ids."""
    a = clients()
    mine = a.request(None)
    a_id = mine["session_id"]
    a.say("hello", a_id, mine["resume"])
    a.say("yes", a_id, mine["resume"])
    url = f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook"
    heard = len(a.replies())
    for sender in (a_id, "socketio:" + a_id):
        status, _, body = request(
            url,
            {"sender": sender, "message": "ECOG 1", "input_channel": "socketio"},
            {"Content-Type": "application/json"},
        )
        assert status == (403 if sender.startswith("socketio:") else 200), body
    time.sleep(1)
    assert len(a.replies()) == heard
    tracker = stack.tracker("socketio:" + a_id)  # the HTTP API (token) still reads it, for staff tools
    assert tracker["slots"]["ecog"] is None
    assert [e.get("text") for e in tracker["events"] if e["event"] == "user"] == ["hello", "yes"]
    assert {e.get("input_channel") for e in tracker["events"] if e["event"] == "user"} == {"socketio"}
    # the bare id is just another REST conversation, with REST's channel name whatever the body claimed
    rest_side = [e for e in stack.tracker(a_id)["events"] if e["event"] == "user"]
    assert [(e["text"], e["input_channel"]) for e in rest_side] == [("ECOG 1", "rest")]


def log_since(stack, offset: int) -> str:
    return stack.log.read_text(errors="replace")[offset:]


def test_malformed_socketio_events_are_ignored_without_a_traceback(stack, clients):
    """Issue 14, case 6 (and nesting, wrong types, oversized packets): no traceback, the server carries on."""
    offset = len(stack.log.read_text(errors="replace"))
    odd = clients()

    def send(emit, *args) -> None:
        emit(*args)
        time.sleep(0.1)  # one packet per request: python-engineio refuses a payload of more than 16

    send(odd.sio.emit, "session_request")
    send(odd.sio.emit, "user_uttered")
    for data in (
        "hello",
        ["hello"],
        12,
        {"message": ["a"] * 1000, "session_id": None},
        {"message": "hello", "session_id": {"a": 1}, "customData": "nurse"},
    ):
        send(odd.sio.emit, "session_request", data)
        send(odd.sio.emit, "user_uttered", data)
    deep = '{"a":' * 5000 + "1" + "}" * 5000
    for raw in (
        '2["user_uttered",' + deep + "]",
        '2{"a": 1}',
        "2[1]",
        "2[[1]]",
        "2[]",
        "2",
        "9",
        "2[{",
        '2["disconnect"]',
        '2["connect", {}]',
        '2["user_uttered", {"message": "hi", "session_id": "' + "x" * 5000 + '"}]',
    ):
        send(odd.sio.eio.send, raw)  # socket.io packets as they are: type 2 is an event
    for _ in range(20):  # many at once: one payload python-engineio refuses
        odd.sio.emit("user_uttered", {"message": "hi"})
    time.sleep(2)
    assert odd.sio.connected
    fresh = odd.request(None)
    assert "not medical advice" in texts(odd.say("hello", fresh["session_id"], fresh["resume"]))
    # a packet over the size limit closes that connection only
    big = clients()
    big.sio.emit("user_uttered", {"message": "hi", "session_id": None, "customData": {"x": [0] * 100_000}})
    time.sleep(3)
    other = clients()
    mine = other.request(None)
    assert "not medical advice" in texts(other.say("hello", mine["session_id"], mine["resume"]))
    log = log_since(stack, offset)
    for sign in ("Traceback", "Task exception", "TypeError", "async handler error"):
        assert sign not in log, f"{sign} in the log:\n{log[-2000:]}"
    assert "socket.io: ignored a packet that could not be read (RecursionError)" in log
    assert "socket.io: ignored an event without a name" in log
    assert "socket.io: ignored an event named like a reserved one" in log
    assert "post request handler error (ValueError)" in log  # the 20-packet payload, type only


def test_rest_metadata_keeps_only_the_role(stack):
    """Issue 14, case 4: a note of any size never reaches the tracker."""
    url = f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook"
    note = {"role": "nurse", "note": "Jane Doe, MRN 0042", "assistant_id": "spoofed"}
    status, _, body = request(
        url, {"sender": "meta-kept", "message": "hello", "metadata": note}, {"Content-Type": "application/json"}
    )
    assert status == 200, body
    stored = [e["metadata"] for e in stack.tracker("meta-kept")["events"] if e["event"] == "user"]
    assert len(stored) == 1 and stored[0]["role"] == "nurse"
    assert (
        "note" not in stored[0] and "Jane Doe" not in json.dumps(stored) and stored[0].get("assistant_id") != "spoofed"
    )
    for metadata, expected in (({"role": "nurse", "note": "x" * 299_000}, 413), ({"note": "x" * 5_000}, 400)):
        status, _, _ = request(
            url, {"sender": "meta-huge", "message": "hello", "metadata": metadata}, {"Content-Type": "application/json"}
        )
        assert status == expected
    assert not [e for e in stack.tracker("meta-huge")["events"] if e["event"] == "user"]


def test_deep_nesting_and_huge_arrays_are_client_errors_without_a_traceback(stack):
    """Issue 14, case 5: 5,000 levels of {"a": in metadata used to be a 500 with a RecursionError traceback."""
    offset = len(stack.log.read_text(errors="replace"))
    url = f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook"
    deep = '{"sender": "deep", "message": "hi", "metadata": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}"
    shallow_but_deep = '{"sender": "deep", "message": "hi", "metadata": ' + '{"a":' * 50 + "1" + "}" * 50 + "}"
    huge_array = json.dumps({"sender": "deep", "message": "hi", "metadata": {"role": "nurse", "x": [0] * 500_000}})
    for body, expected in ((deep, 400), (shallow_but_deep, 400), (huge_array, 413)):
        status, _, text = request(url, raw=body.encode(), headers={"Content-Type": "application/json"}, method="POST")
        assert status == expected, text[:200]
    assert stack.say("deep-after", "hello")  # still answering
    log = log_since(stack, offset)
    assert "Traceback" not in log and "RecursionError" not in log


def test_a_cross_site_form_post_cannot_write_into_a_conversation(stack):
    """Issue 14, case 7: a page on another origin can post text/plain without a preflight."""
    url = f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook"
    stack.say("form-victim", "hello")
    body = json.dumps({"sender": "form-victim", "message": "yes"}).encode()
    for content_type in (
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=----x",
    ):
        status, headers, _ = request(
            url, raw=body, method="POST", headers={"Content-Type": content_type, "Origin": "http://evil.example"}
        )
        assert status == 415, content_type
        assert {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin") in (None, "")
    assert [e.get("text") for e in stack.tracker("form-victim")["events"] if e["event"] == "user"] == ["hello"]
