"""Plugins for the action server (``python -m rasa_sdk --actions actions``).

rasa_sdk 3.6 discovers plugins by importing a top-level package named
``rasa_sdk_plugins`` and calling ``init_hooks(manager)`` (rasa_sdk/plugin.py);
the action server runs with the repository root as its working directory, so
this package is found there. ``guard`` adds what rasa_sdk lacks: a bearer token
on the action endpoints and an error handler that never echoes the tracker.
"""

from __future__ import annotations

import pluggy


def init_hooks(manager: pluggy.PluginManager) -> None:
    """Register the action server's guard (token, error handler, test hooks)."""
    from . import guard

    manager.register(guard)
