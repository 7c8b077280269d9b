"""Where conversations are kept: Rasa's SQL tracker store on a local SQLite file,
or on PostgreSQL when several Rasa workers share it (docs/scale-out.md).

Why a subclass of Rasa's ``SQLTrackerStore`` and not the stock ``type: SQL``:

* **Resume after a restart.** Events are on disk (``var/conversations.db``), so a
  restarted Rasa server carries on a half-finished screening where it stopped.
* **WAL mode.** Readers (the HTTP API, ``records purge``) never block the server
  writing a turn. WAL is a property of the file, set before Rasa opens it, and
  every new SQLAlchemy connection re-asserts it with a busy timeout.
* **Private file.** The folder is 0700 and the file 0600: these are health data.
* **Forgetting for real.** When a turn ran ``action_delete_my_data`` the store
  deletes every stored event of that conversation instead of appending the
  turn, so nothing is left, and the next message starts a new conversation.
* **Retention.** ``purge(older_than_days)`` drops whole conversations whose last
  event is older than the cut-off (``python -m bot records purge``).
* **Cheap per turn** (docs/performance.md), with the same rows read and written as
  Rasa's own store: a turn reads only the ``data`` column of its events (Rasa builds
  an ORM object per row and then reads that column alone), and the save appends the
  events after the ones this turn loaded, where Rasa counts the stored events again
  with a second query (the same number: one turn of a conversation at a time, see
  bot/server/guards.py and the Redis lock store of the scale-out setup). SQLite keeps its
  connections open in a small pool: SQLAlchemy 1.4 opens and closes a new one for
  every session on a file, and closing the last connection to a WAL database
  checkpoints it, so every turn paid for a connect, three PRAGMAs and a checkpoint.
* **Held between turns.** The tracker a turn saved is kept in memory, and the next turn
  of that conversation takes it instead of rebuilding it from its events (Rasa replays
  every event of the session to rebuild one). It is taken only while the store still
  holds exactly what that turn saved (the conversation's last event id and event count),
  so another Rasa worker's turn, a deletion or a failed turn means a fresh load.

Configured in ``endpoints.yml``::

    tracker_store:
      type: bot.server.tracker_store.SQLiteTrackerStore
      db: var/conversations.db

A relative ``db`` is taken from the repository root; ``TRIALBOT_CONVERSATIONS_DB``
overrides it (tests use that to keep their conversations apart).

Forgetting and retention do not depend on SQLite, so they live in
``ForgettingSQLTrackerStore``, which takes Rasa's SQL settings unchanged (any
dialect SQLAlchemy knows; PostgreSQL in ``deploy/endpoints.scale-out.yml``).
``SQLiteTrackerStore`` adds the file, WAL and permission handling on top.
``TRIALBOT_ENDPOINTS`` names the endpoints file the ``records purge`` CLI reads
(default ``endpoints.yml``), so retention reaches a PostgreSQL store too.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional, Text

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from screenings.store import ROOT, private_file

logger = logging.getLogger(__name__)

DEFAULT_DB = "var/conversations.db"
ENV_DB = "TRIALBOT_CONVERSATIONS_DB"
FORGET_ACTION = "action_delete_my_data"
ENDPOINTS = ROOT / "endpoints.yml"
ENV_ENDPOINTS = "TRIALBOT_ENDPOINTS"
# Settings of Rasa's SQL store that make no sense for a local SQLite file.
_NOT_FOR_SQLITE = ("dialect", "host", "port", "username", "password", "login_db", "query", "url")
# How many events of its latest session were stored when a tracker was loaded (set by
# ``retrieve``, read by ``save``): the events after them are this turn's.
_STORED = "_trialbot_events_stored"
# Open SQLite connections kept for reuse (Rasa uses one at a time, on its event loop).
SQLITE_POOL_SIZE = 4
# Conversations whose last saved tracker is held in memory for their next turn.
HELD_TRACKERS = 500


def conversations_path(db: str | Path | None = None) -> Path:
    """``TRIALBOT_CONVERSATIONS_DB``, else ``db`` from endpoints.yml, else ``var/conversations.db``."""
    chosen = Path(os.environ.get(ENV_DB) or db or DEFAULT_DB)
    return chosen if chosen.is_absolute() else ROOT / chosen


def _configure_connection(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    """Every connection SQLAlchemy opens: WAL, wait on a busy writer, durable enough."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _prepare(path: Path) -> None:
    """Create the file 0600 in a 0700 folder and switch it to WAL before Rasa opens it."""
    private_file(path)
    with sqlite3.connect(path, timeout=10) as conn:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    conn.close()
    if mode.lower() != "wal":
        raise RuntimeError(f"{path}: SQLite refused WAL mode ({mode})")


def ran_forget_action(tracker: DialogueStateTracker) -> bool:
    """True when the latest turn (events since the last user message) ran ``action_delete_my_data``."""
    for event in reversed(tracker.events):
        if isinstance(event, ActionExecuted) and event.action_name == FORGET_ACTION:
            return True
        if isinstance(event, UserUttered):
            return False
    return False


class ForgettingSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store, any dialect, that forgets on request and purges old conversations.

    Takes the settings of Rasa's ``type: SQL`` store (``dialect``, ``host``,
    ``port``, ``db``, ``username``, ``password``, ``login_db``, ``query``) as they
    are; the scale-out deployment uses it with ``dialect: postgresql``.
    """

    @property
    def held(self) -> "OrderedDict[str, tuple[DialogueStateTracker, tuple[Any, int]]]":
        """sender_id -> (the tracker its last turn saved, (last event id, event count) after that save)."""
        return self.__dict__.setdefault("_held", OrderedDict())

    def _hold(self, tracker: DialogueStateTracker, mark: tuple[Any, int]) -> None:
        with _HELD_LOCK:
            self.held[tracker.sender_id] = (tracker, mark)
            self.held.move_to_end(tracker.sender_id)
            while len(self.held) > HELD_TRACKERS:
                self.held.popitem(last=False)

    def _take_held(self, sender_id: Text) -> Optional[tuple[DialogueStateTracker, tuple[Any, int]]]:
        with _HELD_LOCK:
            return self.held.pop(sender_id, None)

    def _mark(self, session: Any, sender_id: Text) -> tuple[Any, int]:
        """(last event id, event count) of one conversation as stored now."""
        events = self.SQLEvent.__table__
        query = self.__dict__.get("_mark_query")
        if query is None:
            query = self.__dict__["_mark_query"] = sa.select(sa.func.max(events.c.id), sa.func.count()).where(
                events.c.sender_id == sa.bindparam("sender_id")
            )
        last, count = session.execute(query, {"sender_id": sender_id}).one()
        return last, count

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the turn's events, or delete the whole conversation if the user asked to."""
        self._take_held(tracker.sender_id)
        if ran_forget_action(tracker):
            self.forget(tracker.sender_id)
            return
        stored = getattr(tracker, _STORED, None)
        if stored is None:  # not loaded by ``retrieve`` (a new conversation, a full history)
            await super().save(tracker)
            return
        # Rasa's own save (the same rows), with the number of stored events known from the
        # load, and one INSERT for all the rows instead of an ORM object per event.
        await self.stream_events(tracker)
        rows = []
        new_session = False
        for event in itertools.islice(tracker.events, stored, len(tracker.events)):
            new_session = new_session or isinstance(event, SessionStarted)
            data = event.as_dict()
            rows.append(
                {
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                }
            )
        with self.session_scope() as session:
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
            mark = self._mark(session, tracker.sender_id)
        setattr(tracker, _STORED, len(tracker.events))
        if not new_session:  # a fresh load reads the new session only: no old session's events held
            self._hold(tracker, mark)

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The latest session's tracker, noting how many events were stored (see ``save``).

        The tracker the last turn saved, when the store still holds exactly that turn's
        events; it is handed out once (whoever takes it owns it), then rebuilt or held again.
        """
        held = self._take_held(sender_id)
        if held is not None:
            tracker, mark = held
            with self.session_scope() as session:
                now = self._mark(session, sender_id)
            if now == mark and len(tracker.events) == getattr(tracker, _STORED, None):
                return tracker
        return await self._retrieve(sender_id, fetch_events_from_all_sessions=False)

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        """Rasa's ``_retrieve`` (the same query, the same rows), reading the ``data`` column only."""
        query = self._events_data(fetch_events_from_all_sessions)
        with self.session_scope() as session:
            rows = session.execute(query, {"sender_id": sender_id}).all()
        if not self.domain or not rows:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, [json.loads(data) for (data,) in rows], self.domain.slots)
        if not fetch_events_from_all_sessions:
            setattr(tracker, _STORED, len(rows))
        return tracker

    def _events_data(self, all_sessions: bool) -> "sa.sql.Select":
        """The ``data`` of Rasa's ``_event_query`` rows, as one statement built once per store."""
        cached = self.__dict__.setdefault("_events_data_queries", {})
        if all_sessions not in cached:
            events = self.SQLEvent.__table__
            sender = events.c.sender_id == sa.bindparam("sender_id")
            query = sa.select(events.c.data).where(sender)
            if not all_sessions:  # the events since the latest SessionStarted, or all if there is none
                start = (
                    sa.select(sa.func.max(events.c.timestamp).label("session_start"))
                    .where(sender, events.c.type_name == SessionStarted.type_name)
                    .subquery()
                )
                query = query.where(
                    sa.or_(events.c.timestamp >= start.c.session_start, start.c.session_start.is_(None))
                )
            cached[all_sessions] = query.order_by(events.c.id)
        return cached[all_sessions]

    def forget(self, sender_id: Text) -> int:
        """Delete every stored event of one conversation; returns how many."""
        self._take_held(sender_id)
        with self.session_scope() as session:
            n = (
                session.query(self.SQLEvent)
                .filter(self.SQLEvent.sender_id == sender_id)
                .delete(synchronize_session=False)
            )
            session.commit()
        logger.info("deleted a conversation at the user's request (%d events)", n)
        return n

    def purge(self, older_than_days: float, now: float | None = None) -> int:
        """Delete conversations whose last event is older than ``older_than_days``; returns how many.

        Whole conversations go, never the old half of one: a tracker rebuilt from
        part of its events would be a different conversation.
        """
        if older_than_days < 0:
            raise ValueError("older_than_days must not be negative")
        cutoff = (now if now is not None else time.time()) - older_than_days * 86400
        events = self.SQLEvent
        with self.session_scope() as session:
            stale = [
                sid
                for (sid,) in session.query(events.sender_id)
                .group_by(events.sender_id)
                .having(sa.func.max(events.timestamp) < cutoff)
            ]
            for chunk in range(0, len(stale), 500):
                session.query(events).filter(events.sender_id.in_(stale[chunk : chunk + 500])).delete(
                    synchronize_session=False
                )
            session.commit()
        return len(stale)


class SQLiteTrackerStore(ForgettingSQLTrackerStore):
    """The forgetting SQL store on a private SQLite file in WAL mode."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        db: Text = DEFAULT_DB,
        event_broker: Optional[EventBroker] = None,
        **kwargs: Any,
    ) -> None:
        for key in _NOT_FOR_SQLITE:
            kwargs.pop(key, None)
        self.path = conversations_path(db)
        _prepare(self.path)
        super().__init__(domain=domain, dialect="sqlite", db=str(self.path), event_broker=event_broker, **kwargs)
        # Rasa opened its first connection (create_all) on an engine without a pool (SQLAlchemy
        # 1.4's default for a file): replace it by one that keeps its connections open, so a
        # turn does not pay for a connect, the PRAGMAs below and a WAL checkpoint on close.
        # Every connection from now on goes through the hook.
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(
            url,
            poolclass=QueuePool,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
            connect_args={"check_same_thread": False},
        )
        sa.event.listen(self.engine, "connect", _configure_connection)
        self.sessionmaker = sessionmaker(bind=self.engine)


_HELD_LOCK = threading.Lock()

STORE_TYPES = {f"{__name__}.{cls.__name__}": cls for cls in (SQLiteTrackerStore, ForgettingSQLTrackerStore)}


def endpoints_path() -> Path:
    """``TRIALBOT_ENDPOINTS`` (relative to the repository root), else ``endpoints.yml``."""
    chosen = os.environ.get(ENV_ENDPOINTS)
    if not chosen:
        return ENDPOINTS
    return Path(chosen) if Path(chosen).is_absolute() else ROOT / chosen


def configured_store(endpoints: Path | None = None) -> ForgettingSQLTrackerStore:
    """The conversation store an endpoints file configures (for the CLI).

    Read with Rasa's own reader, so ``${VAR}`` settings (the PostgreSQL password
    of the scale-out file) are filled in from the environment exactly as the
    server fills them in.
    """
    from rasa.utils.endpoints import read_endpoint_config

    endpoints = endpoints or endpoints_path()
    config = read_endpoint_config(str(endpoints), "tracker_store")
    kind = config.type if config else None
    if kind not in STORE_TYPES:
        raise RuntimeError(f"{endpoints}: tracker_store type is {kind!r}, not one of {sorted(STORE_TYPES)}")
    return STORE_TYPES[kind](host=config.url, **config.kwargs)  # as Rasa passes it (url -> host)


def purge_configured(older_than_days: float, endpoints: Path | None = None) -> int:
    """Retention for the configured conversation store: how many conversations were removed."""
    store = configured_store(endpoints)
    try:
        return store.purge(older_than_days)
    finally:
        store.engine.dispose()
