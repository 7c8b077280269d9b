"""Shared fixtures: knowledge bases built from the real records into temp folders.

Tests never touch knowledge/trials.db, so they can run while the assistant is
up and cannot be fooled by a stale database.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from knowledge import build

REPO = Path(__file__).resolve().parents[1]
TRIALS = REPO / "knowledge" / "trials"
SEED_IDS = ("NCT06100497", "NCT07320690")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``make test`` (TRIALBOT_NO_SKIPS=1) a skipped test is a failure.

    Why: the skips only say that a part (the trained model, Chromium, Datasette, the widget)
    is missing, and ``make test`` installs every part first, so a skip there means a
    missing install step that a green run would hide. ``pytest`` alone may still skip.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("TRIALBOT_NO_SKIPS") == "1" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under make test (TRIALBOT_NO_SKIPS=1): {report.longrepr}"


def copy_records(dest: Path, ids=None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(TRIALS.glob("NCT*.yaml")):
        if ids is None or path.stem in ids:
            shutil.copy(path, dest / path.name)
    return dest


@pytest.fixture(scope="session")
def seeds_db(tmp_path_factory) -> Path:
    """Only the two seed trials, whose full criteria are ground truth."""
    root = tmp_path_factory.mktemp("seeds")
    records = copy_records(root / "trials", SEED_IDS)
    return build.build(dirs=[records], db_path=root / "trials.db", compare_parser=False).path


@pytest.fixture(scope="session")
def full_db(tmp_path_factory) -> Path:
    """Every reviewed record in knowledge/trials (seeds + partial related trials)."""
    root = tmp_path_factory.mktemp("full")
    records = copy_records(root / "trials")
    return build.build(dirs=[records], db_path=root / "trials.db", compare_parser=False).path


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory):
    """One ordinary running stack (``python -m bot run``) shared by the modules that only talk
    to it (conversations, bad input, the security checks over HTTP), each with its own sender
    ids. Why: starting a stack costs about 30 s of a 2-core CI machine. Tests that stop, kill
    or reconfigure a stack start their own."""
    from tests.stack import start_stack

    running = start_stack(tmp_path_factory.mktemp("shared-stack") / "stack.log")
    yield running
    running.stop()
