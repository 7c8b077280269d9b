"""The action server's guard: who may call it, and what an error may reveal.

rasa_sdk 3.6 has no authentication at all, and when an action raises its
exception handler answers with the whole request body, i.e. the tracker with
every answer the patient gave. This plugin, attached through rasa_sdk's
``attach_sanic_app_extensions`` hook, adds:

- a bearer token on ``/webhook`` and ``/actions`` (``Authorization: Bearer
  <TRIALBOT_ACTIONS_TOKEN>``, compared in constant time): 401 without it, 403
  with a wrong one. ``/health`` stays open (it says nothing). Rasa sends the
  header (bot/server/rasa_server.py adds it to the action endpoint in-process).
- loopback by default: ``SANIC_HOST`` (which rasa_sdk reads after this hook,
  defaulting to 0.0.0.0) defaults to 127.0.0.1 here;
- a refusal to start without a token, unless ``TRIALBOT_ACTIONS_INSECURE=1``
  is set on purpose (local experiments only; it is logged loudly);
- an exception handler that answers ``{"error": "<ExceptionType>"}`` and logs
  only the exception type: no request body, no tracker, no message text;
- a test hook, ``TRIALBOT_FAULT_DELAY_SECONDS``: when set (tests only), every
  ``/webhook`` call waits that long before running, to show what a slow action
  does to a conversation. Unset, it costs nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os

import pluggy
from sanic import Sanic, response
from sanic.exceptions import SanicException

logger = logging.getLogger(__name__)
hookimpl = pluggy.HookimplMarker("rasa_sdk")

TOKEN_ENV = "TRIALBOT_ACTIONS_TOKEN"
INSECURE_ENV = "TRIALBOT_ACTIONS_INSECURE"
FAULT_DELAY_ENV = "TRIALBOT_FAULT_DELAY_SECONDS"
PROTECTED = ("/webhook", "/actions")


class MissingToken(SystemExit):
    """The action server is never started open by accident."""


def configured_token() -> str | None:
    """The token every caller must present, or None under the explicit dev override."""
    token = os.environ.get(TOKEN_ENV, "")
    if token:
        return token
    if os.environ.get(INSECURE_ENV) == "1":
        logger.warning("%s=1: the action server accepts calls WITHOUT a token (development only)", INSECURE_ENV)
        return None
    raise MissingToken(
        f"{TOKEN_ENV} is not set: the action server does not start without a token "
        f"(`python -m bot run` generates one; set {INSECURE_ENV}=1 only for local experiments)"
    )


def authorised(header: str | None, token: str) -> bool | None:
    """None when no bearer credentials were sent, else whether they match ``token``."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _fault_delay() -> float:
    try:
        return max(0.0, float(os.environ.get(FAULT_DELAY_ENV, "") or 0))
    except ValueError:
        return 0.0


def _add_token_check(app: Sanic, token: str) -> None:
    async def check_token(request):
        if not request.path.startswith(PROTECTED):
            return None
        verdict = authorised(request.headers.get("Authorization"), token)
        if verdict is None:
            return response.json(
                {"error": "authentication required"}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        if not verdict:
            return response.json({"error": "forbidden"}, status=403)
        return None

    app.register_middleware(check_token, "request")


def _add_fault_delay(app: Sanic, seconds: float) -> None:
    logger.warning("%s=%s: every action call is delayed (test hook)", FAULT_DELAY_ENV, seconds)

    async def delay(request):
        if request.path.startswith("/webhook"):
            await asyncio.sleep(seconds)

    app.register_middleware(delay, "request")


async def safe_exception_handler(request, exception: Exception):
    """Replaces rasa_sdk's handler, which returns ``request.json`` (the tracker)."""
    status = exception.status_code if isinstance(exception, SanicException) else 500
    name = type(exception).__name__
    if status >= 500:
        logger.error("action server error: %s", name)
    return response.json({"error": name}, status=status)


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    """rasa_sdk calls this once the app is created, before it serves."""
    os.environ.setdefault("SANIC_HOST", "127.0.0.1")
    token = configured_token()
    if token is not None:
        _add_token_check(app, token)
    seconds = _fault_delay()
    if seconds:
        _add_fault_delay(app, seconds)
    app.error_handler.add(Exception, safe_exception_handler)
