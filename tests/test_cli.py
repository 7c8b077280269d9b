"""`python -m knowledge`: each command does what its API function does."""

from __future__ import annotations

import json

from click.testing import CliRunner

from knowledge import engine
from knowledge.__main__ import cli

from .conftest import SEED_IDS, copy_records


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def test_build_then_show(tmp_path):
    trials = copy_records(tmp_path / "trials", SEED_IDS)
    db = tmp_path / "trials.db"
    code, out = run("build", "--db", db, "--trials", trials, "--no-progress")
    assert code == 0 and "2 trials" in out
    code, out = run("show", "NCT07320690", "--db", db)
    assert code == 0
    assert "De-Escalation Surgery After Immunotherapy" in out
    assert '"ECOG performance status of 0 or 1."' in out
    code, out = run("show", "NCT07320690", "--db", db, "--json")
    assert json.loads(out) == engine.show("NCT07320690", db=db)
    code, out = run("show", "NCT00000000", "--db", db)
    assert code == 1 and "not in the knowledge base" in out


def test_match_json_is_the_engine_result_for_the_normalised_answers(seeds_db):
    code, out = run(
        "match",
        "--db",
        seeds_db,
        "--json",
        "--age",
        "fifty-eight",
        "--site",
        "tonsil",
        "--p16",
        "positive",
        "--stage",
        "III",
        "--ecog",
        "KPS 80",
        "--prior",
        "Keytruda x3, partial response",
    )
    assert code == 0
    payload = json.loads(out)
    assert payload["type"] == "trial_matches"
    assert payload["profile"] == {
        "age": 58,
        "tumor_site": ["oropharynx"],
        "p16": "positive",
        "stage": ["III"],
        "ecog": 1,
        "prior_treatment": ["anti_pd1"],
        "immunotherapy_cycles": 3,
        "immunotherapy_response": "PR",
    }
    expected = [m.to_dict() for m in engine.match(payload["profile"], db=seeds_db)]
    assert payload["matches"] == expected


def test_match_text_ends_with_the_disclaimer_and_bad_answers_are_usage_errors(seeds_db):
    code, out = run("match", "--db", seeds_db, "--age", "58", "--site", "larynx")
    assert code == 0 and "not medical advice" in out and "study team confirms eligibility" in out
    code, out = run("match", "--db", seeds_db, "--age", "999")
    assert code == 2 and "cannot read '999' as an age" in out
    code, out = run("match", "--db", seeds_db, "--site", "elbow")
    assert code == 2 and "not a site I know" in out


def test_next_question(seeds_db):
    code, out = run("next", "--db", seeds_db)
    assert code == 0 and out.startswith("age\t")
    code, out = run("next", "--db", seeds_db, "--site", "nasopharynx")
    assert "nothing left to ask" in out


def test_check_reports_a_bad_record(tmp_path):
    trials = copy_records(tmp_path / "trials", SEED_IDS)
    bad = trials / "NCT06100497.yaml"
    bad.write_text(bad.read_text(encoding="utf-8").replace("max: 1\n", "max: -1\n    min: 3\n", 1), encoding="utf-8")
    code, out = run("check", *sorted(trials.glob("*.yaml")))
    assert code == 1 and "NCT06100497.yaml: criteria[" in out and "min 3 is above max -1" in out


def test_missing_database_is_a_clear_error(tmp_path):
    code, out = run("match", "--db", tmp_path / "none.db", "--age", "50")
    assert code == 1 and "make kb" in out
