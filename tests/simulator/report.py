"""Play many screenings (concurrently), and sum them up: figures, failures, transcripts."""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

from tests.stats import percentile

from .bank import Bank
from .checks import Outcome, check, format_outcome
from .player import Client, play
from .profiles import Plan


def run(
    client: Client,
    plans: Iterable[Plan],
    bank: Bank,
    workers: int = 2,
    run_id: str = "0",
    progress: Callable[[Outcome], None] | None = None,
) -> tuple[list[Outcome], float]:
    """Play every plan (``workers`` conversations at a time); outcomes in plan order and wall seconds."""
    plans = list(plans)
    started = time.monotonic()

    def one(plan: Plan) -> Outcome:
        outcome = check(play(client, plan, bank, run_id), bank)
        if progress:
            progress(outcome)
        return outcome

    if workers <= 1:
        outcomes = [one(p) for p in plans]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(one, plans))
    return outcomes, time.monotonic() - started


def _dist(values: list[float]) -> dict:
    return {
        "median": statistics.median(values) if values else None,
        "p90": percentile(values, 90) if values else None,
        "max": max(values) if values else None,
    }


def figures(outcomes: list[Outcome], wall: float, workers: int) -> dict:
    """The run in numbers (JSON-able)."""
    with_result = [o for o in outcomes if o.transcript.results]
    questions, distinct, turns = [], [], []
    for o in with_result:
        first = o.transcript.results[0][0]
        before = [t for t in o.transcript.turns if t.number <= first]
        asked = [t for t in before if t.asked]  # utter_question_<slot> in the bot's events
        questions.append(len(asked))
        distinct.append(len({t.asked for t in asked}))
        turns.append(first)
    failures = Counter()
    by_key: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        for code in {f.code for f in o.failures}:
            failures[code] += 1
        for f in o.failures:
            if f.key:
                by_key[f.code][f.key] += 1
    per_tag: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        for tag in o.transcript.plan.perturbations:
            per_tag[tag]["n"] += 1
            per_tag[tag]["failed"] += 0 if o.ok else 1
    total_turns = sum(len(o.transcript.turns) for o in outcomes)
    diag = Counter()
    misread, lost, ignored = Counter(), Counter(), Counter()
    for o in outcomes:
        d = o.diagnostics
        for name in (
            "asked_again_after_given",
            "second_person_to_relative",
            "dead_replies",
            "gaps",
            "typos",
            "correction_ignored",
            "lost_fields",
        ):
            if d.get(name):
                diag[name] += 1
        for name in d.get("misread", {}):
            misread[name] += 1
        for name in d.get("lost_fields", []):
            lost[name] += 1
        for name in d.get("correction_ignored", []):
            ignored[name] += 1
    return {
        "screenings": len(outcomes),
        "passed": sum(o.ok for o in outcomes),
        "failed": sum(not o.ok for o in outcomes),
        "with_result": len(with_result),
        "failures_by_invariant": dict(failures.most_common()),
        "failures_by_invariant_and_key": {code: dict(c.most_common(12)) for code, c in by_key.items()},
        "questions_to_result": _dist(questions),
        "distinct_questions_to_result": _dist(distinct),
        "turns_to_result": _dist(turns),
        "screenings_with_a_skip": sum(bool(o.transcript.skipped) for o in outcomes),
        "skipped_questions": dict(Counter(s for o in outcomes for s in o.transcript.skipped).most_common()),
        "answered_dont_know_without_bank": dict(
            Counter(s for o in outcomes for s in o.transcript.unbanked).most_common()
        ),
        "failed_with_a_known_gap_phrasing": sum(1 for o in outcomes if not o.ok and o.diagnostics.get("gaps")),
        "failed_after_a_typo": sum(1 for o in outcomes if not o.ok and o.diagnostics.get("typos")),
        "diagnostics_screenings": dict(diag.most_common()),
        "misread_fields": dict(misread.most_common()),
        "lost_fields": dict(lost.most_common()),
        "corrections_not_taken": dict(ignored.most_common()),
        "by_perturbation": {tag: {"n": c["n"], "failed": c["failed"]} for tag, c in sorted(per_tag.items())},
        "late_answers": sum(any(t.sent.kind == "late" for t in o.transcript.turns) for o in outcomes),
        "late_answers_with_a_new_result": sum(
            any(t.sent.kind == "late" for t in o.transcript.turns) and len(o.transcript.results) >= 2 for o in outcomes
        ),
        "tracker_calls_for_requested_slot": sum(o.transcript.tracker_calls for o in outcomes),
        "turns": total_turns,
        "wall_seconds": round(wall, 1),
        "seconds_per_screening": round(wall / len(outcomes), 2) if outcomes else None,
        "turns_per_second": round(total_turns / wall, 1) if wall else None,
        "workers": workers,
    }


def text_summary(fig: dict, outcomes: list[Outcome], samples: int = 2) -> str:
    """The figures and the failures, as a short report."""
    q, dq, tt = fig["questions_to_result"], fig["distinct_questions_to_result"], fig["turns_to_result"]
    lines = [
        f"{fig['screenings']} screenings: {fig['passed']} passed, {fig['failed']} failed; "
        f"{fig['with_result']} reached a result",
        f"questions to result: median {q['median']}, p90 {q['p90']} (distinct: median {dq['median']}, p90 {dq['p90']})",
        f"turns to result: median {tt['median']}, p90 {tt['p90']}, max {tt['max']}",
        f"screenings that needed a skip: {fig['screenings_with_a_skip']} ({fig['skipped_questions']})",
        f"late answers after the result: {fig['late_answers']} ({fig['late_answers_with_a_new_result']} got a new result); "
        f"requested_slot read from the tracker {fig['tracker_calls_for_requested_slot']} time(s) (a reply with no "
        "question it could read)",
        f"wall time {fig['wall_seconds']} s with {fig['workers']} concurrent conversation(s): "
        f"{fig['seconds_per_screening']} s per screening, {fig['turns_per_second']} turns/s",
    ]
    if fig["failures_by_invariant"]:
        lines.append("failures (screenings per invariant):")
        for code, n in fig["failures_by_invariant"].items():
            keys = fig["failures_by_invariant_and_key"].get(code)
            detail = (" - " + ", ".join(f"{k}: {v}" for k, v in keys.items())) if keys else ""
            lines.append(f"  {code}: {n}{detail}")
    if fig["failed"]:
        lines.append(
            f"of the failed screenings, {fig['failed_with_a_known_gap_phrasing']} used a phrasing tagged as a "
            f"known normaliser gap and {fig['failed_after_a_typo']} had a typo"
        )
    if fig["diagnostics_screenings"] or fig["misread_fields"]:
        lines.append(
            "diagnostics (screenings): "
            + ", ".join(f"{k} {v}" for k, v in fig["diagnostics_screenings"].items())
            + (
                "; misread fields: " + ", ".join(f"{k} {v}" for k, v in fig["misread_fields"].items())
                if fig["misread_fields"]
                else ""
            )
            + ("; lost: " + ", ".join(f"{k} {v}" for k, v in fig["lost_fields"].items()) if fig["lost_fields"] else "")
            + (
                "; corrections not taken: " + ", ".join(f"{k} {v}" for k, v in fig["corrections_not_taken"].items())
                if fig["corrections_not_taken"]
                else ""
            )
        )
    worst = sorted(
        ((v["failed"] / v["n"], tag, v) for tag, v in fig["by_perturbation"].items() if v["n"] >= 3), reverse=True
    )
    if worst and fig["failed"]:
        lines.append(
            "failure rate by feature of the screening: "
            + ", ".join(f"{tag} {v['failed']}/{v['n']}" for _, tag, v in worst)
        )
    by_code: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        for code in dict.fromkeys(f.code for f in o.failures):
            by_code[code].append(o)
    shown: set[int] = set()
    for code, failed in by_code.items():
        fresh = [o for o in failed if o.transcript.plan.index not in shown][:samples]
        already = [o.transcript.plan.index for o in failed if o.transcript.plan.index in shown][: samples - len(fresh)]
        for o in fresh:
            lines.append("")
            lines.append(f"--- sample for {code} (screening {o.transcript.plan.index}) ---")
            lines.append(format_outcome(o))
            shown.add(o.transcript.plan.index)
        if already:
            lines.append("")
            lines.append(f"--- {code}: see also screening(s) {', '.join(map(str, already))} above ---")
    return "\n".join(lines)


def write(outdir: Path, fig: dict, outcomes: list[Outcome], summary: str) -> None:
    """figures.json, summary.txt, and one transcript file per failing screening under failures/."""
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "figures.json").write_text(json.dumps(fig, indent=2, default=str) + "\n")
    (outdir / "summary.txt").write_text(summary + "\n")
    failures = outdir / "failures"
    failures.mkdir(exist_ok=True)
    for old in failures.glob("*.txt"):
        old.unlink()
    for o in outcomes:
        if not o.ok:
            codes = "-".join(dict.fromkeys(f.code for f in o.failures))
            (failures / f"{o.transcript.plan.index:05d}-{codes}.txt").write_text(format_outcome(o) + "\n")
