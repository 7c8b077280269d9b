"""Start the Rasa server with the HTTP API token taken from the environment.

``rasa run --auth-token TOKEN`` would put the token on the command line, where
any local user can read it with ``ps``. This wrapper reads it from
``TRIALBOT_API_TOKEN``, removes it from the environment, and hands the rest of
the arguments to Rasa's own command line in-process.
"""
from __future__ import annotations

import os
import sys


def main() -> None:
    token = os.environ.pop("TRIALBOT_API_TOKEN", "")
    if not token:
        sys.exit("TRIALBOT_API_TOKEN is not set: the Rasa HTTP API is never started without a token")
    sys.argv = ["rasa", "run", *sys.argv[1:], "--enable-api", "--auth-token", token]
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
