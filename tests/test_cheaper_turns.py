"""Rasa's work per turn made cheaper without changing what it does (bot/server/guards.py).

What Rasa sends the action server on each call (``action_calls_carry_this_turn``): the action server gets the conversation's slots, latest message and active loop, and only this
turn's events: the form's validation reads the slot events at the end of the turn, nothing reads
further back. The whole dialogue (test stories, the simulator, the conversation tests) runs
with it; these tests pin the call itself against Rasa's own format.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.features import Features

from bot.server import guards
from tests.stack import ROOT


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def a_screening(domain: Domain) -> DialogueStateTracker:
    """Two turns: a welcome, an age given, then the site."""
    tracker = DialogueStateTracker.from_events(
        "someone",
        [
            ActionExecuted("action_listen"),
            UserUttered("hello", {"name": "greet", "confidence": 1.0}),
            ActionExecuted("action_converse"),
            BotUttered("Hello", metadata={"utter_action": "utter_greet"}),
            SlotSet("greeted", True),
            ActionExecuted("action_listen"),
            UserUttered("I'm 61", {"name": "inform", "confidence": 1.0}, message_id="m2"),
            SlotSet("age", 61),
            ActionExecuted("prescreening_form"),
            BotUttered("Where is the tumour?"),
            ActionExecuted("action_listen"),
            UserUttered("tongue", {"name": "inform", "confidence": 1.0}, message_id="m3"),
            SlotSet("tumor_site", "oral_tongue"),
        ],
        slots=domain.slots,
    )
    return tracker


def call_format(tracker: DialogueStateTracker, domain: Domain, monkeypatch) -> dict:
    monkeypatch.setattr(RemoteAction, "_action_call_format", RemoteAction._action_call_format)
    rasa_own = RemoteAction("validate_prescreening_form", None)._action_call_format(tracker, domain)
    guards.action_calls_carry_this_turn()
    ours = RemoteAction("validate_prescreening_form", None)._action_call_format(tracker, domain)
    return {"rasa": rasa_own, "ours": ours}


def test_the_action_server_gets_this_turns_events_only(domain, monkeypatch):
    calls = call_format(a_screening(domain), domain, monkeypatch)
    events = calls["ours"]["tracker"]["events"]
    assert [e["event"] for e in events] == ["user", "slot"]
    assert events[0]["text"] == "tongue"
    assert events == calls["rasa"]["tracker"]["events"][-2:]  # as Rasa writes them
    assert calls["ours"]["tracker"]["events"] != calls["rasa"]["tracker"]["events"]


def test_everything_but_the_past_events_is_rasas_own_call(domain, monkeypatch):
    calls = call_format(a_screening(domain), domain, monkeypatch)
    rasa_state, our_state = calls["rasa"].pop("tracker"), calls["ours"].pop("tracker")
    assert calls["ours"] == calls["rasa"]  # next_action, sender_id, version, domain if asked for
    rasa_state.pop("events"), our_state.pop("events")
    assert our_state == rasa_state  # slots, latest message, active loop, latest action
    assert our_state["slots"]["age"] == 61 and our_state["slots"]["greeted"] is True


def test_before_any_message_every_event_is_sent(domain, monkeypatch):
    tracker = DialogueStateTracker.from_events("someone", [ActionExecuted("action_listen")], slots=domain.slots)
    calls = call_format(tracker, domain, monkeypatch)
    assert calls["ours"]["tracker"]["events"] == calls["rasa"]["tracker"]["events"]


# --- sparse features joined directly ----------------------------------------------------------


def features(matrix) -> Features:
    return Features(matrix, "sequence", "text", "SomeFeaturizer")


@pytest.mark.parametrize("first_format, second_format", [("coo", "coo"), ("csr", "coo"), ("coo", "csr")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_features_are_joined_as_rasa_joins_them(monkeypatch, first_format, second_format, dtype):
    rng = np.random.default_rng(7)
    first = scipy.sparse.random(6, 40, density=0.2, format=first_format, dtype=dtype, random_state=rng)
    second = scipy.sparse.random(6, 90, density=0.1, format=second_format, dtype=np.float32, random_state=rng)
    monkeypatch.setattr(Features, "_combine_sparse_features", Features._combine_sparse_features)
    rasa_own, ours = features(first), features(first)
    rasa_own.combine_with_features(features(second))
    guards.sparse_features_joined_directly()
    ours.combine_with_features(features(second))
    expected, got = rasa_own.features, ours.features
    assert got.format == expected.format == "coo" and got.dtype == expected.dtype and got.shape == expected.shape
    assert (got.row == expected.row).all() and (got.col == expected.col).all() and (got.data == expected.data).all()


def test_features_of_different_lengths_are_refused_as_rasa_refuses_them(monkeypatch):
    monkeypatch.setattr(Features, "_combine_sparse_features", Features._combine_sparse_features)
    guards.sparse_features_joined_directly()
    with pytest.raises(ValueError, match="sequence dimensions do not match"):
        features(scipy.sparse.coo_matrix((3, 5))).combine_with_features(features(scipy.sparse.coo_matrix((4, 5))))
