#!/usr/bin/env python
"""Benchmark the eligibility engine on synthetic knowledge bases (not a test).

For each size (default 1k, 10k and 100k trials) this builds a synthetic
database under bench/ with bench/synthetic.py (or reuses one built earlier
with the same size, seed, generator version and vocabulary), opens it the way
the action server does (``knowledge.db.connect``), and times, over a fixed set
of 20 patient profiles:

  match        engine.match(profile, db=conn): every trial in scope explained
  match@20     engine.match(profile, db=conn, limit=20): the 20 best only
  result       engine.match(profile, db=conn, explain=20): what a chat result sends
               (every trial in scope with its verdict, the best 20 explained)
  next_question engine.next_question(profile, db=conn)

It prints a table (median and p95 in ms) and writes the same, with the
machine description, to bench/out/engine.json.

    .venv/bin/python bench/bench_engine.py [--sizes 1000,10000] [--calls 200] [--seed 0] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from bench import synthetic
from knowledge import db as kdb
from knowledge import engine, vocab
from tests.stats import percentile

ROOT = Path(__file__).resolve().parent.parent

BENCH_DIR = ROOT / "bench"
OUT_PATH = BENCH_DIR / "out" / "engine.json"
MIN_CALLS = 50
TARGET_P95_MS = 50.0

# --- patient profiles ------------------------------------------------------------------------
# Fixed (so every run and every size times the same work): complete head-and-neck
# profiles, partial ones with unknowns (as a chat fills them in), and out-of-scope
# ones (nasopharynx, which many head-and-neck trials exclude; breast; lung).
PROFILES: list[tuple[str, str, dict]] = [
    (
        "complete",
        "oropharynx p16+ III after anti-PD-1",
        {
            "age": 58,
            "tumor_site": "oropharynx",
            "stage": "III",
            "ecog": 1,
            "prior_treatment": ["anti_pd1"],
            "p16": "positive",
            "histology": "squamous_cell_carcinoma",
            "differentiation": "poor",
            "immunotherapy_response": "PR",
            "immunotherapy_cycles": 3,
            "recurrent": "no",
            "resectable": "yes",
            "other_cancer_5y": "no",
            "pregnant": "no",
            "sex": "male",
        },
    ),
    (
        "complete",
        "oral cavity IVA untreated",
        {
            "age": 63,
            "tumor_site": "oral_cavity",
            "stage": "IVA",
            "ecog": 0,
            "prior_treatment": "none",
            "p16": "negative",
            "histology": "squamous_cell_carcinoma",
            "differentiation": "moderate",
            "recurrent": "no",
            "resectable": "yes",
            "other_cancer_5y": "no",
            "pregnant": "no",
            "sex": "female",
        },
    ),
    (
        "complete",
        "larynx III recurrent after CRT",
        {
            "age": 71,
            "tumor_site": "larynx",
            "stage": "III",
            "ecog": 1,
            "prior_treatment": ["chemoradiotherapy"],
            "histology": "squamous_cell_carcinoma",
            "recurrent": "yes",
            "resectable": "no",
            "other_cancer_5y": "no",
            "pregnant": "no",
            "sex": "male",
        },
    ),
    (
        "complete",
        "hypopharynx IVB after chemo + anti-PD-1",
        {
            "age": 66,
            "tumor_site": "hypopharynx",
            "stage": "IVB",
            "ecog": 2,
            "prior_treatment": ["chemotherapy", "anti_pd1"],
            "immunotherapy_response": "SD",
            "immunotherapy_cycles": 4,
            "histology": "squamous_cell_carcinoma",
            "recurrent": "no",
            "other_cancer_5y": "yes",
            "pregnant": "no",
            "sex": "male",
        },
    ),
    (
        "complete",
        "sinonasal IVB untreated",
        {
            "age": 57,
            "tumor_site": "nasal_cavity_paranasal_sinuses",
            "stage": "IVB",
            "ecog": 1,
            "prior_treatment": [],
            "histology": "squamous_cell_carcinoma",
            "differentiation": "poor",
            "recurrent": "no",
            "other_cancer_5y": "no",
            "pregnant": "no",
            "sex": "male",
        },
    ),
    (
        "complete",
        "oral cavity recurrent after surgery + RT",
        {
            "age": 70,
            "tumor_site": "oral_cavity",
            "stage": "IVA",
            "ecog": 1,
            "prior_treatment": ["surgery", "radiotherapy"],
            "histology": "squamous_cell_carcinoma",
            "recurrent": "yes",
            "resectable": "no",
            "other_cancer_5y": "no",
            "pregnant": "no",
            "sex": "female",
        },
    ),
    (
        "complete",
        "oropharynx p16+ I after IO + chemo, pCR",
        {
            "age": 52,
            "tumor_site": "oropharynx",
            "stage": "I",
            "ecog": 0,
            "prior_treatment": ["anti_pd1", "chemotherapy", "surgery"],
            "p16": "positive",
            "immunotherapy_response": "CR",
            "immunotherapy_cycles": 8,
            "pathologic_response": "pCR",
            "histology": "squamous_cell_carcinoma",
            "recurrent": "no",
            "other_cancer_5y": "no",
            "pregnant": "no",
            "sex": "male",
        },
    ),
    ("partial", "oropharynx, age only", {"age": 55, "tumor_site": "oropharynx"}),
    (
        "partial",
        "larynx, stage 4 (letter unknown)",
        {"age": 60, "tumor_site": "larynx", "stage": ["IVA", "IVB", "IVC"]},
    ),
    ("partial", "age only (site not yet asked)", {"age": 48}),
    ("partial", "empty profile (chat just started)", {}),
    (
        "partial",
        "oropharynx p16 unknown, stage III or IVA, ECOG 1-2",
        {
            "age": 64,
            "tumor_site": "oropharynx",
            "stage": ["III", "IVA"],
            "ecog": [1, 2],
            "p16": "unknown",
            "prior_treatment": "unknown",
        },
    ),
    (
        "partial",
        "salivary gland II",
        {"age": 49, "tumor_site": "salivary_gland", "stage": "II", "histology": "salivary_carcinoma", "ecog": 0},
    ),
    (
        "partial",
        "unknown primary p16+",
        {"age": 61, "tumor_site": "unknown_primary", "p16": "positive", "stage": "III"},
    ),
    ("partial", "thyroid, age 39", {"age": 39, "tumor_site": "thyroid", "sex": "female"}),
    (
        "partial",
        "larynx II, 82 years, ECOG 2",
        {"age": 82, "tumor_site": "larynx", "stage": "II", "ecog": 2, "prior_treatment": "none"},
    ),
    (
        "partial",
        "oral cavity, pregnant",
        {"age": 34, "tumor_site": "oral_cavity", "sex": "female", "pregnant": "yes", "stage": "II"},
    ),
    (
        "out_of_scope",
        "nasopharynx III after chemo",
        {
            "age": 45,
            "tumor_site": "nasopharynx",
            "stage": "III",
            "ecog": 0,
            "prior_treatment": ["chemotherapy"],
            "histology": "nasopharyngeal_carcinoma",
            "differentiation": "undifferentiated",
            "recurrent": "no",
        },
    ),
    ("out_of_scope", "breast II", {"age": 52, "tumor_site": "breast", "stage": "II", "sex": "female", "ecog": 0}),
    (
        "out_of_scope",
        "lung IVC after anti-PD-1",
        {"age": 67, "tumor_site": "lung", "stage": "IVC", "ecog": 1, "prior_treatment": ["anti_pd1", "chemotherapy"]},
    ),
]

OPERATIONS = {
    "match": lambda p, conn: engine.match(p, db=conn),
    "match@20": lambda p, conn: engine.match(p, db=conn, limit=20),
    "result": lambda p, conn: engine.match(p, db=conn, explain=20),
    "next_question": lambda p, conn: engine.next_question(p, db=conn),
}


def returned(result) -> int:
    """How many trials a call returned (match) or a question's answer affects (next_question)."""
    if result is None:
        return 0
    return len(result) if isinstance(result, list) else len(result.trials)


# --- databases ----------------------------------------------------------------------------------


def db_path_for(n: int, seed: int) -> Path:
    return BENCH_DIR / f"synthetic-v{synthetic.GENERATOR_VERSION}-n{n}-seed{seed}.db"


def vocabulary_hash() -> str:
    """As knowledge/build.py stamps it: masks depend on the vocabulary, so a change means rebuild."""
    h = hashlib.sha256()
    for path in sorted(vocab.VOCABULARY_DIR.glob("*.yaml")):
        h.update(path.read_bytes())
    return h.hexdigest()


def reusable(path: Path, n: int) -> bool:
    if not path.exists():
        return False
    try:
        conn = kdb.connect(path)
    except (kdb.KnowledgeBaseError, sqlite3.Error):
        return False
    try:
        meta = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM meta")}
        synthetic_rows = conn.execute("SELECT COUNT(*) FROM trials WHERE synthetic = 1").fetchone()[0]
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return meta.get("trials") == str(n) and synthetic_rows == n and meta.get("vocabulary_sha256") == vocabulary_hash()


def build_db(n: int, seed: int, path: Path) -> dict:
    """Build in a child process (so its memory does not count against the query process)."""
    cmd = [sys.executable, "-m", "bench.synthetic", str(n), str(path), "--seed", str(seed)]
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"building {path} failed with exit code {child.returncode}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


# --- timing ----------------------------------------------------------------------------------------


def summary(times_s: list[float]) -> dict:
    ms = [t * 1000 for t in times_s]
    return {
        "median_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "max_ms": round(max(ms), 2),
        "calls": len(ms),
    }


def time_operation(name: str, conn, calls: int, max_seconds: float) -> dict:
    fn = OPERATIONS[name]
    # Warm-up: one call per profile (fills SQLite's page cache and the engine's query cache).
    start = time.perf_counter()
    for _, _, profile in PROFILES:
        fn(profile, conn)
    per_call = (time.perf_counter() - start) / len(PROFILES)
    n_calls = max(min(calls, MIN_CALLS), min(calls, int(max_seconds / max(per_call, 1e-9))))
    times, by_group, by_profile = [], defaultdict(list), defaultdict(list)
    counts: dict[str, int] = {}
    for i in range(n_calls):
        group, label, profile = PROFILES[i % len(PROFILES)]
        t0 = time.perf_counter()
        result = fn(profile, conn)
        dt = time.perf_counter() - t0
        times.append(dt)
        by_group[group].append(dt)
        by_profile[label].append(dt)
        counts[label] = returned(result)
    return {
        "operation": name,
        **summary(times),
        "returned_mean": round(statistics.mean(counts.values()), 1),
        "returned_max": max(counts.values()),
        "by_group": {g: summary(ts) for g, ts in by_group.items()},
        "by_profile": {label: {**summary(ts), "returned": counts[label]} for label, ts in by_profile.items()},
    }


def scope_counts(conn) -> dict:
    per_type = dict(conn.execute("SELECT cancer_type, COUNT(*) FROM trials GROUP BY cancer_type").fetchall())
    result = {}
    for _, label, profile in PROFILES:
        scope = engine.derive_cancer_type(profile.get("tumor_site")) or engine.DEFAULT_SCOPE
        result[label] = {"scope": scope, "trials_in_scope": per_type.get(scope, 0)}
    return result


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- machine ---------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        mem_gb = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


# --- main ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the eligibility engine on synthetic knowledge bases.")
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated numbers of trials")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per operation and size (after warm-up)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic trials")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the synthetic databases even if present")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help=f"time budget per operation and size: fewer calls when slow, but at least {MIN_CALLS}",
    )
    parser.add_argument("--out", type=Path, default=OUT_PATH, help="JSON results file")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]

    info = machine()
    print(
        f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), {info['memory_gb']} GB; "
        f"Python {info['python']}, SQLite {info['sqlite']}"
    )
    print(f"{len(PROFILES)} profiles; target: p95 < {TARGET_P95_MS:.0f} ms for match and next_question\n")
    results = []
    for n in sizes:
        path = db_path_for(n, args.seed)
        build = None
        if args.rebuild or not reusable(path, n):
            print(f"building {n} synthetic trials into {path.relative_to(ROOT)} ...", flush=True)
            build = build_db(n, args.seed, path)
            print(f"  built in {build['seconds']:.1f} s (builder peak RSS {build['peak_rss_mb']:.0f} MB)", flush=True)
        else:
            print(f"reusing {path.relative_to(ROOT)}", flush=True)
        conn = kdb.connect(path)
        stats = conn.execute(
            "SELECT (SELECT COUNT(*) FROM trials), (SELECT COUNT(*) FROM criteria),"
            " (SELECT COUNT(*) FROM trials WHERE cancer_type = 'head_and_neck')"
        ).fetchone()
        ops = []
        for name in OPERATIONS:
            print(f"  timing {name} on {n} trials ...", flush=True)
            ops.append(time_operation(name, conn, args.calls, args.max_seconds))
        scope = scope_counts(conn)
        conn.close()
        entry = {
            "trials": stats[0],
            "criteria_rows": stats[1],
            "head_and_neck_trials": stats[2],
            "seed": args.seed,
            "db": str(path.relative_to(ROOT)),
            "db_mb": round(path.stat().st_size / 2**20, 1),
            "build": build,
            "scope": scope,
            "operations": ops,
            "peak_rss_mb": peak_rss_mb(),
        }
        results.append(entry)
        print(
            f"  {n}: {stats[0]} trials ({stats[2]} head and neck), {stats[1]} criteria rows, "
            f"db {entry['db_mb']} MB, peak RSS so far {entry['peak_rss_mb']:.0f} MB\n",
            flush=True,
        )

    print_tables(results)
    report = {
        "benchmark": "engine",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": info,
        "generator_version": synthetic.GENERATOR_VERSION,
        "calls_requested": args.calls,
        "target_p95_ms": TARGET_P95_MS,
        "profiles": [{"group": g, "label": lbl, "profile": p} for g, lbl, p in PROFILES],
        "sizes": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


def print_tables(results: list[dict]) -> None:
    header = f"{'trials':>8}  {'operation':<14} {'median ms':>10} {'p95 ms':>9} {'max ms':>9} {'calls':>6}  {'returned (mean/max)':>19}"
    print(header)
    print("-" * len(header))
    for entry in results:
        for op in entry["operations"]:
            flag = "" if op["operation"] == "match@20" or op["p95_ms"] < TARGET_P95_MS else "  > target"
            print(
                f"{entry['trials']:>8}  {op['operation']:<14} {op['median_ms']:>10.2f} {op['p95_ms']:>9.2f} "
                f"{op['max_ms']:>9.2f} {op['calls']:>6}  {op['returned_mean']:>12.1f} / {op['returned_max']:<5}{flag}"
            )
    print("\nby profile group (median / p95 ms):")
    groups = [g for g in dict.fromkeys(g for g, _, _ in PROFILES)]
    print(f"{'trials':>8}  {'operation':<14} " + " ".join(f"{g:>21}" for g in groups))
    for entry in results:
        for op in entry["operations"]:
            cells = []
            for g in groups:
                s = op["by_group"].get(g)
                cells.append(f"{s['median_ms']:>9.2f} / {s['p95_ms']:>9.2f}" if s else f"{'-':>21}")
            print(f"{entry['trials']:>8}  {op['operation']:<14} " + " ".join(cells))
    print("\nbuild and memory:")
    for entry in results:
        b = entry["build"]
        built = f"built in {b['seconds']:.1f} s (builder peak RSS {b['peak_rss_mb']:.0f} MB)" if b else "reused"
        print(
            f"{entry['trials']:>8}  {entry['criteria_rows']} criteria rows, db {entry['db_mb']} MB, {built}; "
            f"bench process peak RSS after this size {entry['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    sys.exit(main())
