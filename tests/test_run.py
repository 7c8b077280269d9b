"""`python -m bot run` (what `make run` starts): every server up on 127.0.0.1,
the HTTP API behind a token, the token never on a command line, one signal stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.stack import MODEL, http, start_stack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MODEL.exists(), reason="no trained model: run `make train` (make test does)"),
]


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("run") / "run.log")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def stack(running):
    return running.process, running.rasa_port, running.actions_port, running.token


def test_chat_over_rest_says_what_it_is_and_that_it_is_not_medical_advice(stack):
    _, rasa_port, _, _ = stack
    status, body = http(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", {"sender": "t-run", "message": "hello"})
    assert status == 200
    text = " ".join(m.get("text", "") for m in json.loads(body))
    assert "pre-screening helper for head and neck cancer clinical trials" in text
    assert "not medical advice" in text and "study team" in text


def test_http_api_needs_the_token(stack):
    _, rasa_port, _, token = stack
    assert http(f"http://127.0.0.1:{rasa_port}/status")[0] == 401
    assert http(f"http://127.0.0.1:{rasa_port}/status?token=wrong")[0] == 401
    assert http(f"http://127.0.0.1:{rasa_port}/status?token={token}")[0] == 200


def test_action_server_health(stack):
    _, _, actions_port, _ = stack
    assert http(f"http://127.0.0.1:{actions_port}/health") == (200, '{"status":"ok"}')


def test_every_server_listens_on_loopback_only(running):
    for port in (running.rasa_port, running.actions_port, running.web_port):
        addresses = listening_addresses(port)
        assert addresses == {"0100007F"}, f"port {port} listens on {addresses}"


def test_token_is_not_on_any_command_line(stack):
    process, _, _, token = stack
    children = subprocess.run(["pgrep", "-s", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) >= 3
    for pid in children:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert token not in cmdline


def test_the_conversation_reaches_the_action_server(stack):
    """The consent question comes from the form, which needs the action server."""
    _, rasa_port, _, _ = stack
    status, body = http(
        f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", {"sender": "t-run-2", "message": "hello"}
    )
    messages = json.loads(body)
    assert any(b.get("payload") == "/affirm" for m in messages for b in m.get("buttons", []))
    status, body = http(
        f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", {"sender": "t-run-2", "message": "/affirm"}
    )
    assert "How old are you?" in " ".join(m.get("text", "") for m in json.loads(body))


def test_one_signal_stops_every_server(running):
    process, rasa_port, actions_port = running.process, running.rasa_port, running.actions_port
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) is not None
    deadline = time.monotonic() + 30
    ports = (rasa_port, actions_port, running.web_port)
    while any(listening_addresses(p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(listening_addresses(p) for p in ports)
