#!/usr/bin/env python
"""Side by side: this assistant against the stock ``rasa init`` bot (not a test).

Why: "is a turn of ours expensive?" needs a yardstick measured the same way on the
same machine at the same time. The yardstick is the simplest bot Rasa ships, the
``rasa init`` project, run from this same venv (same Rasa, same TensorFlow, same
Python) with its default pipeline and policies and its default in-memory tracker
store: what anyone gets before writing a line.

What it does:

1. Copies Rasa's ``rasa init`` template into a temporary folder and trains it there
   once (about 2-3 minutes on 2 cores); the trained model is cached under
   ``bench/out/stock-model/`` keyed by the Rasa version and the template's files, so
   later runs start at once (``--retrain-stock`` trains again).
2. Starts both: this project's stack (``python -m bot run``: Rasa + action server,
   temporary conversation and record stores, as ``bench_load.py`` does) and the stock
   bot (``rasa run --enable-api`` on a free 127.0.0.1 port).
3. Warms both up, then plays **rounds**: in each round, complete screenings against
   ours (the same scripted patient as ``bench_load.py``), then exactly as many turns
   against the stock bot (greet, "I am sad", "yes", "bye", ... with a new sender every
   four turns). One user, one message at a time, the same aiohttp client. Alternating
   in rounds means a burst of other people's work on this shared machine hits both bots
   alike; ``--wait-idle`` waits for a quiet machine before each round.
4. Server CPU per turn comes from /proc (utime + stime) of the server processes during
   each bot's own turns: Rasa + action server for ours, Rasa for the stock bot.

Prints one row per bot (turns, median / p95 / max ms, server CPU ms per turn, RSS),
ours' matching turn apart, the ratios ours / stock, and the share of all cores other
processes used; writes the same to ``bench/out/compare-<time>.json``. Only ever on
127.0.0.1; every server it started is stopped at the end.

    .venv/bin/python bench/bench_compare.py                      # make bench-compare
    .venv/bin/python bench/bench_compare.py --rounds 5 --screenings 4 --wait-idle 60
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import click

from bench import bench_engine  # machine description
from bench import bench_load as load  # the scripted patient, /proc readers, statistics
from tests.stack import free_port, start_stack, stop_group

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"

HOST = "127.0.0.1"
OUT_DIR = BENCH_DIR / "out"
STOCK_CACHE = OUT_DIR / "stock-model"
# The stock bot's own story, four turns: greet, unhappy, affirm (cheer up helped), goodbye.
STOCK_SCRIPT = ["hello", "I am sad", "yes", "bye"]
TARGET_CPU_RATIO = 0.7  # issue 13: server CPU per turn at most 0.7x the stock bot's
TARGET_P95_RATIO = 1.2  # issue 13: single-user p95 at most 1.2x the stock bot's (matching turn included)


# --- the stock bot ----------------------------------------------------------------------------------


def template_dir() -> Path:
    import rasa.cli.scaffold

    return Path(rasa.cli.scaffold.__file__).parent / "initial_project"


def template_key() -> str:
    """Rasa's version and the template's training files: the cached model's key."""
    import rasa

    digest = hashlib.sha256(rasa.__version__.encode())
    base = template_dir()
    for name in ("config.yml", "domain.yml", "data/nlu.yml", "data/rules.yml", "data/stories.yml"):
        digest.update(name.encode() + (base / name).read_bytes())
    return f"rasa-{rasa.__version__}-{digest.hexdigest()[:12]}"


def _rasa_env() -> dict:
    return {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def stock_project(workdir: Path, retrain: bool) -> Path:
    """The ``rasa init`` project in ``workdir`` and its trained model (cached)."""
    shutil.copytree(template_dir(), workdir, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    cached = STOCK_CACHE / f"{template_key()}.tar.gz"
    model = workdir / "models" / "stock.tar.gz"
    model.parent.mkdir(parents=True, exist_ok=True)
    if cached.exists() and not retrain:
        shutil.copy(cached, model)
        return model
    click.echo(f"training the stock `rasa init` bot in {workdir} (once; cached as {cached.relative_to(ROOT)}) ...")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rasa", "train", "--fixed-model-name", "stock", "--out", "models", "--quiet"],
        cwd=workdir,
        env=_rasa_env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    click.echo(f"  trained in {time.perf_counter() - started:.0f} s")
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, cached)
    return model


class StockBot:
    """``rasa run`` of the stock project on a free 127.0.0.1 port."""

    def __init__(self, workdir: Path, model: Path) -> None:
        self.port = free_port()
        self.token = "stock-" + os.urandom(8).hex()
        self.log = workdir / "stock.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rasa",
                    "run",
                    "--model",
                    str(model),
                    "--interface",
                    HOST,
                    "--port",
                    str(self.port),
                    "--enable-api",
                    "--auth-token",
                    self.token,
                ],
                cwd=workdir,
                env=_rasa_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise click.ClickException("the stock bot did not start:\n" + self.log.read_text()[-2000:])
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/status?token={self.token}", timeout=5) as r:
                    if r.status == 200 and json.loads(r.read()).get("model_file"):
                        return
            except OSError:
                pass
            time.sleep(1)
        raise click.ClickException("the stock bot did not start in time")

    def stop(self) -> None:
        stop_group(self.process)


# --- the rounds -----------------------------------------------------------------------------------


class Side:
    """One bot's turns, CPU and machine share, summed over the rounds."""

    def __init__(self, name: str, pids: dict[str, int]) -> None:
        self.name, self.pids = name, pids
        self.turns: list[load.Turn] = []
        self.cpu = dict.fromkeys(pids, 0.0)
        self.seconds = self.machine = self.client = 0.0
        self.screenings = 0

    def measure(self):
        """A context for one block of this bot's turns: adds its CPU, wall and machine time."""
        side = self

        class _Block:
            def __enter__(self):
                self.cpu = {r: load.cpu_seconds(p) for r, p in side.pids.items()}
                self.client, self.machine, self.t = load.client_cpu(), load.machine_busy(), time.perf_counter()

            def __exit__(self, *exc):
                side.seconds += time.perf_counter() - self.t
                side.machine += load.machine_busy() - self.machine
                side.client += load.client_cpu() - self.client
                for r, p in side.pids.items():
                    side.cpu[r] += load.cpu_seconds(p) - self.cpu[r]

        return _Block()

    def report(self) -> dict:
        ok = [t for t in self.turns if t.outcome == "ok"]
        n = max(1, len(self.turns))
        server = sum(self.cpu.values())
        cores = os.cpu_count() or 1
        return {
            "bot": self.name,
            "turns": len(self.turns),
            "screenings": self.screenings,
            "failed_turns": len(self.turns) - len(ok),
            "all_turns": load.latency([t.ms for t in ok]),
            "matching_turn": load.latency([t.ms for t in ok if t.matching]),
            "other_turns": load.latency([t.ms for t in ok if not t.matching]),
            "server_cpu_ms_per_turn": round(server * 1000 / n, 1),
            "cpu_ms_per_turn": {r: round(s * 1000 / n, 1) for r, s in self.cpu.items()},
            "other_cpu_share": round(
                max(0.0, self.machine - server - self.client) / max(1e-9, self.seconds * cores), 3
            ),
            "seconds": round(self.seconds, 1),
        }


async def stock_turns(client: load.Client, side: Side | None, run_id: str, count: int, start: int) -> int:
    """``count`` turns of the stock script; returns the next script position."""
    for i in range(start, start + count):
        sender = f"stock-{run_id}-{i // len(STOCK_SCRIPT)}"
        turn, replies = await client.say(sender, STOCK_SCRIPT[i % len(STOCK_SCRIPT)])
        if side is not None:
            side.turns.append(turn)
        if turn.outcome != "ok":
            raise click.ClickException(f"the stock bot answered {turn.outcome}")
    return start + count


async def compare(
    ours_url: str,
    ours_pids: dict[str, int],
    stock: StockBot,
    rounds: int,
    screenings: int,
    warmup: int,
    wait_idle: float,
) -> tuple[Side, Side]:
    prefixes = load.question_prefixes()
    run_id = os.urandom(3).hex()
    ours = Side("this project (Rasa + action server)", ours_pids)
    theirs = Side("stock `rasa init` bot (same venv)", {"rasa": stock.process.pid})
    timeout = aiohttp.ClientTimeout(total=load.REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        mine, stock_client = (
            load.Client(session, ours_url, None),
            load.Client(session, f"http://{HOST}:{stock.port}", None),
        )
        for i in range(warmup):
            if not await load.screening(mine, f"cmp-{run_id}-warmup-{i}", prefixes, None):
                raise click.ClickException("the warm-up screening did not reach its result")
        await stock_turns(stock_client, None, run_id + "-warmup", 10 * warmup, 0)
        position = 0
        for r in range(rounds):
            if wait_idle:
                busy = await load.wait_for_quiet(wait_idle)
                click.echo(f"  round {r + 1}/{rounds}: machine busy {busy:.0%} of all cores before it")
            before = len(ours.turns)
            phase = load.Phase(users=1, planned=screenings)
            with ours.measure():
                for s in range(screenings):
                    if not await load.screening(mine, f"cmp-{run_id}-r{r}-{s}", prefixes, phase):
                        raise click.ClickException("a screening did not reach its result: see the stack's log")
                    ours.screenings += 1
            ours.turns += phase.turns
            with theirs.measure():
                position = await stock_turns(stock_client, theirs, run_id, len(ours.turns) - before, position)
            theirs.screenings = position // len(STOCK_SCRIPT)
    return ours, theirs


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def print_report(rows: list[dict], ratios: dict, memory: dict) -> None:
    head = (
        f"{'bot':<38} {'turns':>5} | {'median':>6} {'p95':>6} {'max':>6} | {'matching p95':>12} | "
        f"{'server CPU ms/turn':>18} | {'other procs':>11}"
    )
    click.echo("\n" + head)
    click.echo("-" * len(head))
    for row in rows:
        a, m = row["all_turns"], row["matching_turn"]
        split = " + ".join(f"{v:.0f}" for v in row["cpu_ms_per_turn"].values())
        click.echo(
            f"{row['bot']:<38} {row['turns']:>5} | {a.get('median_ms', 0):>6.0f} {a.get('p95_ms', 0):>6.0f} "
            f"{a.get('max_ms', 0):>6.0f} | {m.get('p95_ms', 0) if m.get('n') else '-':>12} | "
            f"{row['server_cpu_ms_per_turn']:>7.1f} ({split:>8}) | {row['other_cpu_share']:>10.0%}"
        )
    click.echo(
        f"\nratios ours / stock: median {ratios['median']}, p95 {ratios['p95']} (target <= {TARGET_P95_RATIO}), "
        f"matching-turn p95 / stock p95 {ratios['matching_p95_vs_stock_p95']}, "
        f"server CPU per turn {ratios['server_cpu']} (target <= {TARGET_CPU_RATIO})"
    )
    click.echo(
        "RSS MB (after the rounds, peak): "
        + "; ".join(f"{role} {v.get('VmRSS', 0):.0f} ({v.get('VmHWM', 0):.0f})" for role, v in memory.items())
    )


@click.command()
@click.option(
    "--rounds",
    type=click.IntRange(1, 50),
    default=5,
    show_default=True,
    help="Alternating rounds (ours, then as many turns of the stock bot).",
)
@click.option(
    "--screenings",
    type=click.IntRange(1, 100),
    default=4,
    show_default=True,
    help="Complete screenings against ours per round.",
)
@click.option(
    "--warmup",
    type=click.IntRange(0, 10),
    default=2,
    show_default=True,
    help="Untimed screenings (ours) and 10 x as many turns (stock) first.",
)
@click.option(
    "--wait-idle",
    type=click.FloatRange(0, 3600),
    default=0.0,
    show_default=True,
    help="Before each round, wait up to this many seconds for other processes to use < 25% of the cores.",
)
@click.option("--retrain-stock", is_flag=True, help="Train the stock bot again instead of using the cached model.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON results file [default: bench/out/compare-<time>.json].",
)
@click.option("--keep", is_flag=True, help="Keep the temporary folders (stock project, stack log and stores).")
def main(rounds, screenings, warmup, wait_idle, retrain_stock, out, keep):
    """This assistant against the stock `rasa init` bot, side by side, on 127.0.0.1."""
    info = bench_engine.machine()
    click.echo(
        f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), {info['memory_gb']} GB; "
        f"Python {info['python']}, SQLite {info['sqlite']}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="trialbot-compare-"))
    stock_dir = workdir / "stock"
    stack = stock = None
    ok = False
    try:
        model = stock_project(stock_dir, retrain_stock)
        click.echo(f"starting the stock bot and this project's stack (logs in {workdir}) ...")
        stock = StockBot(stock_dir, model)
        stack = start_stack(
            workdir / "stack.log",
            TRIALBOT_CONVERSATIONS_DB=str(workdir / "conversations.db"),
            TRIALBOT_RECORDS_DB=str(workdir / "records.db"),
        )
        stock.wait()
        procs = load.stack_processes(stack.process.pid)
        ours_pids = {role: procs[role] for role in ("rasa", "actions")}
        ours, theirs = asyncio.run(
            compare(f"http://{HOST}:{stack.rasa_port}", ours_pids, stock, rounds, screenings, warmup, wait_idle)
        )
        memory = {
            "ours: rasa": load.memory_mb(ours_pids["rasa"]),
            "ours: actions": load.memory_mb(ours_pids["actions"]),
            "stock: rasa": load.memory_mb(stock.process.pid),
        }
        ok = True
    finally:
        for server in (stack, stock):
            if server is not None:
                server.stop()
        if ok and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            click.echo(f"kept {workdir}")
    rows = [ours.report(), theirs.report()]
    a, b = rows[0]["all_turns"], rows[1]["all_turns"]
    ratios = {
        "median": ratio(a["median_ms"], b["median_ms"]),
        "p95": ratio(a["p95_ms"], b["p95_ms"]),
        "matching_p95_vs_stock_p95": ratio(rows[0]["matching_turn"].get("p95_ms", 0), b["p95_ms"]),
        "server_cpu": ratio(rows[0]["server_cpu_ms_per_turn"], rows[1]["server_cpu_ms_per_turn"]),
    }
    print_report(rows, ratios, memory)
    out = out or OUT_DIR / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "compare",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": info,
        "command": " ".join(["bench/bench_compare.py", *sys.argv[1:]]),
        "model_mtime": load.model_mtime(),
        "stock_script": STOCK_SCRIPT,
        "rows": rows,
        "ratios": ratios,
        "targets": {"server_cpu": TARGET_CPU_RATIO, "p95": TARGET_P95_RATIO},
        "memory_mb": memory,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    click.echo(f"written {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
