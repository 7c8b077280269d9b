"""Check the held-out NLU scores against their thresholds (``make test`` runs it).

``rasa test nlu`` writes reports but always exits 0, so on its own a worse
model would pass. This reads the reports it wrote and fails when the weighted
intent F1 or the entity F1 of the clinical entity extractor falls below the
target, printing the scores so the CI log records them either way.

    python -m tests.nlu_scores results/nlu --min-intent-f1 0.95 --min-entity-f1 0.95
"""

from __future__ import annotations

import json
from pathlib import Path

import click

ENTITY_REPORT = "ClinicalEntityExtractor_report.json"


def weighted_f1(report_file: Path) -> float:
    """The support-weighted F1 over all labels of one Rasa report file."""
    report = json.loads(report_file.read_text(encoding="utf-8"))
    return float(report["weighted avg"]["f1-score"])


def worst_labels(report_file: Path, n: int = 5) -> list[tuple[str, float]]:
    """The labels with the lowest F1, to say where a failing score comes from."""
    report = json.loads(report_file.read_text(encoding="utf-8"))
    labels = [
        (name, float(v["f1-score"]))
        for name, v in report.items()
        if isinstance(v, dict) and "f1-score" in v and not name.endswith("avg")
    ]
    return sorted(labels, key=lambda item: item[1])[:n]


@click.command()
@click.argument("results", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--min-intent-f1", type=float, default=0.95, show_default=True)
@click.option("--min-entity-f1", type=float, default=0.95, show_default=True)
def main(results: Path, min_intent_f1: float, min_entity_f1: float) -> None:
    """Fail unless RESULTS (the --out folder of `rasa test nlu`) meets both thresholds."""
    checks = [
        ("intent", results / "intent_report.json", min_intent_f1),
        ("entity", results / ENTITY_REPORT, min_entity_f1),
    ]
    failed = False
    for name, report, minimum in checks:
        if not report.exists():
            raise click.ClickException(f"{report} is missing: did `rasa test nlu` run?")
        score = weighted_f1(report)
        ok = score >= minimum
        failed |= not ok
        click.echo(f"held-out {name} F1 = {score:.4f} (target >= {minimum}) {'ok' if ok else 'BELOW TARGET'}")
        if not ok:
            for label, f1 in worst_labels(report):
                click.echo(f"    {label}: {f1:.3f}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
