"""The invariants every simulated screening must hold, and a readable transcript.

Failures (the issue's list):
- ``no_result``: no ``trial_matches`` result at all; ``too_many_turns``: the first result
  came after turn 25; ``late_answer_no_result``: the user answered after the result
  (a correction, "it came back") and no new result followed;
- ``asked_more_than_3``: one question asked more than three times in a row, counted from
  the bot events' ``utter_action`` (``utter_question_<slot>``, one per turn);
  ``not_unknown_after_3``: after the third ask in a row the bot moved on without
  recording the answer or "unknown" (consent: declined) in that slot;
- ``two_replies_without_question``: two replies in a row with neither a question
  (a question mark in a text), buttons, nor the result;
- ``verdict``: a trial with full reviewed criteria (``engine.decisive()``) whose verdict
  differs from ``knowledge.engine`` on the profile the user meant when that result was
  shown (every result: the first, and the updated one after a late answer), with what the
  bot derives by rule (``ecog_source``, ``stage_ajcc7``: profiles.derived); ``partial_eligible``: a
  trial known only in part called eligible; ``verdict_partial``: a partial trial's verdict
  differs from the engine's on the meant profile restricted to the fields the bot collected
  (why restricted: the bot deliberately asks nothing for partial trials, so their open
  points, e.g. histology or cycles, stay unknown in the bot's profile while the user
  "meant" them; only what was collected can be compared);
- ``records``: not exactly one record for the conversation at the end;
  ``record_reference``: the conversation's results named more than one record reference,
  or the record kept is not the one the bot named;
- ``error``: the client failed (connection refused, HTTP error).

Diagnostics (reported, never failures): a question asked again after the user had
already given that fact; a relative asked with the patient's wording of a question that has
a carer wording; single replies without
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
from .profiles import UNKNOWN, derived, tnm_stage
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
        why = (
            "the user gave up after three nudges with nothing asked"
            if transcript.gave_up
            else f"the user still had answers to give after {len(turns)} turns"
        )
        fail.append(Failure("no_result", f"no trial_matches result; {why}", len(turns) or None))
    else:
        first = results[0][0]
        if first > MAX_TURNS_TO_RESULT:
            fail.append(Failure("too_many_turns", f"first result at turn {first} (limit {MAX_TURNS_TO_RESULT})", first))
        last = results[-1][0]
        late = [t for t in turns if t.number > last]
        if late:
            fail.append(
                Failure(
                    "late_answer_no_result",
                    f"after the result at turn {last} the user said {late[0].sent.text!r} "
                    f"({late[0].sent.kind}) and no new result came",
                    late[0].number,
                    late[0].sent.field,
                )
            )

    # --- no question more than three times in a row (the bot's own events) -----------------
    runs = asks_in_a_row(transcript)
    worst: dict[str, tuple[Turn, int]] = {}
    for turn, (slot, times) in zip(turns, runs):
        if slot and times > MAX_ASKS_IN_A_ROW and (slot not in worst or times > worst[slot][1]):
            worst[slot] = (turn, times)
    for slot, (turn, times) in worst.items():
        fail.append(Failure("asked_more_than_3", f"{slot} asked {times} times in a row", turn.number, slot))
    # ... and after the third ask, the slot holds the answer or "unknown" (consent: declined).
    if transcript.events_read:
        for index, (slot, times) in enumerate(runs[:-1]):
            following = turns[index + 1]
            if times == MAX_ASKS_IN_A_ROW and runs[index + 1][0] != slot and following.events.slots.get(slot) is None:
                fail.append(
                    Failure(
                        "not_unknown_after_3",
                        f"{slot} was asked three times in a row, then the bot moved "
                        f"on without recording an answer or 'unknown' (after {following.sent.text!r})",
                        following.number,
                        slot,
                    )
                )

    # --- never two replies in a row without a question, buttons or the result ---------------
    dead = [t for t in turns if not alive(t, bank)]
    pairs = [(prev, t) for prev, t in zip(turns, turns[1:]) if not alive(prev, bank) and not alive(t, bank)]
    if pairs:
        prev, t = pairs[0]
        said = " | ".join(prev.texts + t.texts)[:200] or "(nothing)"
        fail.append(
            Failure(
                "two_replies_without_question",
                f"{len(pairs)} time(s); first at turns {prev.number}-{t.number}, after the user's "
                f"{prev.sent.kind} {prev.sent.text!r}: {said!r}",
                prev.number,
                f"after {prev.sent.kind}: {_first_text_key(prev)}",
            )
        )

    # --- verdicts, of every result, against what the user meant then ---------------------------
    diffs: dict = {}
    given = given_fields(transcript)
    for number, result in results:
        turn = turns[number - 1]
        meant = turn.meant if turn.meant is not None else transcript.meant
        which = (
            ""
            if len(results) == 1
            else (" (the updated result)" if number == results[-1][0] else " (the first result)")
        )
        bot = {m["nct_id"]: m["verdict"] for m in result.get("matches", [])}
        expected = expected_verdicts(meant)
        bot_profile = result.get("profile") or {}
        diffs = profile_differences(bot_profile, meant, given)
        because = "; ".join(f"{k}: bot {v[0]!r}, meant {v[1]!r}" for k, v in diffs.items())
        for nct in sorted(decisive()):
            if bot.get(nct) != expected.get(nct):
                fail.append(
                    Failure(
                        "verdict",
                        f"{nct}{which}: bot says {bot.get(nct)}, the user meant {expected.get(nct)}"
                        + (f" [{because}]" if because else " [same collected values: a question was not asked]"),
                        number,
                        nct,
                    )
                )
        collected = {k for k in bot_profile if k in profile_fields()}
        restricted = expected_verdicts(collected_meaning(meant, collected, transcript))
        for nct, verdict in sorted(bot.items()):
            if nct in decisive():
                continue
            if verdict == "eligible":
                fail.append(
                    Failure(
                        "partial_eligible", f"{nct}{which} has partial criteria and was called eligible", number, nct
                    )
                )
            elif verdict != restricted.get(nct):
                fail.append(
                    Failure(
                        "verdict_partial",
                        f"{nct}{which}: bot says {verdict}, the engine on the meant values "
                        f"of the collected fields says {restricted.get(nct)}" + (f" [{because}]" if because else ""),
                        number,
                        nct,
                    )
                )
        missing = set(expected) - set(bot)
        if missing:
            fail.append(
                Failure("verdict", f"trials in scope missing from the result{which}: {sorted(missing)}", number)
            )

    # --- one screening, one record, one reference ---------------------------------------------
    if results and transcript.records is not None:
        if len(transcript.records) != 1:
            fail.append(
                Failure(
                    "records",
                    f"{len(transcript.records)} records for this conversation ({len(results)} result(s) shown)",
                    results[-1][0],
                )
            )
        named = record_references(transcript)
        if len(named) > 1 or (named and transcript.records and named != transcript.records[:1]):
            fail.append(
                Failure(
                    "record_reference",
                    f"the results named the record(s) {named}; the records database holds {transcript.records}",
                    results[-1][0],
                )
            )

    out.diagnostics = diagnostics(transcript, bank, dead, diffs)
    return out


def asks_in_a_row(transcript: Transcript) -> list[tuple[str | None, int]]:
    """For each turn: the question it asked (the bot's events when read, else as the user read
    it) and how many turns in a row that question has been asked."""
    out: list[tuple[str | None, int]] = []
    previous, times = None, 0
    for turn in transcript.turns:
        slot = turn.asked
        times = times + 1 if slot is not None and slot == previous else (1 if slot else 0)
        previous = slot
        out.append((slot, times))
    return out


def record_references(transcript: Transcript) -> list[str]:
    """The record references the bot's events set (``record_ref``), distinct, in order."""
    refs: list[str] = []
    for turn in transcript.turns:
        value = turn.events.slots.get("record_ref") if turn.events else None
        if value and value not in refs:
            refs.append(value)
    return refs


def collected_meaning(meant: dict, collected: set[str], transcript: Transcript) -> dict:
    """What the user meant, for the fields the bot collected, read with what the bot knew: a
    TNM at the oropharynx means every group it can be when the bot has no p16."""
    out = {k: meant.get(k, UNKNOWN) for k in collected}
    persona = transcript.plan.persona
    tnm = persona.said_tnm
    if (
        tnm is not None
        and "p16" not in collected
        and meant.get("stage") not in (None, UNKNOWN)
        and meant.get("tumor_site") in (persona.truth.get("tumor_site"),)
    ):
        if "stage" in out:
            out["stage"] = tnm_stage(tnm, meant["tumor_site"], UNKNOWN)
        if "stage_ajcc7" in out:
            out["stage_ajcc7"] = derived(meant, persona.voice, tnm, p16_known=False).get("stage_ajcc7", UNKNOWN)
    return out


def given_fields(transcript: Transcript) -> set[str]:
    """Fields the user stated (answers the bot moved on from, corrections, late answers)."""
    given: set[str] = set()
    before: str | None = None
    for turn in transcript.turns:
        message = turn.sent
        if (
            message.kind in ("answer", "button", "several", "wrong")
            and turn.asked != before
            or message.kind in ("correction", "late")
        ):
            given |= {k for k, v in message.claims.items() if v != "unknown"}
        before = turn.asked
    return given


def _first_text_key(turn: Turn) -> str:
    text = (turn.texts or ["(nothing)"])[0]
    return re.sub(r"\s+", " ", text)[:60]


def diagnostics(transcript: Transcript, bank: Bank, dead: list[Turn], diffs: dict) -> dict:
    given: set[str] = set()
    asked_again = []
    second_person = []
    relative_known = False
    before: str | None = None
    runs = asks_in_a_row(transcript)
    for turn, (asked, times) in zip(transcript.turns, runs):
        message = turn.sent
        # What the user said counts as given once the bot moved on (a refused answer is not given).
        if (
            message.kind in ("answer", "button", "several", "wrong", "dont_know", "skip")
            and asked != before
            or message.kind in ("correction", "late")
        ):
            given |= set(message.claims)
        before = asked
        if transcript.plan.persona.voice == "carer" and message.kind in ("opening", "answer", "several"):
            relative_known = True
        if asked and times == 1 and asked in given and turn.result is None:
            asked_again.append((turn.number, asked))
        # A relative asked with the patient's wording ("How old are you?") where the question has
        # a carer wording (read from the reply's words: questions.QuestionReader).
        read = turn.read
        if relative_known and read is not None and read.variant == "patient" and "carer" in read.kinds:
            question = " ".join(t for t in turn.texts if bank.is_question(t))
            second_person.append((turn.number, read.slot, question[:100]))
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
        "tracker_calls": transcript.tracker_calls,
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
    lines = [
        f"=== screening {plan.index} of seed {plan.seed} - sender {t.sender} - language {t.language}",
        f"who: {who}; stage said as {persona.stage_form}"
        + (f" {persona.tnm['text']!r}" if persona.tnm else "")
        + f"; history {persona.history}; "
        f"city {persona.location or 'skip'}",
        "plan: " + ", ".join(plan.perturbations),
        "meant: " + ", ".join(f"{k}={_value(v)}" for k, v in sorted(t.meant.items())),
    ]
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
                lines.append(
                    "          buttons: "
                    + " | ".join(f"{b.get('title')} -> {b.get('payload')}" for b in reply["buttons"])
                )
            custom = reply.get("custom")
            if isinstance(custom, dict) and custom.get("type") == "trial_matches":
                verdicts = ", ".join(f"{m['nct_id']} {m['verdict']}" for m in custom.get("matches", []))
                lines.append(f"     bot: <trial_matches: {verdicts}>")
                lines.append(
                    "          profile: "
                    + ", ".join(f"{k}={_value(v)}" for k, v in sorted((custom.get("profile") or {}).items()))
                )
            elif isinstance(custom, dict):
                lines.append(f"     bot: <custom {custom.get('type')}>")
        if not turn.replies:
            lines.append("     bot: (no reply)")
        events = f"; events: {', '.join(turn.events.questions) or 'no question'}" if turn.events else ""
        variant = f" [{turn.read.variant} wording]" if turn.read else ""
        lines.append(
            f"          -> asking: {turn.requested or '-'}"
            + (f" (x{turn.asks})" if turn.asks > 1 else "")
            + variant
            + events
        )
    lines.append(f"records for this conversation: {t.records}; {len(t.turns)} turns in {t.seconds:.1f} s")
    if outcome.failures:
        lines.append("FAILED:")
        lines += [f"  - {f}" for f in outcome.failures]
    d = outcome.diagnostics
    notes = []
    if d.get("asked_again_after_given"):
        notes.append(
            "asked again although already given: "
            + ", ".join(f"{s} (turn {n})" for n, s in d["asked_again_after_given"])
        )
    if d.get("second_person_to_relative"):
        notes.append(
            "relative asked in the second person: "
            + ", ".join(f"{s} (turn {n})" for n, s, _ in d["second_person_to_relative"])
        )
    if d.get("correction_ignored"):
        notes.append("correction not taken: " + ", ".join(d["correction_ignored"]))
    if d.get("lost_fields"):
        notes.append("given but missing from the bot's profile: " + ", ".join(d["lost_fields"]))
    if d.get("misread"):
        notes.append(
            "bot holds other values: " + ", ".join(f"{k} bot {v[0]} meant {v[1]}" for k, v in d["misread"].items())
        )
    if notes:
        lines.append("notes:")
        lines += [f"  - {n}" for n in notes]
    return "\n".join(lines)
