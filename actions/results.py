"""Results: which trials may fit, which do not, and why, in the trials' words.

Every screening ends with a readable summary and a machine-readable
``trial_matches`` message, even when nothing fits. The summary never says a
patient can take part: "likely fits" still goes to the study team.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from knowledge import engine, geo
from knowledge.db import KnowledgeBaseError

from .privacy import save_record
from .profile import SCOPE, profile_from_tracker
from .safety import CANNOT_CHECK, guarded
from .say import say

logger = logging.getLogger(__name__)

DISCLAIMER = "This is a pre-screen, not medical advice: only the study team can confirm eligibility."
HEADINGS = {
    "eligible": "Likely fits (the study team still confirms)",
    "uncertain": "Might fit: to check",
    "ineligible": "Does not fit",
}
NCT_PATTERN = re.compile(r"\bNCT\d{8}\b", re.IGNORECASE)
# Trials explained in full (reasons and sites) in one result; every other trial in scope is
# still listed with its exact verdict. Why: a knowledge base the size of the registry puts
# thousands of trials in scope, and explaining them all took seconds per result
# (docs/performance.md); the knowledge base this bot ships has far fewer.
EXPLAINED_IN_FULL = 20


def _quote(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    return "\u201c" + text + "\u201d"


def _sites_line(sites: List[dict]) -> str:
    parts = []
    for site in sites[:3]:
        where = ", ".join(p for p in (site.get("facility"), site.get("city"), site.get("country")) if p)
        if site.get("distance_km") is not None:
            where += f" (about {site['distance_km']:,} km away)"
        parts.append(where)
    more = f" and {len(sites) - 3} more" if len(sites) > 3 else ""
    return "; ".join(parts) + more


def summary_line(match: engine.TrialMatch, sites: List[dict]) -> str:
    """One trial's entry in the summary: verdict reasons in the trial's words."""
    line = f"\u2022 {match.nct_id}: {match.title}"
    if match.verdict == "ineligible":
        line += f"\n  Main reason: {_quote(match.not_met[0])}"
    elif match.verdict == "uncertain":
        open_points = match.unknown
        line += f"\n  To check ({len(open_points)}): " + "; ".join(_quote(t, 140) for t in open_points[:3])
        if len(open_points) > 3:
            line += f"; and {len(open_points) - 3} more"
    else:
        line += f"\n  Every pre-screening question fits; the study team checks {len(match.study_team)} more criteria."
    if sites and match.verdict != "ineligible":
        line += f"\n  Where: {_sites_line(sites)}"
    return line


def result_payload(profile: dict, matches: List[engine.TrialMatch], origin: geo.City | None) -> dict:
    """The ``trial_matches`` message: every trial in scope, ineligible ones included."""
    items = []
    for m in matches:
        item = m.to_dict()
        item["sites"] = geo.nearest_first(m.locations, origin)
        items.append(item)
    return {"type": "trial_matches", "profile": profile, "matches": items, "disclaimer": DISCLAIMER}


VERDICT_WORDS = {"eligible": "likely fits", "uncertain": "might fit", "ineligible": "does not fit"}


def verdict_changes(previous: Dict[str, str], matches: List[engine.TrialMatch]) -> List[str]:
    """One line per trial whose verdict changed since the last result, with the reason in its words.

    "NCT07320690: might fit \u2192 does not fit, because \u201cNo prior curative surgery ...\u201d"
    """
    lines = []
    for m in matches:
        old = previous.get(m.nct_id)
        if old is None or old == m.verdict:
            continue
        if m.verdict == "ineligible" and m.not_met:
            why = f", because {_quote(m.not_met[0], 160)}"
        elif m.verdict == "uncertain" and m.unknown:
            why = f": still to check {_quote(m.unknown[0], 160)}"
        else:
            why = ""
        lines.append(f"{m.nct_id}: {VERDICT_WORDS[old]} \u2192 {VERDICT_WORDS[m.verdict]}{why}")
    return lines


class ActionMatchTrials(Action):
    """The result of a screening, and the same screening's updated result after a late answer.

    The first result is saved as a record whose reference the person is given.
    Any later result of the same screening (a correction, a late answer, a
    recurrence mentioned afterwards) says in one line per trial what changed,
    shows the updated result and updates that record: one screening, one record.
    """

    def name(self) -> Text:
        return "action_match_trials"

    @guarded
    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        if tracker.get_slot("consent") is not True:
            return [AllSlotsReset(), SlotSet("role", tracker.get_slot("role"))]
        profile = profile_from_tracker(tracker)
        try:
            matches = engine.match(profile, scope=SCOPE, explain=EXPLAINED_IN_FULL)
        except (KnowledgeBaseError, OSError, ValueError) as e:
            logger.error("matching failed: %s", type(e).__name__)
            dispatcher.utter_message(response=CANNOT_CHECK)
            return []
        previous = tracker.get_slot("result_verdicts")
        verdicts = {m.nct_id: m.verdict for m in matches}
        location = tracker.get_slot("location")
        if isinstance(previous, dict) and profile == tracker.get_slot("result_profile") \
                and location == tracker.get_slot("result_location"):
            say(dispatcher, domain, tracker.slots, "utter_result_unchanged")
            say(dispatcher, domain, tracker.slots, "utter_after_result")
            return []
        if isinstance(previous, dict):
            changed = verdict_changes(previous, matches)
            say(dispatcher, domain, tracker.slots, "utter_result_updated" if changed else "utter_result_same_verdicts",
                changes="\n".join(changed))
        origin = geo.origin(location)
        payload = result_payload(profile, matches, origin)
        dispatcher.utter_message(text=self.summary(payload["matches"], matches))
        dispatcher.utter_message(json_message=payload)
        ref = save_record(dispatcher, tracker, domain, profile, matches, ref=tracker.get_slot("record_ref"))
        say(dispatcher, domain, tracker.slots, "utter_after_result")
        return [SlotSet("result_profile", profile), SlotSet("result_verdicts", verdicts), SlotSet("result_location", location),
                SlotSet("record_ref", ref or tracker.get_slot("record_ref")), SlotSet("asked", None)]

    @staticmethod
    def summary(items: List[dict], matches: List[engine.TrialMatch]) -> str:
        if not matches:
            return "I have no trials for this kind of cancer. " + DISCLAIMER
        sections = []
        for verdict, heading in HEADINGS.items():
            lines = [summary_line(m, item["sites"]) for m, item in zip(matches, items)
                     if m.verdict == verdict and m.explained]
            brief = [m.nct_id for m in matches if m.verdict == verdict and not m.explained]
            if brief:
                lines.append(f"\u2022 and {len(brief):,} more ({', '.join(brief[:3])}"
                             f"{', …' if len(brief) > 3 else ''}): ask \"why not\" or \"tell me more about\" "
                             "a trial's NCT number for its reasons")
            if lines:
                sections.append(f"{heading}:\n" + "\n".join(lines))
        if not any(m.verdict != "ineligible" for m in matches):
            sections.insert(0, "From your answers, none of the trials I know fit at the moment.")
        return "\n\n".join(sections + [DISCLAIMER])


def trial_ids(tracker: Tracker) -> List[str]:
    """The NCT numbers the latest message names (or the last one the conversation named)."""
    text = (tracker.latest_message or {}).get("text") or ""
    found = [m.upper() for m in NCT_PATTERN.findall(text)]
    entity = next((e.get("value") for e in (tracker.latest_message or {}).get("entities") or []
                   if e.get("entity") == "nct_id" and e.get("value")), None)
    if not found and entity:
        found = [str(entity).upper()]
    return found


def details_text(nct_id: str) -> str | None:
    """"Tell me more about NCT07320690": what it tests, where, how to take part (None: not known)."""
    trial = engine.show(nct_id)
    if trial is None:
        return None
    contacts = trial["contacts"]
    how = contacts if isinstance(contacts, str) else "; ".join(
        ", ".join(v for v in (c.get("name"), c.get("phone"), c.get("email")) if v) for c in contacts)
    sites = "; ".join(f"{s['facility']}, {s['city']}, {s['country']}" for s in trial["locations"][:5]) or "not listed"
    partial = "\nOnly part of its eligibility criteria is known here." if trial["criteria_completeness"] == "partial" else ""
    return (
        f"{trial['nct_id']}: {trial['title']}\n"
        f"{trial['phase']} \u00b7 {trial['status']} \u00b7 {trial['sponsor']}\n\n"
        f"What it studies: {trial['summary']}\n\n"
        f"Where: {sites}\n"
        f"How to take part: talk to your care team, and contact the study team ({how}). "
        f"Details: {trial['url']}{partial}"
    )


def why_not_text(profile: dict, nct_id: str) -> str | None:
    """"Why not NCT06100497?": the failed or open criteria, in the trial's own words (None: not known)."""
    match = next(iter(engine.match(profile, scope=SCOPE, only=nct_id)), None)
    if match is None:
        return None
    if match.verdict == "ineligible":
        reasons = "\n".join(f"\u2022 {_quote(t, 400)}" for t in match.not_met)
        return f"{match.nct_id} does not fit because of these criteria, in the trial's own words:\n{reasons}"
    if match.verdict == "uncertain":
        reasons = "\n".join(f"\u2022 {_quote(t, 400)}" for t in match.unknown)
        return (f"{match.nct_id} has not been ruled out. These criteria could not be settled from your "
                f"answers, so the study team would check them:\n{reasons}")
    return (f"{match.nct_id} is not ruled out: every pre-screening criterion fits your answers. "
            f"The study team still checks {len(match.study_team)} other criteria.")
