"""The scale-out path (docs/scale-out.md): several Rasa workers, one PostgreSQL, one Redis.

Everything is real and on 127.0.0.1: PostgreSQL and Redis from Debian's packages,
started empty on free ports by ``scripts/scale-out-services.sh`` (the script the
docs tell people to use), one action server, and ``WORKERS`` Rasa servers
started the way ``python -m bot run`` starts one (``python -m bot.server.rasa_server``,
the API token in the environment), all reading ``deploy/endpoints.scale-out.yml``.

The test plays the load balancer: consecutive turns of one conversation go to
different workers (round-robin), and the tracker the test reads between turns
comes from yet another worker than the one that just answered. If the workers
did not share the conversation store, a screening would lose its answers at
the first hop. Then two messages of one conversation are sent to two workers at
once, and the Redis lock must make the second wait for the first.

A machine without PostgreSQL or Redis fails here, with how to install them
(``make test`` installs them): a skip would hide a scale-out path that nobody ran.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
import redis
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from bot.server.tracker_store import FORGET_ACTION, ForgettingSQLTrackerStore, SQLiteTrackerStore, purge_configured
from tests.patient import SCENARIOS, check_complete_screening, play
from tests.stack import MODEL, free_port, http

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "scale-out-services.sh"
ENDPOINTS = ROOT / "deploy" / "endpoints.scale-out.yml"
WORKERS = 2
LOCK_PREFIX = "trialbot:lock:"  # key_prefix "trialbot" in the endpoints file, then Rasa's "lock:"

pytestmark = pytest.mark.slow


# --- PostgreSQL and Redis -------------------------------------------------------------------------


def _require_packages() -> None:
    """Fail (never skip) when the servers are missing, saying how to get them."""
    has_pg = any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")) or shutil.which("pg_ctl")
    if not (has_pg and shutil.which("redis-server")):
        pytest.fail(
            "PostgreSQL and Redis are needed for the scale-out test and are not installed: "
            f"run `{SCRIPT.relative_to(ROOT)} install` (as root or with sudo; `make test` does it)"
        )


def _read_env(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines the services script writes."""
    settings = {}
    for line in path.read_text().splitlines():
        for word in shlex.split(line):
            if "=" in word:
                name, value = word.split("=", 1)
                settings[name] = value
    return settings


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """Throwaway PostgreSQL and Redis on free loopback ports; stopped and deleted afterwards."""
    _require_packages()
    home = tmp_path_factory.mktemp("scale-out") / "services"
    started = subprocess.run([str(SCRIPT), "start", str(home)], capture_output=True, text=True, timeout=180)
    try:
        if started.returncode != 0:
            pytest.fail(f"{SCRIPT.name} start failed:\n{started.stdout}\n{started.stderr}")
        settings = _read_env(home / "env")
        assert {"TRIALBOT_PG_PORT", "TRIALBOT_PG_PASSWORD", "TRIALBOT_REDIS_PORT", "TRIALBOT_REDIS_PASSWORD"} <= set(
            settings
        )
        yield settings
    finally:
        subprocess.run([str(SCRIPT), "stop", str(home)], capture_output=True, timeout=120)
    assert not home.exists(), "the services script left its folder behind"


@pytest.fixture
def service_env(services, monkeypatch):
    """The services' settings in this process's environment, as the workers get them."""
    for name, value in services.items():
        monkeypatch.setenv(name, value)
    return services


def _pg(services: dict[str, str]):
    return psycopg2.connect(
        host="127.0.0.1",
        port=int(services["TRIALBOT_PG_PORT"]),
        dbname=services["TRIALBOT_PG_DB"],
        user=services["TRIALBOT_PG_USER"],
        password=services["TRIALBOT_PG_PASSWORD"],
    )


def stored_events(services: dict[str, str], sender_id: str) -> int:
    """Events of one conversation in PostgreSQL, read with psycopg2 rather than through Rasa."""
    with _pg(services) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM events WHERE sender_id = %s", [sender_id])
        return cursor.fetchone()[0]


def _redis(services: dict[str, str]) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1", port=int(services["TRIALBOT_REDIS_PORT"]), password=services["TRIALBOT_REDIS_PASSWORD"], db=1
    )


def test_services_listen_on_loopback_only_and_require_passwords(services):
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(
            host="127.0.0.1",
            port=int(services["TRIALBOT_PG_PORT"]),
            dbname=services["TRIALBOT_PG_DB"],
            user=services["TRIALBOT_PG_USER"],
            password="wrong",
        )
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=int(services["TRIALBOT_REDIS_PORT"]), password="wrong").ping()
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True).stdout
    for port in (services["TRIALBOT_PG_PORT"], services["TRIALBOT_REDIS_PORT"]):
        local = [line.split()[3] for line in listening.splitlines() if line.split()[3].endswith(f":{port}")]
        assert local and all(addr.startswith("127.0.0.1:") for addr in local), local


# --- The conversation store on PostgreSQL, through Rasa's own factory -----------------------------


@functools.lru_cache(maxsize=None)
def domain() -> Domain:
    """Rasa's Domain of domain.yml, read (and schema-checked, ~1 s) once, by the first test
    that needs it: not at import, which every pytest-xdist worker pays while collecting."""
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def pg_store(service_env):
    created = TrackerStore.create(read_endpoint_config(str(ENDPOINTS), "tracker_store"), domain=domain())
    yield created
    created.engine.dispose()


def _turn(tracker: DialogueStateTracker, text: str, action: str, timestamp: float | None = None) -> None:
    tracker.update(UserUttered(text, timestamp=timestamp))
    tracker.update(ActionExecuted(action, timestamp=timestamp))
    tracker.update(ActionExecuted("action_listen", timestamp=timestamp))


def test_the_scale_out_store_is_the_forgetting_store_on_postgresql(pg_store, services):
    assert type(pg_store) is ForgettingSQLTrackerStore and not isinstance(pg_store, SQLiteTrackerStore)
    assert pg_store.engine.dialect.name == "postgresql"
    keep, forget = DialogueStateTracker("pg-keep", domain().slots), DialogueStateTracker("pg-forget", domain().slots)
    for tracker in (keep, forget):
        _turn(tracker, "hello", "utter_greet")
        asyncio.run(pg_store.save(tracker))
    assert stored_events(services, "pg-forget") == stored_events(services, "pg-keep") == 3

    resumed = asyncio.run(pg_store.retrieve("pg-keep"))  # any worker rebuilds the same conversation
    assert [e.as_dict()["event"] for e in resumed.events] == ["user", "action", "action"]

    _turn(forget, "delete my data", FORGET_ACTION)
    asyncio.run(pg_store.save(forget))
    assert stored_events(services, "pg-forget") == 0
    assert stored_events(services, "pg-keep") == 3


def test_retention_purges_old_conversations_in_postgresql(pg_store, services, monkeypatch):
    old, recent = DialogueStateTracker("pg-old", domain().slots), DialogueStateTracker("pg-recent", domain().slots)
    _turn(old, "hello", "utter_greet", timestamp=time.time() - 40 * 86400)
    _turn(recent, "hello", "utter_greet")
    asyncio.run(pg_store.save(old))
    asyncio.run(pg_store.save(recent))
    # The CLI's path (`python -m bot records purge`) with the scale-out endpoints file.
    monkeypatch.setenv("TRIALBOT_ENDPOINTS", str(ENDPOINTS.relative_to(ROOT)))
    assert purge_configured(30) >= 1
    assert stored_events(services, "pg-old") == 0
    assert stored_events(services, "pg-recent") == 3


def test_the_lock_store_is_redis(service_env):
    store = LockStore.create(read_endpoint_config(str(ENDPOINTS), "lock_store"))
    assert isinstance(store, RedisLockStore) and store.key_prefix == LOCK_PREFIX
    assert store.red.ping()


# --- Several Rasa workers -------------------------------------------------------------------------


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )  # its own process group, killed as one


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if http(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not come up:\n" + log.read_text(errors="replace")[-3000:])


@dataclass
class Cluster:
    """N Rasa workers sharing PostgreSQL and Redis; the test is their load balancer.

    ``say`` sends each turn of a conversation to the next worker in turn, and
    ``tracker`` reads from a worker other than the one that answered last, so
    whatever a worker knows of a conversation it must have read from the shared
    store. ``handled`` records which worker took each turn.
    """

    ports: list[int]
    token: str
    handled: dict[str, list[int]] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def _next(self, sender: str) -> int:
        with self._guard:
            taken = self.handled.setdefault(sender, [])
            worker = (taken[-1] + 1) % len(self.ports) if taken else zlib.crc32(sender.encode()) % len(self.ports)
            taken.append(worker)
            return worker

    def say(self, sender: str, message: str, metadata: dict | None = None, worker: int | None = None) -> list[dict]:
        if worker is None:
            worker = self._next(sender)
        payload = {"sender": sender, "message": message, **({"metadata": metadata} if metadata else {})}
        status, body = http(f"http://127.0.0.1:{self.ports[worker]}/webhooks/rest/webhook", payload)
        assert status == 200, f"worker {worker} answered {status}: {body[:300]}"
        return json.loads(body)

    def tracker(self, sender: str, worker: int | None = None) -> dict:
        if worker is None:
            with self._guard:
                taken = self.handled.get(sender) or [0]
                worker = (taken[-1] + 1) % len(self.ports)
        query = urllib.parse.urlencode({"token": self.token})
        status, body = http(f"http://127.0.0.1:{self.ports[worker]}/conversations/{sender}/tracker?{query}")
        assert status == 200, f"tracker API of worker {worker} answered {status}"
        return json.loads(body)


@pytest.fixture(scope="module")
def cluster(services, tmp_path_factory):
    """One action server and WORKERS Rasa servers, started as ``python -m bot run`` starts them."""
    if not MODEL.exists():
        pytest.skip("no trained model: run `make train` (make test does)")
    home = tmp_path_factory.mktemp("workers")
    model = home / "trialbot.tar.gz"
    shutil.copy2(MODEL, model)  # every worker loads the same model even if it is retrained meanwhile
    token = "test-token-" + os.urandom(8).hex()
    actions_token = os.urandom(16).hex()  # workers call the action server with it (bot/server/guards.py)
    actions_port, ports = free_port(), [free_port() for _ in range(WORKERS)]
    base = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TRIALBOT_RECORDS_DB": str(home / "records.db"),
        # If a worker fell back to the SQLite store it would create this file; the test checks it does not.
        "TRIALBOT_CONVERSATIONS_DB": str(home / "must-not-exist.db"),
    }
    processes = []
    try:
        actions_log = home / "actions.log"
        actions = _start(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(actions_port)],
            {**base, "SANIC_HOST": "127.0.0.1", "TRIALBOT_ACTIONS_TOKEN": actions_token},
            actions_log,
        )
        processes.append(actions)
        worker_env = {
            **base,
            **services,
            "ACTIONS_PORT": str(actions_port),
            "TRIALBOT_API_TOKEN": token,
            "TRIALBOT_ACTIONS_TOKEN": actions_token,
            "WEB_PORT": str(free_port()),
            "TRIALBOT_SESSION_SECRET": os.urandom(16).hex(),
        }
        logs = [home / f"worker-{i}.log" for i in range(WORKERS)]
        for port, log in zip(ports, logs):
            processes.append(
                _start(
                    [
                        sys.executable,
                        "-m",
                        "bot.server.rasa_server",
                        "--model",
                        str(model),
                        "--interface",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--endpoints",
                        str(ENDPOINTS),
                        "--credentials",
                        "credentials.yml",
                    ],
                    worker_env,
                    log,
                )
            )
        _wait_until_up(f"http://127.0.0.1:{actions_port}/health", actions, actions_log)
        for port, process, log in zip(ports, processes[1:], logs):
            _wait_until_up(f"http://127.0.0.1:{port}/", process, log)
        yield Cluster(ports, token)
        assert not (home / "must-not-exist.db").exists(), "a worker used the SQLite store, not PostgreSQL"
        for log in logs:
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{log.name}:\n{text[-3000:]}"
    finally:
        _stop(processes)


def _assert_round_robin(cluster: Cluster, sender: str) -> None:
    taken = cluster.handled[sender]
    assert len(taken) >= 2 and all(a != b for a, b in zip(taken, taken[1:])), taken
    assert set(taken) == set(range(WORKERS)), f"not every worker took a turn: {taken}"


def test_screenings_hop_between_workers_and_keep_every_answer(cluster, services):
    """Every end-to-end screening of tests/test_conversations.py (tests/patient.py), with its own checks
    (verdicts, no question asked twice...), each turn on another worker; three at once."""

    def screening(scenario):
        check_complete_screening(cluster, scenario)  # its sender: "e2e-" + the scenario's name
        return scenario

    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(pool.map(screening, SCENARIOS))
    assert len(done) == len(SCENARIOS)
    for sender in [s for s in cluster.handled if s.startswith("e2e-")]:
        _assert_round_robin(cluster, sender)
        assert stored_events(services, sender) > 0  # the conversation is in PostgreSQL


def test_delete_my_data_on_one_worker_is_forgotten_by_all(cluster, services):
    sender = "scale-forget"
    play(cluster, SCENARIOS[0], sender)  # a finished screening, as in tests/test_tracker_store.py
    assert cluster.tracker(sender)["slots"]["age"] == 61
    assert stored_events(services, sender) > 0
    reply = " ".join(r.get("text") or "" for r in cluster.say(sender, "delete my data"))
    assert "deleted" in reply.lower()
    assert stored_events(services, sender) == 0
    for worker in range(WORKERS):  # no worker still holds the answers
        slots = cluster.tracker(sender, worker=worker)["slots"]
        assert slots["age"] is None and slots["tumor_site"] is None, f"worker {worker} remembers"
    _assert_round_robin(cluster, sender)


def _tickets(red: redis.Redis, sender: str) -> int:
    raw = red.get(LOCK_PREFIX + sender)
    return len(json.loads(raw)["tickets"]) if raw else 0


def _turns(events: list[dict]) -> list[tuple[str, list[str]]]:
    """(user text, actions run after it until the bot listened again), one per user message."""
    turns: list[tuple[str, list[str]]] = []
    for event in events:
        if event["event"] == "user":
            assert not turns or turns[-1][1][-1:] == ["action_listen"], f"a message came mid-turn: {turns[-1]}"
            turns.append((event["text"], []))
        elif event["event"] == "action" and turns:
            turns[-1][1].append(event["name"])
    return turns


def test_two_workers_take_concurrent_turns_of_one_conversation_one_after_the_other(cluster, services):
    """Two messages of one conversation reach two workers at once: the Redis lock queues
    the second behind the first, which a lock in each worker's memory could not do."""
    sender = "scale-concurrent"
    cluster.say(sender, "hello", worker=0)
    cluster.say(sender, "yes, I agree", worker=1)
    before = cluster.tracker(sender, worker=0)
    assert before["slots"]["requested_slot"] == "age"
    red = _redis(services)

    results: dict[str, tuple[float, list[dict]]] = {}

    def send(name: str, message: str, worker: int) -> None:
        replies = cluster.say(sender, message, worker=worker)
        results[name] = (time.monotonic(), replies)

    first = threading.Thread(target=send, args=("first", "I'm 61", 0))
    second = threading.Thread(target=send, args=("second", "hypopharynx", 1))
    first.start()
    deadline = time.monotonic() + 30
    while not red.exists(LOCK_PREFIX + sender):  # worker 0 holds the conversation's lock
        assert time.monotonic() < deadline and first.is_alive(), "the first turn never took the Redis lock"
        time.sleep(0.002)
    second.start()
    most_tickets = 0
    while first.is_alive() or second.is_alive():
        most_tickets = max(most_tickets, _tickets(red, sender))
        time.sleep(0.005)
    first.join()
    second.join()

    assert most_tickets == 2, "the second worker never queued behind the first in Redis"
    assert results["first"][0] < results["second"][0], "the second turn finished before the first"
    assert not red.exists(LOCK_PREFIX + sender), "the lock was left behind"

    after = cluster.tracker(sender, worker=1)
    new_turns = _turns(after["events"])[len(_turns(before["events"])) :]
    assert [text for text, _ in new_turns] == ["I'm 61", "hypopharynx"]
    assert all(actions[-1:] == ["action_listen"] for _, actions in new_turns), new_turns
    assert after["slots"]["age"] == 61 and after["slots"]["tumor_site"] == "hypopharynx"
    # The second turn saw the first one's answer: after it the bot asks neither age nor site.
    assert after["slots"]["requested_slot"] not in (None, "age", "tumor_site")
    stored = stored_events(services, sender)
    assert stored == len(after["events"]), "PostgreSQL holds exactly the events the tracker shows"
