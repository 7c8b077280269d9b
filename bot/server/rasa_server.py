"""Start the Rasa server with its secrets taken from the environment, guarded.

``rasa run --auth-token TOKEN`` would put the token on the command line, where
any local user can read it with ``ps``. This wrapper reads the HTTP API token
from ``TRIALBOT_API_TOKEN`` and the action server's token from
``TRIALBOT_ACTIONS_TOKEN``, removes both from the environment, installs the
guards of ``bot/server/guards.py`` (action endpoint token and port in memory, an
apology instead of silence when the action server is down, one turn at a time
per conversation, a message length cap, channels kept out of each other's
conversations, REST body checks, redacted logs and warnings) and hands the rest
of the arguments to Rasa's own command line in-process.

Defaults that keep it private: bound to 127.0.0.1 unless ``--interface`` says
otherwise, no CORS on the HTTP API and REST webhook (``--cors '*'`` is
refused; the browser page talks to the socket.io channel, whose origins
bot/server/channels.py limits to the page), telemetry off.
"""

from __future__ import annotations

import os
import sys

from bot.server import guards

HOST = "127.0.0.1"


def rasa_arguments(args: list[str], token: str) -> list[str]:
    """Rasa's ``run`` command line for ``args``, with the private defaults added."""
    for i, arg in enumerate(args):
        if arg == "--cors" and "*" in args[i + 1 : i + 2] or arg.startswith("--cors=") and "*" in arg:
            sys.exit("refusing --cors '*': the HTTP API and REST webhook take no cross-origin calls")
    if not any(a in ("-i", "--interface") or a.startswith("--interface=") for a in args):
        args = [*args, "--interface", HOST]
    return ["rasa", "run", *args, "--enable-api", "--auth-token", token]


def main() -> None:
    token = os.environ.pop("TRIALBOT_API_TOKEN", "")
    if not token:
        sys.exit("TRIALBOT_API_TOKEN is not set: the Rasa HTTP API is never started without a token")
    actions_token = os.environ.pop("TRIALBOT_ACTIONS_TOKEN", "")
    if not actions_token:
        print(
            "TRIALBOT_ACTIONS_TOKEN is not set: calls to the action server carry no token "
            "(it refuses them unless started with TRIALBOT_ACTIONS_INSECURE=1)",
            file=sys.stderr,
        )
    os.environ["RASA_TELEMETRY_ENABLED"] = "false"
    guards.install(actions_token, os.environ.get("ACTIONS_PORT"))
    sys.argv = rasa_arguments(sys.argv[1:], token)
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
