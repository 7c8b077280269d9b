"""Dialogue simulator benchmark: generated screenings against the real stack.

    .venv/bin/python bench/simulate.py --n 1000 --seed 7 --workers 2 --out results/simulator-bench

The same as ``python -m tests.simulator`` (tests/simulator/__main__.py): --n, --seed,
--language, --workers, --out (failing transcripts go to <out>/failures/), --url/--token
to use a running server instead of starting one. Prints the figures (questions and
turns to the result, median and p90, questions counted from the bot events' utter_action;
screenings that needed a skip; late answers after the result and whether each got a new
result; tracker calls the simulator needed besides one per screening; wall time).
"""

import sys

from tests.simulator.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
