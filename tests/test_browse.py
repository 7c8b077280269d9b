"""`make browse`: Datasette over the knowledge base, read-only, on 127.0.0.1, search working.

Runs Datasette from .venv-browse (installed by `make browse-setup`, pinned by
requirements-browse.lock) exactly as the Makefile does, but on a knowledge base
built into a temp folder (tests never touch knowledge/trials.db) and a free port.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.stack import free_port

ROOT = Path(__file__).resolve().parents[1]
DATASETTE = ROOT / ".venv-browse" / "bin" / "datasette"
METADATA = ROOT / "knowledge" / "datasette.yaml"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATASETTE.exists(), reason="Datasette is not installed: run `make browse-setup`"),
]


def makefile_command(db: Path, port: int) -> list[str]:
    """The `make browse` recipe with this test's database and port (make -n prints it)."""
    out = subprocess.run(
        ["make", "-n", "browse", f"KB={db}", f"BROWSE_PORT={port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.replace("\\\n", " ").splitlines() if "datasette serve" in x)
    return line.split()


@pytest.fixture(scope="module")
def browse(full_db):
    port = free_port()
    command = makefile_command(full_db, port)
    assert command[:3] == [".venv-browse/bin/datasette", "serve", "-i"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/-/versions.json", timeout=2)
            break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("datasette did not start:\n" + process.stdout.read().decode()[-2000:])
            time.sleep(0.3)
    yield base
    process.terminate()
    process.wait(timeout=15)


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def rows(base: str, path: str, **params) -> list[dict]:
    return get(f"{base}/trials/{path}.json?" + urllib.parse.urlencode({**params, "_shape": "array"}))


def test_the_make_recipe_binds_loopback_and_serves_immutable(full_db):
    command = makefile_command(full_db, 8123)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--metadata") + 1] == "knowledge/datasette.yaml"
    assert str(full_db) in command


def test_the_database_is_read_only(browse):
    (database,) = get(browse + "/-/databases.json")
    assert database["name"] == "trials" and database["is_mutable"] is False


def test_tables_are_browsable(browse):
    trials = rows(browse, "trials", _col="title")
    assert {"NCT06100497", "NCT07320690"} <= {t["nct_id"] for t in trials}
    criteria = rows(browse, "criteria", nct_id="NCT07320690", _size="max")
    assert any(c["criterion_id"] == "ecog" for c in criteria)
    assert rows(browse, "locations", city="Beijing")


def fts(db: Path, table: str, key: str, words: str) -> set:
    with sqlite3.connect(db) as conn:
        return {
            r[0]
            for r in conn.execute(
                f"SELECT t.{key} FROM {table} t JOIN {table}_fts f ON f.rowid = t.rowid WHERE {table}_fts MATCH ?",
                [words],
            )
        }


def test_full_text_search_on_trials_and_criteria(browse, full_db):
    tables = {t["name"]: t for t in get(browse + "/trials.json")["tables"]}
    assert tables["trials"]["fts_table"] == "trials_fts" and tables["criteria"]["fts_table"] == "criteria_fts"
    found = {t["nct_id"] for t in rows(browse, "trials", _search="tislelizumab")}
    assert found == fts(full_db, "trials", "nct_id", "tislelizumab")
    assert 0 < len(found) < len(rows(browse, "trials"))
    ecog = rows(browse, "criteria", _search="ECOG", _size="max")
    assert {c["id"] for c in ecog} == fts(full_db, "criteria", "id", "ECOG") and ecog


def test_coordinator_queries(browse):
    beijing = rows(browse, "trials_by_site", place="Beijing")
    assert beijing and all(r["city"] == "Beijing" for r in beijing)
    review = rows(browse, "criteria_needing_review")
    assert review and all(r["why"] for r in review)
    assert any(r["criterion_id"] == "stage_oropharynx_p16_positive" for r in review)
    team = rows(browse, "study_team_checks", nct_id="NCT07320690")
    assert team and all(r["nct_id"] == "NCT07320690" for r in team)
    assert rows(browse, "trial_criteria", nct_id="NCT07320690")[0]["ord"] is not None


def test_the_page_has_the_search_box_and_descriptions(browse):
    with urllib.request.urlopen(browse + "/trials/trials", timeout=30) as response:
        html = response.read().decode()
    assert 'name="_search"' in html
    assert "Full-text search covers title" in html
