"""Shared fixtures: knowledge bases built from the real records into temp folders.

Tests never touch knowledge/trials.db, so they can run while the assistant is
up and cannot be fooled by a stale database.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge import build

REPO = Path(__file__).resolve().parents[1]
TRIALS = REPO / "knowledge" / "trials"
SEED_IDS = ("NCT06100497", "NCT07320690")


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
