"""Security: the action server's token and error bodies, the Rasa server's guards,
slash-command injection, CORS, and no patient answer in any log.

The action server tests start the real action server (``python -m rasa_sdk
--actions actions``, which loads ``rasa_sdk_plugins`` from the repository root)
on a free port. The rest drive the real stack (``python -m bot run``) over REST.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bot.server import guards, rasa_server
from tests.stack import MODEL, ROOT, free_port, start_stack, stop_group, wait_until_up

SLOW_STACK = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make train` (make test does)"),
]


def request(
    url: str,
    data=None,
    headers: dict | None = None,
    method: str | None = None,
    raw: bytes | None = None,
    timeout: float = 60,
) -> tuple[int, dict, str]:
    """(status, headers, body) for one HTTP request, errors included."""
    body = raw if raw is not None else (None if data is None else json.dumps(data).encode())
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


# --- the action server: token and error bodies --------------------------------------------------


class ActionServer:
    """``python -m rasa_sdk --actions actions`` as an operator would start it by hand
    (no SANIC_HOST: the plugin's loopback default applies)."""

    def __init__(self, log: Path, **env: str):
        self.port = free_port()
        self.log = log
        environment = {
            k: v
            for k, v in os.environ.items()
            if k not in ("TRIALBOT_ACTIONS_TOKEN", "TRIALBOT_ACTIONS_INSECURE", "SANIC_HOST")
        }
        environment.update(**env)
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(self.port)],
                cwd=ROOT,
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_group(self.process)


TOKEN = "action-token-" + os.urandom(8).hex()
SECRET_ANSWER = "pyriform sinus"
SECRET_SENDER = "secret-sender-5c1d"


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    server = ActionServer(tmp_path_factory.mktemp("actions") / "actions.log", TRIALBOT_ACTIONS_TOKEN=TOKEN)
    assert wait_until_up(server.url + "/health", 120), server.log.read_text()[-2000:]
    yield server
    server.stop()


def call(tracker_slots: dict, text: str, action: str = "action_converse") -> dict:
    """An action call as Rasa sends it, carrying the patient's words."""
    return {
        "next_action": action,
        "sender_id": SECRET_SENDER,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": SECRET_SENDER,
            "slots": tracker_slots,
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
            "latest_message": {"text": text, "intent": {"name": "ask_why_not"}, "entities": []},
        },
    }


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_action_server_health_needs_no_token(action_server):
    assert request(action_server.url + "/health")[0] == 200


def test_action_server_listens_on_loopback_only_by_default(action_server):
    from tests.test_run import listening_addresses

    assert listening_addresses(action_server.port) == {"0100007F"}


def test_action_server_allows_no_cross_origin_calls(action_server):
    for method in ("GET", "OPTIONS"):
        _, headers, _ = request(
            action_server.url + "/actions",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST", **bearer(TOKEN)},
            method=method,
        )
        assert {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin") in (None, "")


@pytest.mark.parametrize("path, method", [("/webhook", "POST"), ("/actions", "GET")])
def test_action_server_refuses_calls_without_the_token(action_server, path, method):
    data = call({}, "why not NCT06100497") if method == "POST" else None
    status, headers, _ = request(action_server.url + path, data, {"Content-Type": "application/json"}, method)
    assert status == 401 and headers.get("WWW-Authenticate") == "Bearer"
    for wrong in ("Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "):
        status, _, body = request(action_server.url + path, data, {"Authorization": wrong}, method)
        assert status in (401, 403), (wrong, status)
        assert SECRET_ANSWER not in body
    assert request(action_server.url + "/actions", headers=bearer(TOKEN))[0] == 200


def test_an_action_that_fails_says_it_cannot_check_and_keeps_every_answer(action_server):
    """A malformed profile makes the engine raise ValueError inside action_converse (why not): the
    action catches it, answers utter_cannot_check, and changes no slot."""
    status, _, body = request(
        action_server.url + "/webhook",
        call({"result_profile": SECRET_ANSWER, "age": 67}, "why not NCT06100497?"),
        bearer(TOKEN),
    )
    assert status == 200, body
    result = json.loads(body)
    assert result["events"] == []
    assert [r.get("response") for r in result["responses"]] == ["utter_cannot_check"]
    time.sleep(0.5)
    log = action_server.log.read_text()
    assert "action_converse failed: ValueError" in log
    assert SECRET_ANSWER not in log and SECRET_SENDER not in log


def test_an_error_outside_the_actions_returns_no_request_data(action_server):
    """rasa_sdk's own handler answers with the whole request (the tracker); ours with the type."""
    payload = call({"tumor_site": SECRET_ANSWER}, "I have " + SECRET_ANSWER)
    payload["tracker"] = [SECRET_ANSWER, SECRET_SENDER]  # rasa_sdk fails reading it (TypeError)
    status, _, body = request(action_server.url + "/webhook", payload, bearer(TOKEN))
    assert status == 500
    error = json.loads(body)
    assert list(error) == ["error"] and error["error"].isidentifier() and error["error"].endswith("Error")
    time.sleep(0.5)
    log = action_server.log.read_text()
    assert f"action server error: {error['error']}" in log
    assert SECRET_ANSWER not in log and SECRET_SENDER not in log


def test_malformed_json_to_the_action_server_is_a_client_error(action_server):
    status, _, body = request(action_server.url + "/webhook", raw=b"{not json", headers=bearer(TOKEN), method="POST")
    assert 400 <= status < 500 and "not json" not in body


def test_the_action_server_does_not_start_without_a_token(tmp_path):
    server = ActionServer(tmp_path / "no-token.log")
    try:
        assert server.process.wait(timeout=120) != 0
    finally:
        server.stop()
    assert "TRIALBOT_ACTIONS_TOKEN is not set" in server.log.read_text()


def test_the_explicit_development_override_starts_it_open(tmp_path):
    server = ActionServer(tmp_path / "insecure.log", TRIALBOT_ACTIONS_INSECURE="1")
    try:
        assert wait_until_up(server.url + "/actions", 120), server.log.read_text()[-2000:]
        assert "WITHOUT a token" in server.log.read_text()
    finally:
        server.stop()


# --- the Rasa server's guards, as units ---------------------------------------------------------


def test_rasa_is_never_started_with_cors_star_and_binds_loopback_by_default():
    args = rasa_server.rasa_arguments(["--port", "5005"], "tok")
    assert args[args.index("--interface") + 1] == "127.0.0.1"
    assert rasa_server.rasa_arguments(["-i", "0.0.0.0"], "tok").count("--interface") == 0
    for cors in (["--cors", "*"], ["--cors=*"]):
        with pytest.raises(SystemExit):
            rasa_server.rasa_arguments(cors, "tok")


JSON = "application/json"
DEEP = ('{"sender": "a", "message": "hi", "metadata": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}").encode()


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        (b'{"sender": "a", "message": "hi"}', JSON, 200),
        (b'{"sender": "a", "message": "hi"}', "application/json; charset=utf-8", 200),
        (b'{"sender": "a", "message": ""}', JSON, 200),
        (b'{"sender": "a", "message": "hi", "metadata": {"role": "nurse"}}', JSON, 200),
        # a cross-site form can post these without a CORS preflight: never a message
        (b'{"sender": "a", "message": "hi"}', "text/plain", 415),
        (b'{"sender": "a", "message": "hi"}', "text/plain;charset=UTF-8", 415),
        (b"sender=a&message=hi", "application/x-www-form-urlencoded", 415),
        (b'{"sender": "a", "message": "hi"}', "multipart/form-data; boundary=x", 415),
        (b'{"sender": "a", "message": "hi"}', None, 415),
        (b"{not json", JSON, 400),
        (b"", JSON, 400),
        (b'["a", "hi"]', JSON, 400),
        (b'{"message": "hi"}', JSON, 400),  # no sender: Rasa would file it under "default", shared by all
        (b'{"sender": "", "message": "hi"}', JSON, 400),
        (b'{"sender": 12, "message": "hi"}', JSON, 400),
        (b'{"sender": "a"}', JSON, 400),
        (b'{"sender": "a", "message": {"text": "hi"}}', JSON, 400),
        (b'{"sender": "a", "message": "hi", "metadata": "nurse"}', JSON, 400),
        (('{"sender": "%s", "message": "hi"}' % ("x" * 500)).encode(), JSON, 400),
        (DEEP, JSON, 400),  # RecursionError in the decoder
        (b'{"sender": "a", "message": "hi", "x": ' + b"[" * 9 + b"]" * 9 + b"}", JSON, 400),  # decodes, too deep
        (
            json.dumps({"sender": "a", "message": "hi", "metadata": {"role": "nurse", "note": "x" * 2000}}).encode(),
            JSON,
            400,
        ),
        (json.dumps({"sender": "a", "message": "hi", "metadata": {"ids": list(range(5000))}}).encode(), JSON, 400),
        (json.dumps({"sender": "a", "message": "x" * 70_000}).encode(), JSON, 413),
        (json.dumps({"sender": "a", "message": "hi", "x": [0] * 40_000}).encode(), JSON, 413),
        (b'{"sender": "socketio:' + b"ab" * 32 + b'", "message": "ECOG 1"}', JSON, 403),
    ],
)
def test_rest_body_check(body, content_type, status):
    if status == 200:
        assert guards.rest_message(body, content_type)["sender"] == "a"
    else:
        with pytest.raises(guards.BodyRefused) as refused:
            guards.rest_message(body, content_type)
        assert refused.value.status == status


def test_rasa_reads_only_sender_message_and_role_from_a_rest_body():
    body = json.dumps(
        {
            "sender": "a",
            "message": "hi",
            "input_channel": "socketio",
            "stream": True,
            "metadata": {"role": "nurse", "note": "Jane Doe, MRN 0042"},
        }
    ).encode()
    assert guards.rest_message(body, JSON) == {"sender": "a", "message": "hi", "metadata": {"role": "nurse"}}
    odd_role = json.dumps({"sender": "a", "message": "hi", "metadata": {"role": "admin"}}).encode()
    assert guards.rest_message(odd_role, JSON)["metadata"] == {}


def test_nesting_is_measured_without_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert guards.nested_deeper_than(deep, 8)
    assert not guards.nested_deeper_than({"metadata": {"role": "nurse"}}, 2)
    assert guards.nested_deeper_than({"metadata": {"role": ["nurse"]}}, 2)
    assert not guards.nested_deeper_than("text", 0)


class FakeMessage:
    def __init__(self, sender_id: str, input_channel: str, output_channel) -> None:
        self.sender_id, self.input_channel, self.output_channel = sender_id, input_channel, output_channel


def test_a_socketio_conversation_takes_messages_from_the_socketio_channel_only():
    from rasa.core.channels.channel import CollectingOutputChannel

    from bot.server.channels import TrialbotSocketIOOutput

    socket_output = TrialbotSocketIOOutput(None, "bot_uttered", route=lambda _: None)
    key = "socketio:" + "ab" * 32
    assert guards.channel_problem(FakeMessage(key, "socketio", socket_output)) is None
    assert guards.channel_problem(FakeMessage("rest-user", "rest", CollectingOutputChannel())) is None
    # REST (or any other channel) naming a socket.io conversation, even claiming to be socket.io
    assert guards.channel_problem(FakeMessage(key, "rest", CollectingOutputChannel()))
    assert guards.channel_problem(FakeMessage(key, "socketio", CollectingOutputChannel()))
    # the socket.io channel writing outside its namespace (e.g. a bare id)
    assert guards.channel_problem(FakeMessage("ab" * 32, "socketio", socket_output))


def test_warnings_are_logged_without_their_text(caplog):
    """Rasa's warning about an unparseable /command quotes it; the log keeps category and origin."""
    import warnings

    import rasa.shared.utils.io

    with caplog.at_level(logging.WARNING), warnings.catch_warnings():  # restores warnings.showwarning
        warnings.simplefilter("always")
        guards.redacted_warnings()
        rasa.shared.utils.io.raise_warning(f"Failed to parse arguments in line '/{SECRET_ANSWER}'")
        warnings.warn(f"plain {SECRET_ANSWER}", DeprecationWarning, stacklevel=1)
    assert "UserWarning from tests.test_security:" in caplog.text  # the caller of raise_warning, not io.py
    assert "DeprecationWarning from test_security:" in caplog.text
    assert SECRET_ANSWER not in caplog.text


def test_messages_are_capped_before_nlu():
    assert guards.cap_text("a" * 10_000) == "a" * guards.MAX_MESSAGE_CHARS
    assert guards.cap_text("short") == "short" and guards.cap_text(None) is None


def test_log_events_keep_only_harmless_fields():
    event = guards.redact_event(
        None,
        "error",
        {"event": "rest.message.received.failure", "text": SECRET_ANSWER, "tracker_latest_message": {"text": "x"}},
    )
    assert event == {
        "event": "rest.message.received.failure",
        "text": "<redacted>",
        "tracker_latest_message": "<redacted>",
    }


ACTION_RESPONSES = [
    ({"events": [{"event": "slot", "name": "age", "value": 61}], "responses": [{"response": "utter_ask_stage"}]}, True),
    ({"events": [], "responses": [{"custom": {"type": "trial_matches", "matches": []}}]}, True),
    ({}, True),
    ({"events": [{"event": "no_such_event"}]}, False),
    ({"events": "not a list"}, False),
    ({"responses": ["not an object"]}, False),
    ({"events": [{"event": "slot", "name": "age", "value": 61, "timestamp": "yesterday"}]}, False),
]


@pytest.mark.parametrize("response, valid", ACTION_RESPONSES)
def test_action_responses_are_checked_as_rasa_checks_them(monkeypatch, response, valid):
    """The once-built validator accepts and refuses exactly what jsonschema.validate does."""
    import jsonschema
    from rasa.core.actions.action import RemoteAction

    monkeypatch.setattr(RemoteAction, "_validate_action_result", RemoteAction._validate_action_result)
    action = RemoteAction("action_match_trials", None)
    with pytest.raises(jsonschema.ValidationError) if not valid else contextlib.nullcontext():
        action._validate_action_result(response)  # Rasa's own
    guards.action_responses_checked_once_built()
    if valid:
        assert action._validate_action_result(response) is True
    else:
        with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result(response)


# --- the real stack -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(shared_stack):
    return shared_stack


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def to_question(stack, sender: str, slot: str) -> None:
    """Start a screening and answer until the bot asks ``slot``."""
    answers = {"consent": "yes", "age": "I'm 58", "tumor_site": "larynx", "stage": "stage 3"}
    stack.say(sender, "hello")
    for _ in range(8):
        asking = stack.tracker(sender)["slots"].get("requested_slot")
        if asking == slot:
            return
        stack.say(sender, answers[asking])
    raise AssertionError(f"the bot never asked {slot}")


@pytest.mark.slow
@pytest.mark.skipif(not MODEL.exists(), reason="no trained model")
class TestStack:
    def test_the_stacks_action_server_wants_the_token_and_rasa_sends_it(self, stack):
        url = f"http://127.0.0.1:{stack.actions_port}"
        assert request(url + "/actions")[0] == 401
        # Rasa reached it: the consent question comes from the form's validation action.
        replies = stack.say("sec-token", "hello")
        assert any(b.get("payload") == "/affirm" for r in replies for b in r.get("buttons") or [])

    def test_the_http_api_needs_the_token(self, stack):
        url = f"http://127.0.0.1:{stack.rasa_port}/conversations/sec-token/tracker"
        assert request(url)[0] == 401
        assert request(url + "?token=wrong")[0] == 401
        assert request(url + f"?token={stack.token}")[0] == 200

    def test_no_run_file_holds_the_port_or_token(self, stack):
        assert (
            not (ROOT / "models" / "endpoints.run.yml").exists()
            or str(stack.actions_port) not in (ROOT / "models" / "endpoints.run.yml").read_text()
        )

    def test_injected_impossible_age_is_refused(self, stack):
        to_question(stack, "sec-age", "age")
        replies = stack.say("sec-age", '/inform{"age": "999"}')
        assert "possible age" in texts(replies)
        slots = stack.tracker("sec-age")["slots"]
        assert slots["age"] is None and slots["requested_slot"] == "age"
        stack.say("sec-age", "I'm 58")
        assert stack.tracker("sec-age")["slots"]["age"] == 58

    def test_injected_sql_as_a_site_is_refused(self, stack):
        to_question(stack, "sec-sql", "tumor_site")
        replies = stack.say("sec-sql", """/inform{"tumor_site": "'; DROP TABLE trials;--"}""")
        assert "don't recognise" in texts(replies)
        assert stack.tracker("sec-sql")["slots"]["tumor_site"] is None
        stack.say("sec-sql", "larynx")
        assert stack.tracker("sec-sql")["slots"]["tumor_site"] == "larynx"

    def test_injected_values_for_other_slots_are_validated_too(self, stack):
        to_question(stack, "sec-ecog", "stage")
        stack.say("sec-ecog", '/inform{"ecog": "7", "stage": "stage 99"}')
        slots = stack.tracker("sec-ecog")["slots"]
        assert slots["ecog"] is None and slots["stage"] is None

    def test_restart_command_starts_cleanly(self, stack):
        to_question(stack, "sec-restart", "tumor_site")
        replies = stack.say("sec-restart", "/restart")
        slots = stack.tracker("sec-restart")["slots"]
        assert all(slots.get(s) is None for s in ("age", "tumor_site", "consent"))
        # the new screening starts at once, with its consent question (no dead end after a restart)
        assert slots["requested_slot"] == "consent"
        assert "not medical advice" in texts(replies)
        stack.say("sec-restart", "yes")
        assert stack.tracker("sec-restart")["slots"]["consent"] is True

    def test_nlu_fallback_command_gets_the_fallback_and_the_form_resumes(self, stack):
        to_question(stack, "sec-fallback", "tumor_site")
        replies = stack.say("sec-fallback", "/nlu_fallback")
        assert replies, "the bot answered"
        slots = stack.tracker("sec-fallback")["slots"]
        assert slots["age"] == 58 and slots["tumor_site"] is None
        stack.say("sec-fallback", "larynx")
        slots = stack.tracker("sec-fallback")["slots"]
        assert slots["tumor_site"] == "larynx" and slots["requested_slot"] == "stage"

    def test_markup_is_text_and_never_a_slot(self, stack):
        to_question(stack, "sec-html", "tumor_site")
        replies = stack.say("sec-html", '<script>alert("x")</script><img src=x onerror=alert(1)>')
        assert replies
        slots = stack.tracker("sec-html")["slots"]
        assert slots["tumor_site"] is None
        assert not any("<script" in json.dumps(v) for v in slots.values())
        stack.say("sec-html", "larynx")
        assert stack.tracker("sec-html")["slots"]["tumor_site"] == "larynx"

    @pytest.mark.parametrize("path", ["/webhooks/rest/webhook", "/status", "/version", "/"])
    def test_no_cross_origin_access_for_other_sites(self, stack, path):
        url = f"http://127.0.0.1:{stack.rasa_port}{path}"
        evil = {"Origin": "http://evil.example", "Content-Type": "application/json"}
        for method, data in (("OPTIONS", None), ("GET", None), ("POST", {"sender": "sec-cors", "message": "hi"})):
            if path != "/webhooks/rest/webhook" and method == "POST":
                continue
            _, headers, _ = request(url, data, {**evil, "Access-Control-Request-Method": "POST"}, method)
            allowed = {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin")
            assert allowed in (None, ""), f"{method} {path}: Access-Control-Allow-Origin {allowed}"


# --- privacy: a full screening leaves no answer in any log ------------------------------------


DISTINCT = {
    "age": "I'm 67",
    "tumor_site": "pyriform sinus",
    "stage": "T3N1M0",
    "ecog": "KPS 80",
    "prior_treatment": "nivolumab x3",
    "location": "Chengdu",
}
NEEDLES = ["pyriform", "T3N1M0", "KPS 80", "nivolumab", "Chengdu"]
# Rasa warns about these, quoting them ("Failed to parse arguments in line ..."): issue 14, case 3.
SLASH_MESSAGES = {
    "/sintilimab 3 cycles partial response": "sintilimab",  # a slash message, not an intent
    "/camrelizumab": "camrelizumab",  # an unknown intent alone
    '/tislelizumab{"age": 50}': "tislelizumab",  # an unknown intent with entities
    '/inform{"zanubrutinib_dose": "160mg"}': "zanubrutinib",  # an unknown entity key
    '/inform{"tumor_site": "toripalimab-larynx", "age": 6': "toripalimab",  # malformed /inform{...}
    '/inform{"penpulimab" 3}': "penpulimab",  # not JSON at all
    '/inform@0.9{"age": "serplulimab"}': "serplulimab",  # a confidence, then odd entities
}
SOCKET_TEXT = "I had envafolimab last spring"


def log_files(stack_log: Path) -> list[Path]:
    """Every log the stack may write: its own, anything *.log in var/, the temp dir, models/, results/."""
    found = [stack_log]
    for folder in (ROOT / "var", stack_log.parent, ROOT / "models", ROOT / "results"):
        if folder.exists():
            found += [p for p in folder.rglob("*.log") if p.is_file() and p != stack_log]
    return found


def play_over_socketio(running, text: str) -> list[str]:
    """A web-page conversation (socket.io): hello, consent, then ``text``; its session id and resume secret."""
    from tests.test_sessions import SocketClient

    client = SocketClient(running)
    try:
        mine = client.request(None)
        client.say("hello", mine["session_id"], mine["resume"])
        client.say("yes", mine["session_id"], mine["resume"])
        client.say(text, mine["session_id"], mine["resume"])
        client.say('/inform{"envafolimab_cycles": 4}', mine["session_id"], mine["resume"])
    finally:
        client.close()
    events = running.tracker("socketio:" + mine["session_id"])["events"]
    assert text in [e.get("text") for e in events if e["event"] == "user"]
    return [mine["session_id"], mine["resume"]]


@pytest.mark.slow
@pytest.mark.skipif(not MODEL.exists(), reason="no trained model")
def test_no_patient_answer_or_sender_id_in_any_log(tmp_path):
    """A full screening, every kind of slash message Rasa warns about, a web-page conversation
    and a malformed body; then no answer, message, sender id or session secret in any log."""
    from tests.patient import PATIENT_DEFAULTS, Scenario, play

    sender = "privacy-" + os.urandom(6).hex()
    slash_sender = "privacy-slash-" + os.urandom(6).hex()
    running = start_stack(tmp_path / "stack.log")
    try:
        scenario = Scenario("privacy", ["hello"], dict(DISTINCT), {})
        result, *_ = play(running, scenario, sender)
        assert result["profile"]["age"] == 67
        to_question(running, slash_sender, "tumor_site")
        for message in SLASH_MESSAGES:
            running.say(slash_sender, message)
        said = [e.get("text") for e in running.tracker(slash_sender)["events"] if e["event"] == "user"]
        assert set(SLASH_MESSAGES) <= set(said)  # each one reached Rasa (and its warnings)
        socket_secrets = play_over_socketio(running, SOCKET_TEXT)
        # A failure path too: a malformed body and a message to a downed action server are logged.
        request(
            f"http://127.0.0.1:{running.rasa_port}/webhooks/rest/webhook",
            raw=b'{"message": "pyriform"}',
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        time.sleep(1)
    finally:
        running.stop()
    assert PATIENT_DEFAULTS  # the defaults (Shanghai, ...) are common words; the needles are ours
    stack_log = (tmp_path / "stack.log").read_text(errors="replace")
    assert "UserWarning from rasa." in stack_log  # Rasa did warn; only the text was withheld
    needles = NEEDLES + list(SLASH_MESSAGES.values()) + ["envafolimab", sender, slash_sender] + socket_secrets
    for path in log_files(tmp_path / "stack.log"):
        text = path.read_text(errors="replace")
        for needle in needles:
            assert needle.lower() not in text.lower(), f"{needle!r} appears in {path}"
        for age in ("i'm 67", '"age": 67', "'age': 67", "age=67"):
            assert age not in text.lower(), f"the age appears in {path}"
