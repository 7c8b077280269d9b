#!/usr/bin/env python
"""Load benchmark: concurrent scripted screenings over the REST channel (not a test).

Why: the engine benchmark (bench_engine.py) times the clinical core alone; a
user waits for a whole turn - NLU, dialogue policies, the tracker store, the
action server and the knowledge base. This drives the real stack
(``python -m bot run``, started here on free ports on 127.0.0.1, or one already
running on 127.0.0.1 given with ``--url``) the way a chat client would, and
reports what a user feels and what the machine pays:

- conversations completed, turns, turns per second;
- median / p95 / max turn latency, overall and for the matching turn (the one
  whose reply carries ``custom.type == "trial_matches"``) separately;
- lost (no answer in time), empty (HTTP 200 with no reply) and error replies:
  any of them, or a screening that never reaches its result, exits non-zero;
- RSS of each process of the stack (action server, Rasa, web, the ``bot run``
  parent) when started and after each phase, its peak, and CPU ms per turn per
  process (which process the turns cost);
- NLU alone (``POST /model/parse``, single user, after the phases) to split a
  turn into NLU and everything else.

The simulated user reads the question the bot asked (matched against the
``utter_question_*`` texts in domain.yml) and answers it from a fixed table, after a
fixed opening ("hello", "yes", a message with age, stage and site at once): the
end-to-end tests' patient (tests/patient.py, SEVERAL_AT_ONCE with PATIENT_DEFAULTS).
Only if a question is not recognised (a wording changed since the domain was
read) does it ask the tracker API which slot is requested - outside the timed
part, counted and reported. Synthetic knowledge bases ask other follow-ups
than the seed trials; the table answers every question the domain has.

Bounded in count (--conversations per phase) and time (--max-seconds per
phase: in-flight screenings are cancelled at the bound and reported as cut),
and only ever against 127.0.0.1.

    .venv/bin/python bench/bench_load.py --users 1 --users 50
    .venv/bin/python bench/bench_load.py --trials 1000 --trials 10000 --trials 100000 --users 1 --users 10
    TRIALBOT_API_TOKEN=... .venv/bin/python bench/bench_load.py --url http://127.0.0.1:5005 --users 5
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import click
import yaml

from bench import bench_engine  # synthetic databases: path, reuse check, build; machine description
from screenings import store as records  # the stack's record store: which action server did the work
from tests.patient import PATIENT_DEFAULTS, SEVERAL_AT_ONCE  # the scripted patient of the end-to-end tests
from tests.stack import start_stack  # the real `python -m bot run`, as the end-to-end tests start it
from tests.stats import percentile  # nearest rank, as every report of the project

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"

HOST = "127.0.0.1"
SEED_KB = ROOT / "knowledge" / "trials.db"
OUT_DIR = BENCH_DIR / "out"
MAX_TURNS = 30  # a screening that has not reached its result by then is stuck
REQUEST_TIMEOUT = 60.0  # seconds; a reply later than this is lost
TARGETS_P95_MS = {1: 150.0, 50: 500.0}  # the targets: single user, and 50 concurrent conversations

# The simulated patient is the end-to-end tests' (tests/patient.py): what it says first (a
# greeting, consent, then three answers in one message), then the answer to each question
# the bot asks (every utter_question_<slot> in domain.yml: the scenario's answers, else a
# patient's default answer).
OPENING: list[str] = list(SEVERAL_AT_ONCE.opening)
ANSWERS: dict[str, str] = {}
for _slot, _words in {**PATIENT_DEFAULTS, **SEVERAL_AT_ONCE.answers}.items():
    assert isinstance(_words, str), f"{_slot}: the benchmark's patient gives one answer per question"
    ANSWERS[_slot] = _words
QUESTION_PREFIX = "utter_question_"


# --- reading the bot's question ------------------------------------------------------------------


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def question_prefixes(domain: Path = ROOT / "domain.yml") -> list[tuple[re.Pattern, str]]:
    """(pattern of a question's whole text, slot) for every variant of every ``utter_question_<slot>``.

    The form's validation action asks each question with ``utter_question_<slot>``
    (patient, carer and nurse variants; ``utter_question_<slot>_choice`` when it offers
    choices). The REST channel does not carry a response's name, so the question is
    recognised by its words, read from domain.yml so the simulated user follows wording
    changes. A ``{placeholder}`` (the carer variants say "{pronoun}") matches any words;
    the text must match whole, most literal words first."""
    responses = yaml.safe_load(domain.read_text(encoding="utf-8")).get("responses", {})
    found = []
    for name, variants in responses.items():
        if not name.startswith(QUESTION_PREFIX):
            continue
        slot = name[len(QUESTION_PREFIX) :]
        if slot not in ANSWERS and slot.endswith("_choice"):
            slot = slot[: -len("_choice")]
        if slot not in ANSWERS:
            continue
        for variant in variants:
            text = _norm(str(variant.get("text") or ""))
            if not text:
                continue
            parts = re.split(r"\{\w+\}", text)
            found.append((len("".join(parts)), re.compile(".+?".join(re.escape(p) for p in parts) + "$"), slot))
    return [(pattern, slot) for _, pattern, slot in sorted(found, key=lambda p: -p[0])]


def asked_slot(replies: list[dict], prefixes: list[tuple[re.Pattern, str]]) -> str | None:
    """The slot of the last question in the replies, if one is recognised."""
    for reply in reversed(replies):
        text = _norm(reply.get("text") or "")
        for pattern, slot in prefixes:
            if text and pattern.match(text):
                return slot
    return None


def has_result(replies: list[dict]) -> bool:
    return any(isinstance(r.get("custom"), dict) and r["custom"].get("type") == "trial_matches" for r in replies)


# --- the client --------------------------------------------------------------------------------------


@dataclass
class Turn:
    ms: float
    outcome: str  # ok | lost | empty | error
    matching: bool = False


@dataclass
class Phase:
    users: int
    planned: int
    turns: list[Turn] = field(default_factory=list)
    completed: int = 0
    stuck: int = 0
    cut: int = 0
    tracker_lookups: int = 0
    seconds: float = 0.0
    cpu: dict = field(default_factory=dict)  # process -> CPU seconds used during the phase
    profile: dict | None = None  # where the Rasa server's time went (py-spy), if asked
    client_cpu: float = 0.0
    machine_cpu: float = 0.0  # the whole machine's busy CPU seconds during the phase
    senders: list[str] = field(default_factory=list)
    think: float = 0.0  # mean seconds a user takes to read a reply and type the next message


class Client:
    """REST channel and (token-protected) HTTP API of one Rasa server on 127.0.0.1."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str | None):
        self.session, self.base, self.token = session, base, token

    async def say(self, sender: str, message: str) -> tuple[Turn, list[dict]]:
        start = time.perf_counter()
        try:
            async with self.session.post(
                f"{self.base}/webhooks/rest/webhook", json={"sender": sender, "message": message}
            ) as response:
                body = await response.text()
                ms = (time.perf_counter() - start) * 1000
                if response.status != 200:
                    return Turn(ms, "error"), []
        except asyncio.TimeoutError:
            return Turn((time.perf_counter() - start) * 1000, "lost"), []
        except aiohttp.ClientError:
            return Turn((time.perf_counter() - start) * 1000, "error"), []
        try:
            replies = json.loads(body)
        except ValueError:
            return Turn(ms, "error"), []
        if not isinstance(replies, list) or not replies:
            return Turn(ms, "empty"), []
        return Turn(ms, "ok", matching=has_result(replies)), replies

    async def requested_slot(self, sender: str) -> str | None:
        if not self.token:
            return None
        query = urllib.parse.urlencode({"token": self.token})
        async with self.session.get(f"{self.base}/conversations/{sender}/tracker?{query}") as response:
            if response.status != 200:
                return None
            return (await response.json()).get("slots", {}).get("requested_slot")

    async def parse_ms(self, text: str) -> float:
        start = time.perf_counter()
        query = urllib.parse.urlencode({"token": self.token})
        async with self.session.post(f"{self.base}/model/parse?{query}", json={"text": text}) as response:
            await response.read()
            if response.status != 200:
                raise click.ClickException(f"/model/parse answered {response.status}")
        return (time.perf_counter() - start) * 1000


async def screening(
    client: Client, sender: str, prefixes, phase: Phase | None, rng: random.Random | None = None
) -> bool:
    """One scripted screening to its result; its turns go to ``phase`` (None: warm-up).
    True if it reached the trial_matches result. With ``phase.think``, the user pauses
    (uniformly 0.5-1.5 x think seconds) before each message after the first, as a person reads."""

    def record(turn: Turn) -> bool:
        if phase is not None:
            phase.turns.append(turn)
        return turn.outcome == "ok"

    async def pause() -> None:
        if phase is not None and phase.think and rng is not None:
            await asyncio.sleep(rng.uniform(0.5, 1.5) * phase.think)

    replies: list[dict] = []
    for i, message in enumerate(OPENING):
        if i:
            await pause()
        turn, replies = await client.say(sender, message)
        if not record(turn):
            return False
        if turn.matching:
            return True
    for _ in range(MAX_TURNS):
        slot = asked_slot(replies, prefixes)
        if slot is None:
            slot = await client.requested_slot(sender)  # untimed: only when a wording is not recognised
            if phase is not None:
                phase.tracker_lookups += 1
            if slot not in ANSWERS:
                return False
        await pause()
        turn, replies = await client.say(sender, ANSWERS[slot])
        if not record(turn):
            return False
        if turn.matching:
            return True
    return False


async def run_phase(client: Client, phase: Phase, run_id: str, prefixes, max_seconds: float) -> None:
    """``phase.users`` simulated users, each starting a new screening when its last one ends,
    until ``phase.planned`` have started; everything still running at ``max_seconds`` is cut."""
    started = 0

    async def user(number: int) -> None:
        nonlocal started
        rng = random.Random(number)  # the same pauses on every run
        if phase.think:
            await asyncio.sleep(rng.uniform(0, 2 * phase.think))  # users arrive spread out, not all at once
        while started < phase.planned:
            started += 1
            sender = f"load-{run_id}-u{phase.users}-{started}"
            phase.senders.append(sender)
            if await screening(client, sender, prefixes, phase, rng):
                phase.completed += 1
            else:
                phase.stuck += 1

    begin = time.perf_counter()
    tasks = [asyncio.create_task(user(i)) for i in range(phase.users)]
    done, pending = await asyncio.wait(tasks, timeout=max_seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # a bug in the client is raised, not hidden
    phase.seconds = time.perf_counter() - begin
    phase.cut = started - phase.completed - phase.stuck


# --- the stack's processes --------------------------------------------------------------------------

ROLES = (("rasa_sdk", "actions"), ("bot.server.rasa_server", "rasa"), ("bot.web", "web"), ("bot run", "bot run"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


def stack_processes(run_pid: int) -> dict[str, int]:
    """role -> pid for the ``bot run`` process and its descendants (found via /proc)."""
    found, todo = {}, [run_pid]
    while todo:
        pid = todo.pop()
        line = _cmdline(pid)
        role = next((r for key, r in ROLES if key in line), f"pid {pid}")
        found[role if role not in found else f"{role} ({pid})"] = pid
        todo += _children(pid)
    return found


def find_run_pid(rasa_port: int) -> int:
    """The ``bot run`` process whose Rasa server listens on ``rasa_port`` (for --url)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = _cmdline(int(entry.name))
            if "bot.server.rasa_server" in line and re.search(rf"--port {rasa_port}(\s|$)", line):
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                return int(stat.rsplit(")", 1)[1].split()[1])  # ppid
    raise click.ClickException(f"no `bot.server.rasa_server --port {rasa_port}` process found on this machine")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) in MB, from /proc/<pid>/status."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = round(int(rest.split()[0]) / 1024, 1)
    except OSError:
        pass
    return values


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all processes), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


async def wait_for_quiet(limit: float, share: float = 0.25, window: float = 3.0) -> float:
    """Wait (at most ``limit`` seconds) until the machine is busy less than ``share`` of all
    cores over ``window`` seconds - other people's builds and tests share this machine and
    inflate latencies. Returns the last measured busy share."""
    deadline, busy = time.monotonic() + limit, 1.0
    while True:
        before = machine_busy()
        await asyncio.sleep(window)
        busy = (machine_busy() - before) / (window * (os.cpu_count() or 1))
        if busy < share or time.monotonic() >= deadline:
            return busy


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- where Rasa's time goes (optional, with py-spy) ------------------------------------------------

# Parts of a turn inside the Rasa server, by the frame that contains them (py-spy's raw format:
# "func (file:line)" frames joined by ";"). A sample counts once per part whatever its depth.
# Rasa is asyncio: a coroutine waiting for the action server is on no stack, so these are
# shares of the Rasa server's own work per turn, not of the wall-clock latency.
PARTS = {
    "NLU pipeline": "parse_message (rasa/core/processor.py",
    "policies (TED, rules, memoization)": "_predict_next_with_tracker (rasa/core/processor.py",
    "custom-action response schema check (jsonschema)": "_validate_action_result (rasa/core/actions/action.py",
    "tracker store: save": "save_tracker (rasa/core/processor.py",
    "tracker store: load": "fetch_tracker_and_update_session (rasa/core/processor.py",
}
TURN_FRAME = "handle_message (rasa/core/processor.py"


def start_profile(py_spy: str, pid: int, out: Path) -> "subprocess.Popen":
    """py-spy sampling ``pid`` (100 Hz, raw collapsed stacks) until stop_profile."""
    import subprocess

    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "100",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_profile(process, out: Path) -> dict | None:
    """Stop py-spy (SIGINT: it writes its file) and split the turn samples into PARTS."""
    import signal

    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except Exception:  # noqa: BLE001  (a profiler that hangs must not hang the benchmark)
        process.kill()
        return None
    if not out.exists():
        return None
    turn, parts = 0, dict.fromkeys(PARTS, 0)
    for line in out.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if TURN_FRAME not in stack or not count.isdigit():
            continue
        turn += int(count)
        for part, frame in PARTS.items():
            if frame in stack:
                parts[part] += int(count)
    if not turn:
        return None
    return {
        "samples_in_turns": turn,
        "raw": str(out),
        "share_of_turn": {part: round(n / turn, 3) for part, n in parts.items()},
    }


# --- statistics -----------------------------------------------------------------------------------------


def latency(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "max_ms": round(max(values), 1),
    }


def phase_report(phase: Phase) -> dict:
    ok = [t for t in phase.turns if t.outcome == "ok"]
    failures = {kind: sum(t.outcome == kind for t in phase.turns) for kind in ("lost", "empty", "error")}
    turns = len(phase.turns)
    return {
        "users": phase.users,
        "think_seconds": phase.think,
        "conversations_planned": phase.planned,
        "conversations_completed": phase.completed,
        "conversations_stuck": phase.stuck,
        "conversations_cut": phase.cut,
        "turns": turns,
        "seconds": round(phase.seconds, 1),
        "turns_per_s": round(turns / phase.seconds, 1) if phase.seconds else 0,
        "turns_per_conversation": round(turns / max(1, phase.completed + phase.stuck + phase.cut), 1),
        "all_turns": latency([t.ms for t in ok]),
        "matching_turn": latency([t.ms for t in ok if t.matching]),
        "other_turns": latency([t.ms for t in ok if not t.matching]),
        **failures,
        "tracker_lookups": phase.tracker_lookups,
        "cpu_ms_per_turn": {role: round(s * 1000 / max(1, turns), 1) for role, s in phase.cpu.items()},
        "client_cpu_ms_per_turn": round(phase.client_cpu * 1000 / max(1, turns), 1),
        "target_p95_ms": TARGETS_P95_MS.get(phase.users),
        "rasa_profile": phase.profile,
        # Busy share of all cores taken by processes other than the stack and this client
        # (the machine is shared): a high value means the latencies are pessimistic.
        "other_cpu_share": round(
            max(0.0, phase.machine_cpu - sum(phase.cpu.values()) - phase.client_cpu)
            / max(1e-9, phase.seconds * (os.cpu_count() or 1)),
            2,
        ),
        "stack_cpu_share": round(sum(phase.cpu.values()) / max(1e-9, phase.seconds * (os.cpu_count() or 1)), 2),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def failed(report: dict) -> bool:
    return bool(report["lost"] or report["empty"] or report["error"] or report["conversations_stuck"])


# --- one stack ------------------------------------------------------------------------------------------


@dataclass
class Settings:
    """What each stack is put through (from the command line)."""

    users: list[int]
    conversations: int | None
    max_seconds: float
    warmup: int
    nlu_reps: int
    think: float
    wait_idle: float = 0.0  # at most this many seconds waiting for other processes to quieten before a phase
    py_spy: str | None = None  # py-spy executable: sample the Rasa server during each phase


class WrongActionServer(RuntimeError):
    """The stack's Rasa sent its custom actions to another stack's action server."""


async def bench_stack(
    base: str, token: str | None, run_pid: int, settings: Settings, records_db: Path | None = None
) -> dict:
    """Warm up, check (own stack) that this stack's action server did the work, then run each phase."""
    prefixes = question_prefixes()
    run_id = os.urandom(3).hex()
    procs = stack_processes(run_pid)
    memory = {"started": {role: memory_mb(pid) for role, pid in procs.items()}}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=max(settings.users) + 10)
    senders: list[str] = []
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        client = Client(session, base, token)
        for i in range(settings.warmup):
            senders.append(f"load-{run_id}-warmup-{i}")
            if not await screening(client, senders[-1], prefixes, None):
                if records_db:  # possibly talking to another stack's action server (refused): start again
                    raise WrongActionServer("the warm-up screening did not reach its result (see the log)")
                raise click.ClickException("the warm-up screening did not reach its result: see the stack's log")
        if records_db and settings.warmup and own_records(records_db, senders) < settings.warmup:
            raise WrongActionServer("the warm-up screenings saved no record in this stack's store")
        memory["warmed up"] = {role: memory_mb(pid) for role, pid in procs.items()}
        phases = []
        for n in settings.users:
            phase = Phase(users=n, planned=settings.conversations or max(20, 3 * n), think=settings.think)
            pauses = f", {phase.think:g} s think time" if phase.think else ""
            click.echo(
                f"  {n} concurrent user(s), {phase.planned} screenings{pauses} "
                f"(at most {settings.max_seconds:.0f} s) ..."
            )
            if settings.wait_idle:
                busy = await wait_for_quiet(settings.wait_idle)
                click.echo(f"    machine busy {busy:.0%} of all cores before the phase")
            cpu_before, client_before = {r: cpu_seconds(p) for r, p in procs.items()}, client_cpu()
            machine_before = machine_busy()
            spy = None
            if settings.py_spy and "rasa" in procs:
                spy_out = OUT_DIR / f"profile-{run_id}-rasa-{n}users.txt"
                spy_out.parent.mkdir(parents=True, exist_ok=True)
                spy = start_profile(settings.py_spy, procs["rasa"], spy_out)
            await run_phase(client, phase, run_id, prefixes, settings.max_seconds)
            if spy:
                phase.profile = stop_profile(spy, spy_out)
            phase.cpu = {r: cpu_seconds(p) - cpu_before[r] for r, p in procs.items()}
            phase.client_cpu = client_cpu() - client_before
            phase.machine_cpu = machine_busy() - machine_before
            memory[f"after {n} user(s)"] = {role: memory_mb(pid) for role, pid in procs.items()}
            phases.append(phase_report(phase))
            senders += phase.senders
        nlu = await nlu_alone(client, settings.nlu_reps) if token and settings.nlu_reps else None
    result = {"processes": procs, "memory_mb": memory, "phases": phases, "nlu_parse": nlu}
    if records_db:
        total = own_records(records_db, None)
        result["foreign_records"] = total - own_records(records_db, senders)
    return result


def own_records(records_db: Path, senders: list[str] | None) -> int:
    """Pre-screening records in this stack's store (from ``senders`` only, unless None).

    Why: a Rasa server must send its custom actions to its own stack's action server only;
    the record each completed screening saves shows which action server did the work, so
    a foreign record means the figures mix two stacks."""
    if not records_db.exists():
        return 0
    conn = sqlite3.connect(f"file:{records_db}?mode=ro", uri=True)
    try:
        if senders is None:
            return conn.execute(f"SELECT COUNT(*) FROM {records.TABLE}").fetchone()[0]
        keys = [records.conversation_key(s, records_db) for s in senders]
        found = 0
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            found += conn.execute(
                f"SELECT COUNT(*) FROM {records.TABLE} WHERE conversation IN ({','.join('?' * len(chunk))})", chunk
            ).fetchone()[0]
        return found
    finally:
        conn.close()


async def nlu_alone(client: Client, reps: int) -> dict:
    """Median / p95 of POST /model/parse (NLU only, one at a time) over the script's messages."""
    messages = OPENING + sorted(set(ANSWERS.values()))
    times = [await client.parse_ms(m) for _ in range(reps) for m in messages]
    return latency(times)


def kb_for(trials: int | None, kb: Path | None) -> Path:
    if trials is None:
        return kb or SEED_KB
    path = bench_engine.db_path_for(trials, 0)
    if not bench_engine.reusable(path, trials):
        click.echo(f"building {trials} synthetic trials into {path.relative_to(ROOT)} ...")
        built = bench_engine.build_db(trials, 0, path)
        click.echo(f"  built in {built['seconds']:.0f} s")
    return path


def kb_trials(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    finally:
        conn.close()


def own_stack(kb: Path, settings: Settings, keep: bool, attempts: int = 3) -> dict:
    """Start `python -m bot run` on free ports with its own temporary conversation and record
    stores, and benchmark it; start again if its Rasa talked to another stack's action server."""
    for attempt in range(1, attempts + 1):
        workdir = Path(tempfile.mkdtemp(prefix="trialbot-load-"))
        log = workdir / "stack.log"
        click.echo(f"starting the stack on {kb.name} (log: {log}) ...")
        started = time.perf_counter()
        stack = start_stack(
            log,
            TRIALBOT_KB=str(kb),
            TRIALBOT_CONVERSATIONS_DB=str(workdir / "conversations.db"),
            TRIALBOT_RECORDS_DB=str(workdir / "records.db"),
        )
        ok = False
        try:
            click.echo(f"  up in {time.perf_counter() - started:.0f} s")
            result = asyncio.run(
                bench_stack(
                    f"http://{HOST}:{stack.rasa_port}",
                    stack.token,
                    stack.process.pid,
                    settings,
                    records_db=workdir / "records.db",
                )
            )
            ok = not any(failed(p) for p in result["phases"])
            return result
        except WrongActionServer as e:
            click.echo(f"  attempt {attempt}: {e}; starting again")
        finally:
            stack.stop()
            if ok and not keep:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                click.echo(f"  the stack's log and stores are kept in {workdir}")
    raise click.ClickException(
        f"no clean stack after {attempts} attempts: other stacks keep starting from this checkout"
    )


def model_mtime() -> str | None:
    """When the trained model was written (it is retrained while the project moves)."""
    model = ROOT / "models" / "trialbot.tar.gz"
    if not model.exists():
        return None
    return datetime.fromtimestamp(model.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


# --- output ---------------------------------------------------------------------------------------------


def print_result(label: str, result: dict) -> None:
    click.echo(f"\n== {label}")
    head = (
        f"{'users':>5} {'think':>5} {'convs':>6} {'turns':>6} {'turns/s':>8} | {'all turns: med':>14} {'p95':>6} {'max':>6} | "
        f"{'matching: med':>13} {'p95':>6} {'max':>6} | lost empty error stuck cut"
    )
    click.echo(head)
    click.echo("-" * len(head))
    for p in result["phases"]:
        a, m = p["all_turns"], p["matching_turn"]
        click.echo(
            f"{p['users']:>5} {p['think_seconds']:>5g} {p['conversations_completed']:>6} {p['turns']:>6} {p['turns_per_s']:>8.1f} | "
            f"{a.get('median_ms', 0):>14.0f} {a.get('p95_ms', 0):>6.0f} {a.get('max_ms', 0):>6.0f} | "
            f"{m.get('median_ms', 0):>13.0f} {m.get('p95_ms', 0):>6.0f} {m.get('max_ms', 0):>6.0f} | "
            f"{p['lost']:>4} {p['empty']:>5} {p['error']:>5} {p['conversations_stuck']:>5} "
            f"{p['conversations_cut']:>3}"
        )
    for p in result["phases"]:
        target = p["target_p95_ms"]
        if target:
            worst = max(p["all_turns"].get("p95_ms", 0), p["matching_turn"].get("p95_ms", 0))
            verdict = "met" if worst < target and not failed(p) else "MISSED"
            pauses = f" with {p['think_seconds']:g} s think time" if p["think_seconds"] else " back to back"
            click.echo(
                f"target for {p['users']} user(s){pauses}: p95 < {target:.0f} ms (matching turn included): "
                f"{verdict} (worst p95 {worst:.0f} ms)"
            )
        if p["tracker_lookups"]:
            click.echo(
                f"  {p['users']} user(s): {p['tracker_lookups']} question(s) not recognised from domain.yml "
                "(the tracker API was asked, untimed)"
            )
        if p.get("rasa_profile"):
            shares = ", ".join(f"{part.strip()} {v:.0%}" for part, v in p["rasa_profile"]["share_of_turn"].items())
            click.echo(f"  {p['users']} user(s): Rasa server time per turn (py-spy): {shares}")
        cpu = ", ".join(f"{r} {ms:.0f}" for r, ms in p["cpu_ms_per_turn"].items())
        click.echo(
            f"  {p['users']} user(s): CPU ms per turn: {cpu}; this client {p['client_cpu_ms_per_turn']:.0f}; "
            f"share of all cores: stack {p['stack_cpu_share']:.0%}, other processes {p['other_cpu_share']:.0%}"
        )
    if result.get("foreign_records"):
        click.echo(
            f"WARNING: {result['foreign_records']} screening(s) of another stack's Rasa ran on this action "
            "server during the run: its CPU figures include them"
        )
    if result["nlu_parse"]:
        n = result["nlu_parse"]
        click.echo(
            f"NLU alone (POST /model/parse, one at a time, {n['n']} calls): median {n['median_ms']:.0f} ms, "
            f"p95 {n['p95_ms']:.0f} ms"
        )
    stages = list(result["memory_mb"])
    click.echo("RSS MB per process: " + " | ".join(stages) + " | peak")
    for role in result["processes"]:
        cells = [f"{result['memory_mb'][s].get(role, {}).get('VmRSS', 0):>7.0f}" for s in stages]
        peak = result["memory_mb"][stages[-1]].get(role, {}).get("VmHWM", 0)
        click.echo(f"  {role:<10}" + " ".join(cells) + f" {peak:>7.0f}")


@click.command()
@click.option(
    "--users",
    "users",
    type=click.IntRange(1, 500),
    multiple=True,
    default=[1],
    show_default=True,
    help="Concurrent conversations; repeat for several phases on the same stack (e.g. --users 1 --users 50).",
)
@click.option(
    "--conversations",
    type=click.IntRange(1, 5000),
    default=None,
    help="Screenings per phase (bounded) [default: max(20, 3 x users)].",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(1, 3600),
    default=300.0,
    show_default=True,
    help="Hard time bound per phase: screenings still running are cut.",
)
@click.option(
    "--think",
    type=click.FloatRange(0, 60),
    default=0.0,
    show_default=True,
    help="Mean seconds a user pauses before each message (0: back to back, the saturation case).",
)
@click.option(
    "--wait-idle",
    type=click.FloatRange(0, 3600),
    default=0.0,
    show_default=True,
    help="Before each phase, wait up to this many seconds for other processes to use < 25% of the cores.",
)
@click.option(
    "--kb",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"Knowledge base for the stack [default: {SEED_KB.relative_to(ROOT)}].",
)
@click.option(
    "--trials",
    type=click.Choice(["1000", "10000", "100000"]),
    multiple=True,
    help="Use (or build) a synthetic knowledge base of this size instead; repeat for several (one stack each).",
)
@click.option("--host", default=HOST, show_default=True, help="Only 127.0.0.1 is accepted.")
@click.option(
    "--url", default=None, help="A stack already running on 127.0.0.1 (its API token from TRIALBOT_API_TOKEN)."
)
@click.option(
    "--warmup",
    type=click.IntRange(0, 20),
    default=2,
    show_default=True,
    help="Untimed screenings before the first phase.",
)
@click.option(
    "--nlu-reps",
    type=click.IntRange(0, 100),
    default=5,
    show_default=True,
    help="Rounds of POST /model/parse over the script's messages (NLU alone).",
)
@click.option(
    "--py-spy",
    "py_spy",
    default=None,
    help="py-spy executable (not a project dependency): sample the Rasa server during each phase "
    "and split its turns into NLU, policies, custom actions, tracker store (needs root or ptrace).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON results file [default: bench/out/load-<time>.json].",
)
@click.option("--keep", is_flag=True, help="Keep the temporary stack log and stores.")
def main(
    users, conversations, max_seconds, think, wait_idle, kb, trials, host, url, warmup, nlu_reps, py_spy, out, keep
):
    """Concurrent scripted screenings over the REST channel of the real stack on 127.0.0.1."""
    if host != HOST:
        raise click.BadParameter("this benchmark only runs against 127.0.0.1", param_hint="--host")
    if url and urllib.parse.urlsplit(url).hostname != HOST:
        raise click.BadParameter("this benchmark only runs against 127.0.0.1", param_hint="--url")
    if url and (trials or kb):
        raise click.UsageError("--url uses the running stack's knowledge base: drop --kb/--trials")
    if trials and kb:
        raise click.UsageError("--kb and --trials exclude each other")
    settings = Settings(list(users), conversations, max_seconds, warmup, nlu_reps, think, wait_idle, py_spy)
    info = bench_engine.machine()
    click.echo(
        f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), {info['memory_gb']} GB; "
        f"Python {info['python']}, SQLite {info['sqlite']}"
    )
    runs = []
    if url:
        parts = urllib.parse.urlsplit(url)
        base = f"http://{HOST}:{parts.port or 80}"
        result = asyncio.run(
            bench_stack(base, os.environ.get("TRIALBOT_API_TOKEN"), find_run_pid(parts.port or 80), settings)
        )
        runs.append({"kb": "running stack", **result})
    else:
        for size in [int(t) for t in trials] or [None]:
            path = kb_for(size, kb)
            result = own_stack(path, settings, keep)
            runs.append(
                {
                    "kb": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
                    "kb_trials": kb_trials(path),
                    "kb_mb": round(path.stat().st_size / 2**20, 1),
                    **result,
                }
            )
    for run in runs:
        print_result(f"{run['kb']} ({run.get('kb_trials', '?')} trials)", run)
    out = out or OUT_DIR / f"load-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "load",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": info,
        "command": " ".join(["bench/bench_load.py", *sys.argv[1:]]),
        "model_mtime": model_mtime(),
        "opening": OPENING,
        "answers": ANSWERS,
        "runs": runs,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    click.echo(f"\nwritten {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    if any(failed(p) for run in runs for p in run["phases"]):
        click.echo("FAILED: lost, empty or error replies, or a screening that never reached its result", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
