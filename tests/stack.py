"""Start the real stack (`python -m bot run`) for end-to-end tests, and talk to it.

The stack is what `make run` starts: the action server and the Rasa server on
127.0.0.1, on free ports, with a fresh API token. Tests reach it over the REST
channel as a user would and read the tracker through the token-protected API.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "trialbot.tar.gz"
READY = "The assistant is running"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, data: dict | None = None, timeout: float = 60) -> tuple[int, str]:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    """End a server started in its own process group (``start_new_session=True``) and all it
    started: SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@dataclass
class Stack:
    process: subprocess.Popen
    rasa_port: int
    actions_port: int
    token: str
    log: Path
    web_port: int

    def say(self, sender: str, message: str, metadata: dict | None = None) -> list[dict]:
        """Send one user message over the REST channel; the bot's replies."""
        payload = {"sender": sender, "message": message}
        if metadata:
            payload["metadata"] = metadata
        status, body = http(f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook", payload)
        assert status == 200, f"REST channel answered {status}: {body[:300]}"
        return json.loads(body)

    def tracker(self, sender: str) -> dict:
        query = urllib.parse.urlencode({"token": self.token})
        status, body = http(f"http://127.0.0.1:{self.rasa_port}/conversations/{sender}/tracker?{query}")
        assert status == 200, f"tracker API answered {status}"
        return json.loads(body)

    def slots(self, sender: str) -> dict:
        """The conversation's slots only (the tracker API without its events: cheaper)."""
        query = urllib.parse.urlencode({"token": self.token, "include_events": "NONE"})
        status, body = http(f"http://127.0.0.1:{self.rasa_port}/conversations/{sender}/tracker?{query}")
        assert status == 200, f"tracker API answered {status}"
        return json.loads(body)["slots"]

    def api(self, method: str, path: str, body=None) -> tuple[int, str]:
        """A call to Rasa's HTTP API with the stack's token."""
        sep = "&" if "?" in path else "?"
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.rasa_port}{path}{sep}token={self.token}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    @property
    def page_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/"

    @property
    def nurse_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/nurse"

    def rasa_pid(self) -> int:
        """The Rasa server's process (e.g. to freeze it for a no-reply test)."""
        pids = session_children(self, "bot.server.rasa_server")
        assert pids, "no Rasa server process in the stack"
        return pids[0]

    def stop(self) -> None:
        stop_group(self.process)


def start_stack(log: Path, timeout: float = 300, unset: tuple[str, ...] = (), **env: str) -> Stack:
    """Start `python -m bot run` on free ports and wait until it says it is running.

    The one way tests and benchmarks start the stack: ``env`` adds or overrides variables
    (e.g. the conversation and record files, to restart on the same ones), ``unset``
    removes inherited ones.
    """
    rasa_port, actions_port, web_port = free_port(), free_port(), free_port()
    token = "test-token-" + os.urandom(8).hex()
    # Conversations and records of a test stack live beside its log, never in the repo's var/.
    environment = {
        **os.environ,
        "RASA_PORT": str(rasa_port),
        "ACTIONS_PORT": str(actions_port),
        "WEB_PORT": str(web_port),
        "TRIALBOT_API_TOKEN": token,
        "TRIALBOT_CONVERSATIONS_DB": str(log.parent / "conversations.db"),
        "TRIALBOT_RECORDS_DB": str(log.parent / "records.db"),
        **env,
    }
    for name in unset:
        environment.pop(name, None)
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while READY not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            raise RuntimeError("bot run did not start:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(1)
    return Stack(process, rasa_port, actions_port, token, log, web_port)


# --- helpers for fault tests (tests/test_faults.py, tests/test_security.py) -------------------


def session_children(stack: Stack, marker: str) -> list[int]:
    """Pids of the stack's processes whose command line contains ``marker``
    (e.g. ``rasa_sdk`` for the action server)."""
    out = subprocess.run(["pgrep", "-s", str(stack.process.pid)], capture_output=True, text=True).stdout.split()
    found = []
    for pid in out:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(pid))
    return found


def wait_until_up(url: str, timeout: float = 120) -> bool:
    """Poll ``url`` until it answers 200 (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http(url, timeout=5)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.5)
    return False
