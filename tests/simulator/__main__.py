"""Play generated screenings against the real stack and report: ``python -m tests.simulator``.

    .venv/bin/python -m tests.simulator --n 300 --seed 1 --workers 2 --out results/simulator
    .venv/bin/python bench/simulate.py --n 1000 --seed 7              # the same, as a benchmark
    .venv/bin/python -m tests.simulator --url http://127.0.0.1:5005 --token $TRIALBOT_API_TOKEN \\
        --records-db var/records.db --n 20                            # against a running `make run`

Without --url it starts the stack itself (tests/stack.py, free ports, conversations and
records in a temporary folder) and stops it at the end. Prints the figures and a failure
summary with sample transcripts; writes figures.json, summary.txt and one transcript per
failing screening under --out. Exit status 1 when any screening failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50, help="screenings to play (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated screenings (default 1)")
    parser.add_argument("--start", type=int, default=0, help="first screening index (default 0)")
    parser.add_argument("--language", default="en", help="phrase bank, tests/simulator/phrases/<language>.yaml")
    parser.add_argument("--workers", type=int, default=2, help="conversations played at once (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "simulator", help="where reports go")
    parser.add_argument("--samples", type=int, default=2, help="sample transcripts printed per failing invariant")
    parser.add_argument("--url", help="a running Rasa server (else a stack is started)")
    parser.add_argument("--token", default=os.environ.get("TRIALBOT_API_TOKEN"), help="its API token (tracker)")
    parser.add_argument("--records-db", type=Path, help="its records database (for 'one screening, one record')")
    parser.add_argument("--quiet", action="store_true", help="no progress dots")
    args = parser.parse_args(argv)

    from tests.simulator import bank as banks
    from tests.simulator.generator import generate
    from tests.simulator.player import RestClient, StackClient
    from tests.simulator.report import figures, run, text_summary, write

    bank = banks.load(args.language)
    plans = generate(args.n, args.seed, bank, start=args.start)
    stack = None
    if args.url:
        if not args.token:
            parser.error("--url needs --token (or TRIALBOT_API_TOKEN) to read the tracker")
        client = RestClient(args.url, args.token, args.records_db)
    else:
        from tests.stack import MODEL, start_stack

        if not MODEL.exists():
            parser.error(f"no trained model at {MODEL}: run `make train`")
        folder = Path(tempfile.mkdtemp(prefix="simulator-"))
        print(f"starting the stack (log {folder / 'stack.log'}) ...", flush=True)
        t0 = time.monotonic()
        stack = start_stack(folder / "stack.log")
        print(f"stack up in {time.monotonic() - t0:.0f} s", flush=True)
        client = StackClient(stack)
    try:

        def dot(outcome):
            if not args.quiet:
                print("." if outcome.ok else "F", end="", flush=True)

        outcomes, wall = run(
            client, plans, bank, workers=args.workers, run_id=f"{os.getpid()}{int(time.time()) % 10000}", progress=dot
        )
        if not args.quiet:
            print()
    finally:
        if stack is not None:
            stack.stop()
    fig = figures(outcomes, wall, args.workers)
    fig.update({"seed": args.seed, "start": args.start, "language": args.language})
    summary = text_summary(fig, outcomes, samples=args.samples)
    write(args.out, fig, outcomes, summary)
    print(summary)
    print(f"\nreports in {args.out} (figures.json, summary.txt, failures/)")
    return 0 if fig["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
