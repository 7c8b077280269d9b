"""Generate ``data/lookups.yml``: Rasa NLU lookup tables from ``knowledge/vocabulary``.

The RegexFeaturizer turns lookup-table matches into features, which helps DIET
recognise an ``inform`` answer ("voice box", "Keytruda", "it shrank") from
words it never saw in training. The tables are generated, never hand-written,
so they always hold the same words as the entity extractor and the normalisers:

    python -m bot.nlu.lookups            # (re)write data/lookups.yml
    python -m bot.nlu.lookups --check    # exit 1 if data/lookups.yml is missing or stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from knowledge import vocab

REPO = Path(__file__).resolve().parents[2]
LOOKUPS_PATH = REPO / "data" / "lookups.yml"

HEADER = """\
# GENERATED FILE: do not edit by hand.
# Written by `python -m bot.nlu.lookups` from knowledge/vocabulary/*.yaml (sites,
# treatments); change the vocabulary and regenerate. `python -m bot.nlu.lookups --check`
# fails when this file is missing or out of date.
"""


def _unique(terms: Iterable[str]) -> List[str]:
    """Terms in vocabulary order, without case-insensitive duplicates."""
    seen, out = set(), []
    for term in terms:
        term = str(term).strip()
        if term and term.lower() not in seen:
            seen.add(term.lower())
            out.append(term)
    return out


def tables() -> Dict[str, List[str]]:
    """The lookup tables: name -> terms (names match the entities they describe)."""
    return {
        "tumor_site": _unique([t for t, _ in vocab.site_terms()] + [t for t, _ in vocab.ambiguous_site_terms()]),
        "drug": _unique(t for t, _ in vocab.drug_terms()),
        "treatment": _unique(t for t, _ in vocab.treatment_terms()),
        "response": _unique(t for t, _ in vocab.response_terms()),
    }


def render() -> str:
    """The whole text of data/lookups.yml."""
    lines = [HEADER.rstrip("\n"), 'version: "3.1"', "nlu:"]
    for name, terms in tables().items():
        lines.append(f"  - lookup: {name}")
        lines.append("    examples: |")
        lines.extend(f"      - {term}" for term in terms)
    return "\n".join(lines) + "\n"


def write(path: Path = LOOKUPS_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path


def is_current(path: Path = LOOKUPS_PATH) -> bool:
    return path.is_file() and path.read_text(encoding="utf-8") == render()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.nlu.lookups", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is missing or stale; write nothing")
    parser.add_argument("--output", type=Path, default=LOOKUPS_PATH, help=f"default: {LOOKUPS_PATH.relative_to(REPO)}")
    args = parser.parse_args(argv)
    if args.check:
        if not args.output.is_file():
            print(f"{args.output} is missing: run `python -m bot.nlu.lookups`", file=sys.stderr)
            return 1
        if not is_current(args.output):
            print(f"{args.output} is stale: run `python -m bot.nlu.lookups`", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    path = write(args.output)
    counts = ", ".join(f"{name} {len(terms)}" for name, terms in tables().items())
    print(f"wrote {path} ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
