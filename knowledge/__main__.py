"""Command line for the knowledge base: ``python -m knowledge COMMAND``.

Each command is one function of the Python API, so what a coordinator does
here is what the assistant does in code:

  build    knowledge.build.build          records -> trials.db (atomic)
  check    knowledge.records.load_record  check records without building
  import   knowledge.ctgov.import_studies ClinicalTrials.gov JSON -> records, then build
  show     knowledge.engine.show          one trial as stored
  match    knowledge.engine.match         verdicts for a patient
  next     knowledge.engine.next_question the question that matters most now
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import build as build_mod
from . import engine, normalize, records
from .db import DB_PATH, IMPORTED_DIR, TRIALS_DIR, KnowledgeBaseError

PATIENT_OPTIONS = [
    ("age", "Age, e.g. 58 or 'fifty-eight'."),
    ("site", "Tumour site in any words, e.g. 'tonsil', 'voice box'."),
    ("stage", "Stage group or TNM, e.g. 'III', '4a', 'T3N1M0', \"don't know\"."),
    ("ecog", "ECOG grade, Karnofsky score or description, e.g. '1', 'KPS 80'."),
    ("ecog-source", "Who gave the ECOG: patient (own words) or clinician."),
    ("prior", "Treatment received, e.g. 'pembrolizumab 3 cycles, partial response', 'none'."),
    ("p16", "p16/HPV status: positive, negative, not tested."),
    ("differentiation", "e.g. 'poorly differentiated'."),
    ("histology", "e.g. 'squamous cell carcinoma'."),
    ("response", "Response to immunotherapy: CR, PR, SD, PD."),
    ("cycles", "Cycles of immunotherapy received."),
    ("pathologic-response", "Pathological response after surgery: pCR, MPR, none."),
    ("recurrent", "Is the tumour recurrent? yes / no."),
    ("resectable", "Can it be removed by surgery? yes / no."),
    ("other-cancer", "Another cancer in the last 5 years? yes / no."),
    ("pregnant", "Pregnant or breastfeeding? yes / no."),
    ("sex", "female / male."),
]
FIELD_OF_OPTION = {
    "site": "tumor_site",
    "prior": "prior_treatment",
    "response": "immunotherapy_response",
    "cycles": "immunotherapy_cycles",
    "other_cancer": "other_cancer_5y",
    "pathologic_response": "pathologic_response",
}
# Options whose canonical values are fixed (click checks them).
OPTION_CHOICES = {"ecog-source": ["patient", "clinician"]}


def patient_options(fn):
    for name, help_text in reversed(PATIENT_OPTIONS):
        choice = click.Choice(OPTION_CHOICES[name]) if name in OPTION_CHOICES else None
        fn = click.option(f"--{name}", help=help_text, type=choice)(fn)
    return fn


def profile_from(options: dict) -> dict:
    answers = {FIELD_OF_OPTION.get(k, k): v for k, v in options.items() if v is not None}
    try:
        return normalize.ProfileAnswers(answers).profile()
    except ValueError as e:
        raise click.UsageError(str(e)) from None


db_option = click.option(
    "--db", "db_path", type=click.Path(path_type=Path), default=DB_PATH, show_default=True, help="Knowledge base file."
)


@click.group()
def cli():
    """Build, inspect and query the trial knowledge base."""


@cli.command()
@db_option
@click.option(
    "--trials",
    "dirs",
    multiple=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Record folders (default: knowledge/trials then knowledge/imported).",
)
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
def build(db_path, dirs, progress):
    """Build trials.db from the source records (atomic; a bad record changes nothing)."""
    dirs = dirs or (TRIALS_DIR, IMPORTED_DIR)
    try:
        report = build_mod.build(
            dirs=dirs, db_path=db_path, progress=sys.stderr.isatty() if progress is None else progress
        )
    except build_mod.BuildError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"built {report.path}: {report.trials} trials, {report.criteria} criteria, {report.locations} locations")
    if report.disagreements:
        click.echo(f"parser and reviewed records disagree on {len(report.disagreements)} rule(s) (reviewed wins):")
        for d in report.disagreements:
            click.echo(f"  {d['nct_id']} {d['field']}: parsed {d['parsed']} | reviewed {d['reviewed']}")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def check(paths):
    """Check source records without building (default: every record)."""
    paths = paths or build_mod.source_files()
    try:
        build_mod.load_all(paths)
    except build_mod.BuildError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{len(paths)} record(s) ok")


@cli.command(name="import")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=IMPORTED_DIR,
    show_default=True,
    help="Where the imported (unreviewed) records are written.",
)
@click.option("--build/--no-build", "rebuild", default=True, help="Rebuild the knowledge base afterwards.")
@db_option
@click.option("--progress/--no-progress", default=None)
def import_(sources, out, rebuild, db_path, progress):
    """Import ClinicalTrials.gov API v2 study JSON (file, folder or NDJSON)."""
    from . import ctgov

    show_progress = sys.stderr.isatty() if progress is None else progress
    written = []
    for source in sources:
        try:
            written += ctgov.import_studies(source, out, progress=show_progress)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"imported {len(written)} record(s) into {out} (unreviewed: never called eligible until reviewed)")
    if rebuild:
        dirs = (TRIALS_DIR, out) if Path(out).resolve() != TRIALS_DIR.resolve() else (TRIALS_DIR,)
        try:
            report = build_mod.build(dirs=dirs, db_path=db_path, progress=show_progress)
        except build_mod.BuildError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"built {report.path}: {report.trials} trials")


@cli.command()
@click.argument("nct_ids", nargs=-1, required=True)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(nct_ids, db_path, as_json):
    """Show trials as stored: facts, criteria with their rules, locations."""
    for nct_id in nct_ids:
        trial = _engine_call(engine.show, nct_id.upper(), db=db_path)
        if trial is None:
            raise click.ClickException(f"{nct_id} is not in the knowledge base")
        if as_json:
            click.echo(json.dumps(trial, indent=2, ensure_ascii=False))
            continue
        click.echo(f"{trial['nct_id']}  {trial['title']}")
        click.echo(f"  {trial['phase']} · {trial['status']} · {trial['sponsor']} · {trial['url']}")
        click.echo(f"  criteria: {trial['criteria_completeness']}, {trial['review_status']}")
        for c in trial["criteria"]:
            rule = "" if c["field"] == records.STUDY_TEAM else " " + json.dumps(c["rule"], ensure_ascii=False)
            click.echo(f'  - [{c["field"]}]{rule}\n      "{c["text"]}"')
        for loc in trial["locations"][:10]:
            click.echo(f"  @ {loc['facility']}, {loc['city']}, {loc['country']}")
        if len(trial["locations"]) > 10:
            click.echo(f"  @ ... and {len(trial['locations']) - 10} more locations")


@cli.command()
@patient_options
@db_option
@click.option("--limit", type=int, help="Explain at most this many trials.")
@click.option("--json", "as_json", is_flag=True, help="Print the trial_matches JSON.")
def match(db_path, limit, as_json, **options):
    """Verdicts for a patient: which trials may fit, which do not, and why."""
    profile = profile_from(options)
    results = _engine_call(engine.match, profile, db=db_path, limit=limit)
    if as_json:
        click.echo(
            json.dumps(
                {"type": "trial_matches", "profile": profile, "matches": [m.to_dict() for m in results]},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    click.echo(f"profile: {json.dumps(profile, ensure_ascii=False)}")
    for m in results:
        click.echo(f"\n{m.verdict.upper():<11} {m.nct_id}  {m.title}")
        for c in m.criteria:
            if c.status != "study_team":
                click.echo(f'  {c.status:<12} "{c.text}"')
        if m.study_team:
            click.echo(f"  + {len(m.study_team)} criteria the study team checks")
    click.echo("\nA pre-screen, not medical advice: the study team confirms eligibility.")


@cli.command(name="next")
@patient_options
@db_option
def next_(db_path, **options):
    """The question whose answer would change the most verdicts now."""
    question = _engine_call(engine.next_question, profile_from(options), db=db_path)
    if question is None:
        click.echo("nothing left to ask that could change a verdict")
    else:
        click.echo(f"{question.field}\t{question.label}\t(affects {', '.join(question.trials)})")


def _engine_call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except KnowledgeBaseError as e:
        raise click.ClickException(str(e)) from None


if __name__ == "__main__":
    cli(prog_name="python -m knowledge")
