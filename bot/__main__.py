"""Run the assistant: ``python -m bot run`` (what ``make run`` calls).

Starts the action server, the Rasa server and the web server (patient page and
nurse console, ``bot/web.py``) as child processes, all bound to 127.0.0.1,
waits until each answers, prints where to reach them, and stops them all on
Ctrl-C (or when the Rasa or web server dies, so nothing is left half-up). A
dead action server is restarted on the same port with the same token: Rasa
apologises meanwhile ("I can't check the trials right now") and conversations
carry on with their answers once it is back.

Secrets travel in the environment only: the HTTP API token (printed when
generated) and a per-run action server token, which only the action server
and Rasa receive.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "trialbot.tar.gz"
HOST = "127.0.0.1"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.update(extra)
    return env


def _wait_for(url: str, process: subprocess.Popen, timeout: float) -> bool:
    """Poll ``url`` until it answers 200, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    return False


def _stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.terminate()  # SIGTERM: Sanic stops gracefully; SIGINT may be ignored in background jobs
    deadline = time.monotonic() + 15
    for p in processes:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def _actions_command(actions_port: int) -> list[str]:
    return [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(actions_port)]


class ActionServer:
    """The action server child, restarted when it dies (same port, same token).

    Rasa answers "I can't check the trials right now" while it is down
    (bot/server/guards.py) and the conversation carries on once it is back. Restarts
    are spaced by ``TRIALBOT_ACTIONS_RESTART_DELAY`` seconds (2); after
    ``MAX_RESTARTS`` within ``RESTART_WINDOW`` seconds it is left down and
    ``bot run`` stops everything, so a crash loop is not hidden.
    """

    MAX_RESTARTS = 5
    RESTART_WINDOW = 300.0

    def __init__(self, actions_port: int, env: dict[str, str]):
        self.port, self.env = actions_port, env
        self.delay = float(os.environ.get("TRIALBOT_ACTIONS_RESTART_DELAY", "2"))
        self.restarts: list[float] = []
        self.died_at: float | None = None
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        return subprocess.Popen(_actions_command(self.port), cwd=ROOT, env=self.env)

    def alive(self) -> bool:
        """Poll; restart when due. False only when it is down for good."""
        if self.process.poll() is None:
            return True
        now = time.monotonic()
        if self.died_at is None:
            self.died_at = now
            click.echo(f"the action server stopped (exit {self.process.returncode}); restarting it", err=True)
        self.restarts = [t for t in self.restarts if now - t < self.RESTART_WINDOW]
        if len(self.restarts) >= self.MAX_RESTARTS:
            return False
        if now - self.died_at >= self.delay:
            self.restarts.append(now)
            self.died_at = None
            self.process = self._start()
        return True


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the servers, even when started from a script
    (a shell starts background jobs with SIGINT ignored)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


@click.group()
def cli():
    """The head-and-neck trial pre-screening assistant."""


@cli.command()
@click.option("--rasa-port", envvar="RASA_PORT", default=5005, show_default=True)
@click.option("--actions-port", envvar="ACTIONS_PORT", default=5055, show_default=True)
@click.option("--web-port", envvar="WEB_PORT", default=8080, show_default=True)
@click.option("--model", type=click.Path(path_type=Path), default=MODEL, show_default=True)
@click.option("--startup-timeout", default=300.0, show_default=True, help="Seconds to wait for the servers.")
def run(rasa_port: int, actions_port: int, web_port: int, model: Path, startup_timeout: float):
    """Start the action server, the Rasa server and the web page on 127.0.0.1; Ctrl-C stops all."""
    if not model.exists():
        raise click.ClickException(f"{model} does not exist: train it with `make train`")
    token = os.environ.get("TRIALBOT_API_TOKEN")
    if not token:
        token = secrets.token_urlsafe(24)
        click.echo(f"TRIALBOT_API_TOKEN was not set; this run's API token is: {token}")
    # Rasa calls the action server with this token (bot/server/guards.py); the action server refuses
    # calls without it (rasa_sdk_plugins/guard.py). Environment only: never argv, never a file.
    actions_token = os.environ.get("TRIALBOT_ACTIONS_TOKEN") or secrets.token_urlsafe(32)
    python = sys.executable
    actions_env = _env(SANIC_HOST=HOST, TRIALBOT_ACTIONS_TOKEN=actions_token)
    actions_env.pop("TRIALBOT_API_TOKEN", None)  # the action server has no use for the API token
    action_server = ActionServer(actions_port, actions_env)
    rasa = subprocess.Popen(
        # endpoints.yml as it is: bot/server/rasa_server.py fills ${ACTIONS_PORT} and the token in memory.
        [
            python,
            "-m",
            "bot.server.rasa_server",
            "--model",
            str(model),
            "--interface",
            HOST,
            "--port",
            str(rasa_port),
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
        ],
        # WEB_PORT: the socket.io channel (bot/server/channels.py) accepts browsers from that origin only.
        cwd=ROOT,
        env=_env(
            ACTIONS_PORT=str(actions_port),
            WEB_PORT=str(web_port),
            TRIALBOT_API_TOKEN=token,
            TRIALBOT_ACTIONS_TOKEN=actions_token,
        ),
    )
    web_env = _env(WEB_PORT=str(web_port), RASA_PORT=str(rasa_port))
    for secret in ("TRIALBOT_API_TOKEN", "TRIALBOT_ACTIONS_TOKEN"):
        web_env.pop(secret, None)  # the page server has no use for either token
    web = subprocess.Popen([python, "-m", "bot.web"], cwd=ROOT, env=web_env)
    others = [rasa, web]
    _stop_on_signals()
    try:
        ok = (
            _wait_for(f"http://{HOST}:{actions_port}/health", action_server.process, startup_timeout)
            and _wait_for(f"http://{HOST}:{rasa_port}/", rasa, startup_timeout)
            and _wait_for(f"http://{HOST}:{web_port}/healthz", web, startup_timeout)
        )
        if not ok:
            raise click.ClickException("a server did not start; see the messages above")
        click.echo(
            "\nThe assistant is running (Ctrl-C stops it):\n"
            f"  patient page:   http://{HOST}:{web_port}/\n"
            f"  nurse console:  http://{HOST}:{web_port}/nurse\n"
            f"  chat (REST):    POST http://{HOST}:{rasa_port}/webhooks/rest/webhook  "
            '{"sender": "me", "message": "hello"}\n'
            f"  socket.io:      http://{HOST}:{rasa_port}/socket.io\n"
            f"  HTTP API:       http://{HOST}:{rasa_port}/status?token=...  (token above or TRIALBOT_API_TOKEN)\n"
            f"  action server:  http://{HOST}:{actions_port}/health\n"
        )
        while action_server.alive() and all(p.poll() is None for p in others):
            time.sleep(0.5)
        raise click.ClickException("a server stopped unexpectedly; stopping the others")
    except KeyboardInterrupt:
        click.echo("\nstopping...")
    finally:
        _stop([action_server.process, *others])


from .records_cli import records  # noqa: E402  (python -m bot records ...)

cli.add_command(records)

if __name__ == "__main__":
    cli(prog_name="python -m bot")
