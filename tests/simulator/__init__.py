"""A dialogue simulator: generated screenings played against the real stack.

- ``phrases/<language>.yaml``: the words (phrase banks), one file per language;
- ``profiles.py``: what simulated patients are like, in canonical values only;
- ``generator.py``: seeded screenings (a persona and its perturbations);
- ``user.py``: the simulated user (answers whatever the bot asks, from the bank);
- ``player.py``: plays a screening over REST and records every turn;
- ``questions.py``: which question a reply asks (its words, from domain.yml) and which the bot's
  events say it asked (``utter_action`` metadata);
- ``checks.py``: the invariants and a readable transcript;
- ``report.py``: many screenings at once, figures and a failure summary;
- ``fakebot.py``: an in-process reference bot that follows the dialogue contract (unit tests);
- ``__main__.py``: ``python -m tests.simulator`` (also ``bench/simulate.py``).
"""

from .bank import Bank, load
from .checks import Outcome, check, format_outcome
from .generator import generate, make_plan
from .player import RestClient, StackClient, Transcript, play
from .report import figures, run, text_summary, write

__all__ = [
    "Bank",
    "load",
    "Outcome",
    "check",
    "format_outcome",
    "generate",
    "make_plan",
    "RestClient",
    "StackClient",
    "Transcript",
    "play",
    "figures",
    "run",
    "text_summary",
    "write",
]
