"""Results: which trials may fit, which do not, and why, in the trials' words.

Every screening ends with a readable summary and a machine-readable
``trial_matches`` message, even when nothing fits. The summary never says a
patient can take part: "likely fits" still goes to the study team.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
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


class ActionMatchTrials(Action):
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
        location = tracker.get_slot("location")
        origin = geo.city(location) if location and location != "unknown" else None
        payload = result_payload(profile, matches, origin)
        dispatcher.utter_message(text=self.summary(payload["matches"], matches))
        dispatcher.utter_message(json_message=payload)
        save_record(dispatcher, tracker, profile, matches)
        dispatcher.utter_message(response="utter_after_result")
        return [SlotSet("result_profile", profile)]

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


def _trial_ids(tracker: Tracker) -> List[str]:
    text = (tracker.latest_message or {}).get("text") or ""
    found = [m.upper() for m in NCT_PATTERN.findall(text)]
    entity = tracker.get_slot("nct_id")
    if not found and entity:
        found = [str(entity).upper()]
    return found


def _match_for(tracker: Tracker, nct_id: str) -> engine.TrialMatch | None:
    profile = tracker.get_slot("result_profile") or profile_from_tracker(tracker)
    return next(iter(engine.match(profile, scope=SCOPE, only=nct_id)), None)


class _TrialAction(Action, ABC):
    """An answer about one trial the user names by its NCT number (abstract: not registered)."""

    @guarded
    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        ids = _trial_ids(tracker)
        if not ids:
            dispatcher.utter_message(response="utter_ask_which_trial")
            return []
        try:
            text = self.answer(tracker, ids[0])
        except KnowledgeBaseError as e:
            logger.error("%s failed: %s", self.name(), type(e).__name__)
            dispatcher.utter_message(response=CANNOT_CHECK)
            return []
        if text is None:
            dispatcher.utter_message(response="utter_unknown_trial", nct_id=ids[0])
            return []
        dispatcher.utter_message(text=f"{text}\n\n{DISCLAIMER}")
        return [SlotSet("nct_id", ids[0])]

    @abstractmethod
    def answer(self, tracker: Tracker, nct_id: str) -> str | None:
        """The reply about ``nct_id``, or None when the trial is not in the knowledge base."""


class ActionTrialDetails(_TrialAction):
    """"Tell me more about NCT07320690": what it tests, where, how to take part."""

    def name(self) -> Text:
        return "action_trial_details"

    def answer(self, tracker: Tracker, nct_id: str) -> str | None:
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


class ActionWhyNot(_TrialAction):
    """"Why not NCT06100497?": the failed criteria, in the trial's own words."""

    def name(self) -> Text:
        return "action_why_not"

    def answer(self, tracker: Tracker, nct_id: str) -> str | None:
        match = _match_for(tracker, nct_id)
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
