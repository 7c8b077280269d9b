"""``python -m bot records ...``: export, delete and purge pre-screening records.

Registered on the ``bot`` command group in ``bot/__main__.py``. Each command is a
thin wrapper over one function of ``screenings.store`` (and, for ``purge``, of the
conversation store in ``bot.server.tracker_store``), so the CLI and the code agree.
"""

from __future__ import annotations

import os
import sys
from datetime import timezone
from pathlib import Path

import click

from screenings import store

DEFAULT_RETENTION_DAYS = 30


def _retention_default() -> float:
    value = os.environ.get("TRIALBOT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"TRIALBOT_RETENTION_DAYS must be a number of days, not {value!r}") from None


def _write_private(path: Path, text: str) -> None:
    """Exports hold health data: the file is created readable by this user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)


@click.group("records")
def records():
    """Pre-screening records: export, delete one, purge old ones (retention)."""


@records.command()
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only records created on or after this day (YYYY-MM-DD, UTC).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (created 0600) instead of standard output.",
)
def export(fmt: str, since, output: Path | None):
    """Export records as CSV (one column per trial, for a spreadsheet) or JSON."""
    rows = store.export(since=since.replace(tzinfo=timezone.utc) if since else None)
    text = store.to_csv(rows) if fmt == "csv" else store.to_json(rows)
    if output is None:
        sys.stdout.write(text)
    else:
        _write_private(output, text)
        click.echo(f"wrote {output}", err=True)


@records.command()
@click.argument("ref")
def delete(ref: str):
    """Delete the record with reference REF (e.g. HN-7K3Q-9D2F)."""
    if not store.delete(ref):
        raise click.ClickException(f"no record with reference {store.normalise_reference(ref)}")
    click.echo(f"deleted record {store.normalise_reference(ref)}")


@records.command()
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0),
    default=None,
    help=f"Days to keep (default: TRIALBOT_RETENTION_DAYS, else {DEFAULT_RETENTION_DAYS}).",
)
def purge(days: float | None):
    """Delete records and stored conversations older than the retention period."""
    days = _retention_default() if days is None else days
    n_records = store.purge(days)
    from bot.server.tracker_store import purge_configured  # imports Rasa: only when purging

    n_conversations = purge_configured(days)
    click.echo(f"purged {n_records} record(s) and {n_conversations} conversation(s) older than {days:g} day(s)")
