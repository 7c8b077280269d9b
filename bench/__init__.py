"""Benchmarks (not tests): the engine, the stack under load, ours against the stock Rasa bot,
the dialogue simulator, and the synthetic knowledge bases they time.

A package so the scripts import each other and the project's packages without sys.path
edits (pyproject.toml lists it; ``make setup`` installs the project in editable mode).
Nothing outside bench/ imports from here; bench/ may import the clinical core and the
tests' support modules (tests/stack.py ...), never the other way round.
"""
