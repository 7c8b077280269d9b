"""The socket.io channel's rules and the page server, without the Rasa stack.

The end-to-end checks (a second client with the first one's id, reloads, REST
kept out of socket.io conversations, malformed events) are in
tests/test_sessions.py, origins and the pages in Chromium in
tests/test_browser.py; these cover the pieces alone, fast. The channel's
session handling is driven here through its own handlers with a stand-in for
the socket.io server that records what would be sent to which socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.error
import urllib.request

import pytest

from bot import web
from bot.server.channels import (
    CONVERSATION_PREFIX,
    SessionIds,
    SessionTable,
    TrialbotSocketIO,
    clean_metadata,
    conversation_key,
    page_origins,
    quietly,
    session_of,
)


def test_issued_session_ids_check_out():
    ids = SessionIds()
    issued = {ids.issue() for _ in range(50)}
    assert len(issued) == 50
    assert all(ids.is_valid(i) and len(i) == 64 for i in issued)


@pytest.mark.parametrize(
    "candidate",
    [
        None,
        "",
        "abc",
        12,
        "0" * 64,
        "g" * 64,
        "é" * 64,
    ],
)
def test_ids_we_did_not_issue_are_refused(candidate):
    assert not SessionIds().is_valid(candidate)


def test_a_tampered_or_foreign_id_is_refused():
    ids, other = SessionIds(), SessionIds()
    issued = ids.issue()
    tampered = ("1" if issued[0] != "1" else "2") + issued[1:]
    assert not ids.is_valid(tampered)
    assert not other.is_valid(issued)  # another process (another secret)
    assert SessionIds(b"shared secret").is_valid(SessionIds(b"shared secret").issue())


def test_a_resume_secret_belongs_to_one_id_and_one_server():
    ids, other = SessionIds(), SessionIds()
    first, second = ids.issue(), ids.issue()
    secret = ids.resume_secret(first)
    assert ids.resume_ok(first, secret)
    assert secret not in first and first not in secret  # not readable from the id the widget logs
    assert not ids.resume_ok(second, secret)
    assert not other.resume_ok(first, secret)
    for wrong in (None, "", 12, secret[:-1], secret.upper(), "é" * 64, {"resume": secret}):
        assert not ids.resume_ok(first, wrong)


def test_conversation_keys_put_socketio_sessions_in_their_own_namespace():
    key = conversation_key("ab" * 32)
    assert key == CONVERSATION_PREFIX + "ab" * 32 and session_of(key) == "ab" * 32
    for other in ("ab" * 32, "rest-user", "", None, 12, "socketio", "xsocketio:ab"):
        assert session_of(other) is None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_has_one_holder_and_can_be_resumed_only_within_the_window():
    clock = Clock()
    table = SessionTable(resume_window=60, clock=clock)
    table.hold("sock-a", "S")
    assert table.holder("S") == "sock-a" and not table.resumable("S")
    with pytest.raises(AssertionError):
        table.hold("sock-b", "S")
    table.wait_for_proof("sock-b", "S")  # pending: it does not hold the session
    assert table.holder("S") == "sock-a" and table.binding("sock-b").pending
    table.drop("sock-b")
    assert table.holder("S") == "sock-a"
    table.drop("sock-a")  # the tab left
    assert table.holder("S") is None and table.resumable("S")
    clock.now += 61
    assert not table.resumable("S")


def test_a_session_unknown_to_a_restarted_server_counts_as_left_at_its_start():
    clock = Clock()
    table = SessionTable(resume_window=60, clock=clock)
    assert table.resumable("from-before-the-restart")
    clock.now += 61
    assert not table.resumable("from-before-the-restart")


def test_the_session_table_forgets_sockets_and_expired_sessions():
    clock = Clock()
    table = SessionTable(resume_window=60, clock=clock)
    for i in range(1000):
        table.hold(f"sock-{i}", f"S{i}")
        table.drop(f"sock-{i}")
    assert len(table) == 1000  # recently left: still resumable
    clock.now += 61
    table.drop("nobody")
    assert len(table) == 0


def test_quiet_handlers_take_any_arguments_and_fail_without_a_traceback(caplog):
    seen = []

    @quietly
    async def handler(sid, data):
        seen.append(data)
        if data == "boom":
            raise TypeError("the secret text")

    asyncio.run(handler("sid"))
    asyncio.run(handler("sid", {"a": 1}, "extra"))
    with caplog.at_level(logging.INFO):
        assert asyncio.run(handler("sid", "boom")) is None
    assert seen == [None, {"a": 1}, "boom"]
    assert "handler failed (TypeError)" in caplog.text
    assert "secret" not in caplog.text and "Traceback" not in caplog.text


# --- the channel's session handling, through its handlers ------------------------


class FakeSio:
    """Stands in for the socket.io server: records each event and the socket it went to.
    Sockets in ``dead`` do not answer ``session_check`` (a connection that dropped)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object, str]] = []
        self.dead: set[str] = set()
        self.disconnected: list[str] = []

    async def emit(self, event, data=None, to=None, room=None, namespace=None, **_):
        self.sent.append((event, data, to or room))

    async def call(self, event, data=None, to=None, namespace=None, timeout=60, **_):
        from socketio.exceptions import TimeoutError as SocketIOTimeout

        if to in self.dead:
            raise SocketIOTimeout()
        return True

    async def disconnect(self, sid, namespace=None, **_):
        self.disconnected.append(sid)

    def to(self, sid: str, event: str) -> list:
        return [data for e, data, to in self.sent if e == event and to == sid]


class Channel:
    """The channel with a fake server and a bot that answers every message ("reply to <text>")."""

    def __init__(self, resume_window: float = 900, clock=None) -> None:
        self.channel = TrialbotSocketIO(resume_window=resume_window)
        if clock is not None:
            self.channel.sessions = SessionTable(resume_window, clock=clock)
        self.sio = self.channel.sio = FakeSio()
        self.heard: list[tuple[str, str, dict]] = []

    async def _bot(self, message) -> None:
        self.heard.append((message.sender_id, message.text, message.metadata))
        await message.output_channel.send_text_message(message.sender_id, "reply to " + message.text)

    def request(self, sid: str, session_id) -> dict:
        """session_request as the widget sends it; the confirmation this socket got."""
        asyncio.run(self.channel._confirm_session(sid, {"session_id": session_id}))
        return self.sio.to(sid, "session_confirm")[-1]

    def say(self, sid: str, session_id: str, text: str, custom_data: dict | None = None) -> None:
        data = {"message": text, "session_id": session_id, "customData": custom_data or {}}
        asyncio.run(self.channel._handle_message(sid, data, self._bot))

    def leave(self, sid: str) -> None:
        self.channel.sessions.drop(sid)

    def replies(self, sid: str) -> list[str]:
        return [m.get("text") for m in self.sio.to(sid, "bot_uttered")]


def test_a_new_session_comes_with_its_resume_secret_to_that_socket_only():
    c = Channel()
    confirm = c.request("sock-a", None)
    assert c.channel.session_ids.is_valid(confirm["session_id"])
    assert c.channel.session_ids.resume_ok(confirm["session_id"], confirm["resume"])
    assert [to for event, _, to in c.sio.sent] == ["sock-a"]


def test_a_second_socket_with_a_live_sessions_id_gets_a_new_conversation_and_none_of_its_replies():
    c = Channel()
    a = c.request("sock-a", None)
    b = c.request("sock-b", a["session_id"])
    assert b["session_id"] != a["session_id"] and b["resume"] != a["resume"]
    stolen = c.request("sock-c", a["session_id"])  # copying the secret too changes nothing while the tab lives
    c.say("sock-c", a["session_id"], "T2N0M0", {"resume": a["resume"]})
    c.say("sock-b", a["session_id"], "T2N0M0", {"resume": a["resume"]})
    c.say("sock-a", a["session_id"], "ECOG 1", {"resume": a["resume"]})
    c.say("sock-b", b["session_id"], "hello")
    assert c.heard == [
        (conversation_key(a["session_id"]), "ECOG 1", {}),
        (conversation_key(b["session_id"]), "hello", {}),
    ]
    assert c.replies("sock-a") == ["reply to ECOG 1"]
    assert c.replies("sock-b") == ["reply to hello"] and c.replies("sock-c") == []
    assert stolen["session_id"] not in (a["session_id"], b["session_id"])


def test_a_reloaded_tab_carries_on_with_its_resume_secret():
    c = Channel()
    a = c.request("sock-a", None)
    c.say("sock-a", a["session_id"], "hello", {"resume": a["resume"], "role": "nurse"})
    c.leave("sock-a")  # reload: the old socket goes, a new one asks for the same id
    again = c.request("sock-a2", a["session_id"])
    assert again == {"session_id": a["session_id"]}  # the same conversation, and no secret sent again
    c.say("sock-a2", a["session_id"], "yes", {"resume": a["resume"], "role": "nurse"})
    assert [h[:2] for h in c.heard] == [
        (conversation_key(a["session_id"]), "hello"),
        (conversation_key(a["session_id"]), "yes"),
    ]
    assert c.heard[-1][2] == {"role": "nurse"}  # the secret never reaches the tracker
    assert c.replies("sock-a2") == ["reply to yes"]
    assert c.channel.sessions.holder(a["session_id"]) == "sock-a2"


def test_without_the_secret_a_copied_id_gets_a_new_conversation_and_the_tab_can_still_come_back():
    c = Channel()
    a = c.request("sock-a", None)
    c.leave("sock-a")
    pending = c.request("sock-b", a["session_id"])
    assert pending == {"session_id": a["session_id"]}  # not yet: it must show the secret first
    c.say("sock-b", a["session_id"], "T2N0M0", {"resume": "0" * 64})
    assert c.heard == [] and c.replies("sock-b") == []
    fresh = c.sio.to("sock-b", "session_confirm")[-1]
    assert fresh["session_id"] != a["session_id"] and "resume" in fresh
    c.request("sock-a2", a["session_id"])
    c.say("sock-a2", a["session_id"], "ECOG 1", {"resume": a["resume"]})
    assert c.heard == [(conversation_key(a["session_id"]), "ECOG 1", {})]


def test_a_holder_that_no_longer_answers_is_let_go_for_the_same_tab():
    """A connection that dropped before the server noticed: the tab's new socket gets its conversation."""
    c = Channel()
    a = c.request("sock-a", None)
    c.sio.dead.add("sock-a")
    assert c.request("sock-a2", a["session_id"]) == {"session_id": a["session_id"]}
    assert c.sio.disconnected == ["sock-a"]
    c.say("sock-a2", a["session_id"], "hello", {"resume": a["resume"]})
    assert c.replies("sock-a2") == ["reply to hello"]


def test_past_the_resume_window_a_conversation_is_not_carried_on():
    clock = Clock()
    c = Channel(resume_window=60, clock=clock)
    a = c.request("sock-a", None)
    c.leave("sock-a")
    clock.now += 61
    late = c.request("sock-a2", a["session_id"])
    assert late["session_id"] != a["session_id"] and "resume" in late


def test_replies_go_to_the_holder_of_the_conversation_or_nowhere():
    c = Channel()
    a = c.request("sock-a", None)
    output = c.channel.get_output_channel()  # what the HTTP API's execute?output_channel=latest uses
    asyncio.run(output.send_text_message(conversation_key(a["session_id"]), "to the tab"))
    asyncio.run(output.send_text_message(a["session_id"], "bare id: no socket.io conversation"))
    c.leave("sock-a")
    asyncio.run(output.send_text_message(conversation_key(a["session_id"]), "nobody holds it"))
    assert [(e, d, to) for e, d, to in c.sio.sent if e == "bot_uttered"] == [
        ("bot_uttered", {"text": "to the tab"}, "sock-a")
    ]


def test_messages_on_an_unconfirmed_or_malformed_footing_are_dropped():
    c = Channel()
    a = c.request("sock-a", None)
    for data in (
        None,
        "hello",
        ["hello"],
        {"message": "hi"},
        {"message": 12, "session_id": a["session_id"]},
        {"message": "hi", "session_id": a["session_id"] + "0"},
    ):
        asyncio.run(c.channel._handle_message("sock-a", data, c._bot))
    asyncio.run(c.channel._handle_message("sock-unknown", {"message": "hi", "session_id": a["session_id"]}, c._bot))
    assert c.heard == []


def test_only_a_known_role_survives_from_custom_data():
    assert clean_metadata({"role": "nurse", "name": "Jane Doe"}) == {"role": "nurse"}
    assert clean_metadata({"role": "admin"}) == {}
    assert clean_metadata("role=nurse") == {}
    assert clean_metadata(None) == {}
    # The page's language switch: only the languages the bot speaks.
    assert clean_metadata({"role": "patient", "language": "zh"}) == {"role": "patient", "language": "zh"}
    assert clean_metadata({"language": "fr", "lang": "zh"}) == {}


def test_origins_are_the_pages_own(monkeypatch):
    monkeypatch.setenv("WEB_PORT", "8123")
    assert page_origins() == ["http://127.0.0.1:8123", "http://localhost:8123"]
    assert TrialbotSocketIO.from_credentials({}).allowed_origins == page_origins()
    with pytest.raises(ValueError):
        TrialbotSocketIO(allowed_origins=["*"])


def test_credentials_file_registers_this_channel():
    import yaml

    credentials = yaml.safe_load((web.ROOT / "credentials.yml").read_text())
    assert "socketio" not in credentials  # Rasa's own channel would join any room a client names
    assert credentials["bot.server.channels.TrialbotSocketIO"]["metadata_key"] == "customData"


# --- the page server ---------------------------------------------------------------


@pytest.fixture
def page_server(monkeypatch):
    monkeypatch.setenv("TRIALBOT_API_TOKEN", "secret-token-never-served")
    server = web.make_server(0, rasa_port=5999)
    # shutdown() waits for serve_forever's next poll: 0.5 s by default, at every teardown.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_page_server_listens_on_loopback_only(page_server):
    _, server = page_server
    assert server.server_address[0] == "127.0.0.1"


def test_pages_and_config_are_served_without_the_token(page_server):
    base, _ = page_server
    for path in ("/", "/nurse", "/static/chat.js", "/static/render.js", "/static/trialbot.css"):
        status, headers, body = get(base + path)
        assert status == 200, path
        assert b"secret-token-never-served" not in body
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "connect-src 'self' http://127.0.0.1:5999 ws://127.0.0.1:5999" in headers["Content-Security-Policy"]
    status, _, body = get(base + "/config.json")
    config = json.loads(body)
    assert config["socketUrl"] == "http://127.0.0.1:5999" and "token" not in json.dumps(config).lower()
    assert b'data-role="nurse"' in get(base + "/nurse")[2]
    assert b'data-role="patient"' in get(base + "/")[2]


@pytest.mark.skipif(not web.WIDGET_BUNDLE.exists(), reason="widget not installed: run `make setup`")
def test_the_widget_bundle_is_served_from_the_project(page_server):
    base, _ = page_server
    status, headers, body = get(base + "/vendor/webchat.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert body == web.WIDGET_BUNDLE.read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../bot/web.py",
        "/static/%2e%2e/%2e%2e/credentials.yml",
        "/../credentials.yml",
        "/web/index.html",
        "/node_modules/rasa-webchat/package.json",
        "/static/",
        "/vendor/",
    ],
)
def test_nothing_outside_the_route_table_is_served(page_server, path):
    base, _ = page_server
    status, _, _ = get(base + path)
    assert status == 404


def test_pages_carry_disclaimer_privacy_notice_and_labels():
    for page in ("index.html", "nurse.html"):
        html = (web.WEB / page).read_text()
        assert "not medical advice" in html.lower() or "Not medical advice" in html
        assert "session storage" in html
        assert '<html lang="en"' in html and 'name="viewport"' in html
        assert "localStorage" not in html and "cdn" not in html.lower()
    chat = (web.WEB / "static" / "chat.js").read_text()
    assert 'storage: "session"' in chat and "localStorage." not in chat
    render = (web.WEB / "static" / "render.js").read_text()
    assert "innerHTML" not in render and "dangerouslySetInnerHTML" not in render


def test_socketio_server_logs_keep_the_error_type_and_drop_the_traceback(caplog):
    from bot.server.channels import server_logger

    log = server_logger("bot.server.channels.test-engineio")
    with caplog.at_level(logging.INFO):
        log.info("Received packet MESSAGE data pyriform sinus")  # below ERROR: never written
        try:
            raise ValueError("T3N1M0 pyriform sinus")
        except ValueError:
            log.exception("post request handler error")
    assert "post request handler error (ValueError)" in caplog.text
    assert "pyriform" not in caplog.text and "Traceback" not in caplog.text
