"""The invariants every simulated screening must hold, and a readable transcript.

Failures (the issue's list):
- ``no_result``: no ``trial_matches`` result at all; ``too_many_turns``: the first result
  came after turn 25; ``late_answer_no_result``: the user answered after the result
  (a correction) and no new result followed;
- ``asked_more_than_3``: one question asked more than three times in a row;
- ``two_replies_without_question``: two replies in a row with neither a question
  (a question mark in a text), buttons, nor the result;
- ``verdict``: a trial with full reviewed criteria (``engine.decisive()``) whose verdict
  differs from ``knowledge.engine`` on the profile the user meant; ``partial_eligible``: a
  trial known only in part called eligible; ``verdict_partial``: a partial trial's verdict
  differs from the engine's on the meant profile restricted to the fields the bot collected
  (why restricted: the bot deliberately asks nothing for partial trials, so their open
  points, e.g. histology or cycles, stay unknown in the bot's profile while the user
  "meant" them; only what was collected can be compared);
- ``records``: not exactly one record for the conversation at the end;
- ``error``: the client failed (connection refused, HTTP error).

Diagnostics (reported, never failures): a question asked again after the user had
already given that fact; a relative asked in the second person; single replies without
a question; fields the bot holds with another value than meant, or lost; a correction
the bot did not take; phrasings tagged as known normaliser gaps; typos.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from knowledge import engine

from .bank import Bank
from .player import Transcript, Turn
from .user import profile_fields

SCOPE = "head_and_neck"
MAX_TURNS_TO_RESULT = 25
MAX_ASKS_IN_A_ROW = 3


@dataclass
class Failure:
    code: str
    detail: str
    turn: int | None = None
    key: str | None = None  # what it is about (a slot, a trial), for the summary

    def __str__(self) -> str:
        where = f" (turn {self.turn})" if self.turn else ""
        return f"{self.code}{where}: {self.detail}"


@dataclass
class Outcome:
    transcript: Transcript
    failures: list[Failure] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


@functools.lru_cache(maxsize=1)
def decisive() -> frozenset[str]:
    return engine.decisive()


def expected_verdicts(profile: dict) -> dict[str, str]:
    return engine.verdicts(profile, scope=SCOPE)


def alive(turn: Turn, bank: Bank) -> bool:
    """The reply asks something, offers buttons, or is the result."""
    return turn.result is not None or bool(turn.buttons) or any(bank.is_question(t) for t in turn.texts)


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def profile_differences(bot_profile: dict, intended: dict, given: set[str] = frozenset()) -> dict[str, tuple[Any, Any]]:
    """Fields the bot holds with another value than the user meant, and fields the user gave
    (``given``) that the bot's profile lacks: {field: (bot value or None, meant)}."""
    out = {}
    for name, value in (bot_profile or {}).items():
        if name not in profile_fields():
            continue
        meant = intended.get(name, "unknown")
        if _norm(value) != _norm(meant):
            out[name] = (value, meant)
    for name in given:
        if name in profile_fields() and name not in (bot_profile or {}) and intended.get(name, "unknown") != "unknown":
            out[name] = (None, intended[name])
    return out


def check(transcript: Transcript, bank: Bank) -> Outcome:
    out = Outcome(transcript)
    fail = out.failures
    turns = transcript.turns
    if transcript.error:
        fail.append(Failure("error", transcript.error, len(turns) or None))

    # --- a result within 25 turns -----------------------------------------------------------
    results = transcript.results
    if not results:
        why = "the user gave up after three nudges with nothing asked" if transcript.gave_up else \
            f"the user still had answers to give after {len(turns)} turns"
        fail.append(Failure("no_result", f"no trial_matches result; {why}", len(turns) or None))
    else:
        first = results[0][0]
        if first > MAX_TURNS_TO_RESULT:
            fail.append(Failure("too_many_turns", f"first result at turn {first} (limit {MAX_TURNS_TO_RESULT})", first))
        last = results[-1][0]
        late = [t for t in turns if t.number > last]
        if late:
            fail.append(Failure("late_answer_no_result",
                                f"after the result at turn {last} the user said {late[0].sent.text!r} "
                                f"({late[0].sent.kind}) and no new result came", late[0].number, late[0].sent.field))

    # --- no question more than three times in a row --------------------------------------
    worst: dict[str, Turn] = {}
    for turn in turns:
        if turn.requested and turn.asks > MAX_ASKS_IN_A_ROW:
            if turn.requested not in worst or turn.asks > worst[turn.requested].asks:
                worst[turn.requested] = turn
    for slot, turn in worst.items():
        fail.append(Failure("asked_more_than_3", f"{slot} asked {turn.asks} times in a row", turn.number, slot))

    # --- never two replies in a row without a question, buttons or the result ---------------
    dead = [t for t in turns if not alive(t, bank)]
    pairs = [(prev, t) for prev, t in zip(turns, turns[1:]) if not alive(prev, bank) and not alive(t, bank)]
    if pairs:
        prev, t = pairs[0]
        said = " | ".join(prev.texts + t.texts)[:200] or "(nothing)"
        fail.append(Failure("two_replies_without_question",
                            f"{len(pairs)} time(s); first at turns {prev.number}-{t.number}, after the user's "
                            f"{prev.sent.kind} {prev.sent.text!r}: {said!r}",
                            prev.number, f"after {prev.sent.kind}: {_first_text_key(prev)}"))

    # --- verdicts --------------------------------------------------------------------------
    result = transcript.result
    intended = transcript.intended
    diffs: dict = {}
    if result is not None:
        bot = {m["nct_id"]: m["verdict"] for m in result.get("matches", [])}
        expected = expected_verdicts(intended)
        bot_profile = result.get("profile") or {}
        diffs = profile_differences(bot_profile, intended, given_fields(transcript))
        because = "; ".join(f"{k}: bot {v[0]!r}, meant {v[1]!r}" for k, v in diffs.items())
        for nct in sorted(decisive()):
            if bot.get(nct) != expected.get(nct):
                fail.append(Failure("verdict", f"{nct}: bot says {bot.get(nct)}, the user meant {expected.get(nct)}"
                                    + (f" [{because}]" if because else " [same collected values: a question was not asked]"),
                                    results[-1][0], nct))
        collected = {k for k in bot_profile if k in profile_fields()}
        restricted = expected_verdicts({k: intended.get(k, "unknown") for k in collected})
        for nct, verdict in sorted(bot.items()):
            if nct in decisive():
                continue
            if verdict == "eligible":
                fail.append(Failure("partial_eligible", f"{nct} has partial criteria and was called eligible",
                                    results[-1][0], nct))
            elif verdict != restricted.get(nct):
                fail.append(Failure("verdict_partial", f"{nct}: bot says {verdict}, the engine on the meant values of "
                                    f"the collected fields says {restricted.get(nct)}" + (f" [{because}]" if because else ""),
                                    results[-1][0], nct))
        missing = set(expected) - set(bot)
        if missing:
            fail.append(Failure("verdict", f"trials in scope missing from the result: {sorted(missing)}", results[-1][0]))

        # --- one screening, one record ----------------------------------------------------
        if transcript.records != 1 and transcript.records >= 0:
            fail.append(Failure("records", f"{transcript.records} records for this conversation "
                                f"({len(results)} result(s) shown)", results[-1][0]))

    out.diagnostics = diagnostics(transcript, bank, dead, diffs)
    return out


def given_fields(transcript: Transcript) -> set[str]:
    """Fields the user stated (answers the bot moved on from, corrections)."""
    given: set[str] = set()
    before: str | None = None
    for turn in transcript.turns:
        message = turn.sent
        if message.kind in ("answer", "button", "several", "wrong") and turn.requested != before \
                or message.kind == "correction":
            given |= {k for k, v in message.claims.items() if v != "unknown"}
        before = turn.requested
    return given


def _first_text_key(turn: Turn) -> str:
    text = (turn.texts or ["(nothing)"])[0]
    return re.sub(r"\s+", " ", text)[:60]


def diagnostics(transcript: Transcript, bank: Bank, dead: list[Turn], diffs: dict) -> dict:
    given: set[str] = set()
    asked_again = []
    second_person = []
    relative_known = False
    person = [re.compile(p, re.I) for p in bank.settings.get("second_person", [])]
    before: str | None = None
    for turn in transcript.turns:
        message = turn.sent
        # What the user said counts as given once the bot moved on (a refused answer is not given).
        if message.kind in ("answer", "button", "several", "wrong", "dont_know", "skip") and turn.requested != before \
                or message.kind == "correction":
            given |= set(message.claims)
        before = turn.requested
        if transcript.plan.persona.voice == "carer" and message.kind in ("opening", "answer", "several"):
            relative_known = True
        if turn.requested and turn.asks == 1 and turn.requested in given and turn.result is None:
            asked_again.append((turn.number, turn.requested))
        if relative_known and turn.requested and turn.requested != "consent" and turn.asks == 1:
            question = " ".join(t for t in turn.texts if bank.is_question(t))
            if question and any(p.search(question) for p in person):
                second_person.append((turn.number, turn.requested, question[:100]))
    corrected = [t.sent for t in transcript.turns if t.sent.kind == "correction"]
    final = (transcript.result or {}).get("profile") or {}
    ignored = [m.field for m in corrected if m.field in final and _norm(final[m.field]) != _norm(m.claims.get(m.field))]
    lost = sorted(k for k, v in diffs.items() if v[0] is None)
    return {
        "asked_again_after_given": asked_again,
        "correction_ignored": ignored,
        "lost_fields": lost,
        "second_person_to_relative": second_person,
        "dead_replies": [t.number for t in dead],
        "misread": {k: [str(v[0]), str(v[1])] for k, v in diffs.items()},
        "gaps": sorted({g for t in transcript.turns for g in t.sent.gaps}),
        "typos": [t.number for t in transcript.turns if t.sent.phrase and t.sent.phrase.typo],
    }


# --- a transcript a person can read ---------------------------------------------------------


def _short(text: str, limit: int = 220) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(v: Any) -> str:
    return "[" + ", ".join(map(str, v)) + "]" if isinstance(v, list) else str(v)


def format_outcome(outcome: Outcome) -> str:
    t = outcome.transcript
    plan, persona = t.plan, t.plan.persona
    who = persona.voice + (f" ({persona.relative}, {persona.sex})" if persona.relative else f" ({persona.sex})")
    lines = [f"=== screening {plan.index} of seed {plan.seed} - sender {t.sender} - language {t.language}",
             f"who: {who}; stage said as {persona.stage_form}"
             + (f" {persona.tnm['text']!r}" if persona.tnm else "") + f"; history {persona.history}; "
             f"city {persona.location or 'skip'}",
             "plan: " + ", ".join(plan.perturbations),
             "meant: " + ", ".join(f"{k}={_value(v)}" for k, v in sorted(t.intended.items()))]
    if t.skipped:
        lines.append(f"skipped: {t.skipped}")
    if t.unbanked:
        lines.append(f"answered 'don't know' (no phrase bank): {t.unbanked}")
    for turn in t.turns:
        m = turn.sent
        note = m.kind + (f" {m.field}" if m.field else "")
        if m.payload:
            note += f", pressed {m.phrase.text!r}" if m.phrase else ", pressed"
        if m.phrase and m.phrase.typo:
            note += f", typo in a {m.phrase.typo} word"
        if m.gaps:
            note += f", known gap: {'; '.join(m.gaps)}"
        if m.claims:
            note += " = " + ", ".join(f"{k}:{_value(v)}" for k, v in m.claims.items())
        lines.append(f"{turn.number:3d} user: {m.text!r}   [{note}]")
        for reply in turn.replies:
            if reply.get("text"):
                lines.append(f"     bot: {_short(reply['text'])!r}")
            if reply.get("buttons"):
                lines.append("          buttons: " + " | ".join(f"{b.get('title')} -> {b.get('payload')}" for b in reply["buttons"]))
            custom = reply.get("custom")
            if isinstance(custom, dict) and custom.get("type") == "trial_matches":
                verdicts = ", ".join(f"{m['nct_id']} {m['verdict']}" for m in custom.get("matches", []))
                lines.append(f"     bot: <trial_matches: {verdicts}>")
                lines.append("          profile: " + ", ".join(f"{k}={_value(v)}" for k, v in sorted((custom.get("profile") or {}).items())))
            elif isinstance(custom, dict):
                lines.append(f"     bot: <custom {custom.get('type')}>")
        if not turn.replies:
            lines.append("     bot: (no reply)")
        lines.append(f"          -> asking: {turn.requested or '-'}" + (f" (x{turn.asks})" if turn.asks > 1 else ""))
    lines.append(f"records for this conversation: {t.records}; {len(t.turns)} turns in {t.seconds:.1f} s")
    if outcome.failures:
        lines.append("FAILED:")
        lines += [f"  - {f}" for f in outcome.failures]
    d = outcome.diagnostics
    notes = []
    if d.get("asked_again_after_given"):
        notes.append("asked again although already given: " + ", ".join(f"{s} (turn {n})" for n, s in d["asked_again_after_given"]))
    if d.get("second_person_to_relative"):
        notes.append("relative asked in the second person: " + ", ".join(f"{s} (turn {n})" for n, s, _ in d["second_person_to_relative"]))
    if d.get("correction_ignored"):
        notes.append("correction not taken: " + ", ".join(d["correction_ignored"]))
    if d.get("lost_fields"):
        notes.append("given but missing from the bot's profile: " + ", ".join(d["lost_fields"]))
    if d.get("misread"):
        notes.append("bot holds other values: " + ", ".join(f"{k} bot {v[0]} meant {v[1]}" for k, v in d["misread"].items()))
    if notes:
        lines.append("notes:")
        lines += [f"  - {n}" for n in notes]
    return "\n".join(lines)
