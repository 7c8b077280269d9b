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

from knowledge import engine, geo, translation
from knowledge.db import KnowledgeBaseError

from . import language as languages
from . import messages
from .privacy import save_record
from .profile import SCOPE, profile_from_tracker
from .safety import CANNOT_CHECK, guarded
from .say import say

logger = logging.getLogger(__name__)

DISCLAIMER = messages.text("disclaimer")
HEADINGS = {
    "eligible": "Likely fits (the study team still confirms)",
    "uncertain": "Might fit: to check",
    "ineligible": "Does not fit",
}
NCT_PATTERN = re.compile(r"\bNCT\d{8}\b", re.IGNORECASE)
# Trials explained in full (reasons and sites) in one result; the next ones are listed with
# their exact verdicts (up to LISTED_IN_RESULT). Why: a knowledge base the size of the registry puts
# thousands of trials in scope, and explaining them all took seconds per result
# (docs/performance.md); the knowledge base this bot ships has far fewer.
EXPLAINED_IN_FULL = 20
# Trials listed in a result, best first: at registry scale (thousands in scope) the rest are
# counted by verdict, and "why not NCT…" explains any of them. Why: a result message of every
# trial in scope cost a second per screening and a chat no one can read.
LISTED_IN_RESULT = 200


def _quote(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    return "\u201c" + text + "\u201d"


def _trim(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


class Words:
    """How one result speaks: its language, and the Chinese texts of its trials (translations,
    marked 译文, always shown with the trial's English words beside them)."""

    def __init__(self, language: str = "en", translations: Dict[str, dict] | None = None):
        self.language = language
        self.translations = translations or {}

    def __call__(self, name: str, **values: Any) -> str:
        return messages.text(name, self.language, **values)

    def _zh(self, match: engine.TrialMatch) -> Dict[str, str]:
        criteria = (self.translations.get(match.nct_id) or {}).get("criteria") or {}
        return {c.text: criteria[c.id]["text_zh"] for c in match.criteria if c.id in criteria}

    def reason(self, match: engine.TrialMatch, text: str, limit: int = 220) -> str:
        """A criterion's words: the trial's own; in Chinese the translation (译文) with them beside."""
        zh = self._zh(match).get(text) if self.language == "zh" else None
        if zh:
            return self("translated", zh=_trim(zh, limit), text=_quote(text, limit))
        return _quote(text, limit)

    def title(self, match: engine.TrialMatch) -> str:
        zh = ((self.translations.get(match.nct_id) or {}).get("title") or {}).get("text_zh")
        if self.language == "zh" and zh:
            return f"{zh}（{'译文' if ((self.translations[match.nct_id]['title']).get('source') != 'official') else '官方中文标题'}；{match.title}）"
        return match.title


def _sites_line(sites: List[dict], words: Words | None = None) -> str:
    words = words or Words()
    parts = []
    for site in sites[:3]:
        city, country = (geo.label(site.get(k), words.language) if site.get(k) else None for k in ("city", "country"))
        where = ", ".join(p for p in (site.get("facility"), city, country) if p)
        if site.get("distance_km") is not None:
            where += words("km_away", km=f"{site['distance_km']:,}")
        parts.append(where)
    more = words("more_sites", n=len(sites) - 3) if len(sites) > 3 else ""
    return words("item_joiner").join(parts) + more


def summary_line(match: engine.TrialMatch, sites: List[dict], words: Words | None = None) -> str:
    """One trial's entry in the summary: verdict reasons in the trial's words."""
    words = words or Words()
    line = f"\u2022 {match.nct_id}: {words.title(match)}"
    if match.verdict == "ineligible":
        line += "\n  " + words("main_reason", reason=words.reason(match, match.not_met[0]))
    elif match.verdict == "uncertain":
        open_points = match.unknown
        items = words("item_joiner").join(words.reason(match, t, 140) for t in open_points[:3])
        line += "\n  " + words("to_check", n=len(open_points), items=items)
        if len(open_points) > 3:
            line += words("and_more", n=len(open_points) - 3)
    else:
        line += "\n  " + words("all_fit", n=len(match.study_team))
    if sites and match.verdict != "ineligible":
        line += "\n  " + words("where", sites=_sites_line(sites, words))
    return line


def result_payload(
    profile: dict,
    matches: List[engine.TrialMatch],
    origin: geo.City | None,
    words: Words | None = None,
    totals: Dict[str, int] | None = None,
) -> dict:
    """The ``trial_matches`` message: the trials listed, ineligible ones included, best first;
    ``not_listed`` counts by verdict the trials in scope beyond them (``totals``: all of them).

    Each trial also carries its Chinese texts where the record has them (``title_zh``,
    ``title_zh_source``, each criterion's ``text_zh`` and who translated them), so the
    cards can show them in either language; ``language`` is the conversation's."""
    words = words or Words()
    items = []
    for m in matches:
        item = m.to_dict()
        item["sites"] = geo.nearest_first(m.locations, origin)
        zh = words.translations.get(m.nct_id)
        if zh:
            title = zh.get("title") or {}
            if title:
                item["title_zh"], item["title_zh_source"] = title["text_zh"], title["source"]
            for c in item["criteria"]:
                text = (zh.get("criteria") or {}).get(c.get("id"))
                if text:
                    c["text_zh"] = text["text_zh"]
            first = title or next(iter((zh.get("criteria") or {}).values()), {})
            item["translation"] = {
                "translated_by": first.get("translated_by"),
                "reviewed": first.get("reviewed", False),
                "reviewer": first.get("reviewer"),
            }
        items.append(item)
    listed = {verdict: sum(1 for m in matches if m.verdict == verdict) for verdict in engine.VERDICT_ORDER}
    return {
        "type": "trial_matches",
        "profile": profile,
        "matches": items,
        "not_listed": {v: (totals or listed).get(v, 0) - n for v, n in listed.items()},
        "verdict_words": {v: words(f"verdict_{v}") for v in engine.VERDICT_ORDER},  # for any client
        "disclaimer": words("disclaimer"),
        "language": words.language,
    }


def verdict_changes(
    previous: Dict[str, str], matches: List[engine.TrialMatch], words: Words | None = None
) -> List[str]:
    """One line per trial whose verdict changed since the last result, with the reason in its words.

    "NCT07320690: might fit \u2192 does not fit, because \u201cNo prior curative surgery ...\u201d"
    """
    words = words or Words()
    lines = []
    for m in matches:
        old = previous.get(m.nct_id)
        if old is None or old == m.verdict:
            continue
        if m.verdict == "ineligible" and m.not_met:
            why = words("change_because", reason=words.reason(m, m.not_met[0], 160))
        elif m.verdict == "uncertain" and m.unknown:
            why = words("change_still", reason=words.reason(m, m.unknown[0], 160))
        else:
            why = ""
        lines.append(
            words("change_line", nct=m.nct_id, old=words(f"verdict_{old}"), new=words(f"verdict_{m.verdict}"), why=why)
        )
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
            return [
                AllSlotsReset(),
                SlotSet("role", tracker.get_slot("role")),
                SlotSet("language", tracker.get_slot("language")),
                SlotSet("greeted", tracker.get_slot("greeted")),
            ]
        profile = profile_from_tracker(tracker)
        try:
            matches = engine.match(profile, scope=SCOPE, explain=EXPLAINED_IN_FULL, limit=LISTED_IN_RESULT)
            totals = engine.verdict_counts(profile, scope=SCOPE)
            words = Words(languages.of(tracker), translation.for_trials(m.nct_id for m in matches if m.explained))
        except (KnowledgeBaseError, OSError, ValueError) as e:
            logger.error("matching failed: %s", type(e).__name__)
            dispatcher.utter_message(response=CANNOT_CHECK)
            return []
        previous = tracker.get_slot("result_verdicts")
        verdicts = {m.nct_id: m.verdict for m in matches}
        location = tracker.get_slot("location")
        if (
            isinstance(previous, dict)
            and profile == tracker.get_slot("result_profile")
            and location == tracker.get_slot("result_location")
        ):
            say(dispatcher, domain, tracker.slots, "utter_result_unchanged")
            say(dispatcher, domain, tracker.slots, "utter_after_result")
            return []
        if isinstance(previous, dict):
            changed = verdict_changes(previous, matches, words)
            say(
                dispatcher,
                domain,
                tracker.slots,
                "utter_result_updated" if changed else "utter_result_same_verdicts",
                changes="\n".join(changed),
            )
        origin = geo.origin(location)
        payload = result_payload(profile, matches, origin, words, totals)
        dispatcher.utter_message(text=self.summary(payload["matches"], matches, words, totals))
        dispatcher.utter_message(json_message=payload)
        ref = save_record(dispatcher, tracker, domain, profile, matches, ref=tracker.get_slot("record_ref"))
        say(dispatcher, domain, tracker.slots, "utter_after_result")
        return [
            SlotSet("result_profile", profile),
            SlotSet("result_verdicts", verdicts),
            SlotSet("result_location", location),
            SlotSet("record_ref", ref or tracker.get_slot("record_ref")),
            SlotSet("asked", None),
        ]

    @staticmethod
    def summary(
        items: List[dict],
        matches: List[engine.TrialMatch],
        words: Words | None = None,
        totals: Dict[str, int] | None = None,
    ) -> str:
        """The result in words: the explained trials by verdict, then how many more of each
        (``totals``: every trial in scope, listed or not; by default the listed ones)."""
        words = words or Words()
        if not matches:
            return words("no_trials") + " " + words("disclaimer")
        sections = []
        for verdict in HEADINGS:
            explained = [(m, item) for m, item in zip(matches, items) if m.verdict == verdict and m.explained]
            lines = [summary_line(m, item["sites"], words) for m, item in explained]
            brief = [m.nct_id for m in matches if m.verdict == verdict and not m.explained]
            more = (totals[verdict] - len(explained)) if totals is not None else len(brief)
            if more:
                lines.append(words("brief", n=f"{more:,}", ids=", ".join(brief[:3]) + (", …" if more > 3 else "")))
            if lines:
                sections.append(
                    f"{words('heading_' + verdict)}{'：' if words.language == 'zh' else ':'}\n" + "\n".join(lines)
                )
        if not any(m.verdict != "ineligible" for m in matches):
            sections.insert(0, words("none_fit"))
        return "\n\n".join(sections + [words("disclaimer")])


def trial_ids(tracker: Tracker) -> List[str]:
    """The NCT numbers the latest message names (or the last one the conversation named)."""
    text = (tracker.latest_message or {}).get("text") or ""
    found = [m.upper() for m in NCT_PATTERN.findall(text)]
    entity = next(
        (
            e.get("value")
            for e in (tracker.latest_message or {}).get("entities") or []
            if e.get("entity") == "nct_id" and e.get("value")
        ),
        None,
    )
    if not found and entity:
        found = [str(entity).upper()]
    return found


def details_text(nct_id: str, language: str | None = "en") -> str | None:
    """ "Tell me more about NCT07320690": what it tests, where, how to take part (None: not known).
    In Chinese, the title and summary are translations (marked 译文) with the English after them."""
    trial = engine.show(nct_id)
    if trial is None:
        return None
    words = Words(language or "en", translation.for_trials([nct_id]))
    contacts = trial["contacts"]
    how = (
        contacts
        if isinstance(contacts, str)
        else "; ".join(", ".join(v for v in (c.get("name"), c.get("phone"), c.get("email")) if v) for c in contacts)
    )
    sites = "; ".join(
        ", ".join(
            p
            for p in (s["facility"], geo.label(s["city"], words.language), geo.label(s["country"], words.language))
            if p
        )
        for s in trial["locations"][:5]
    ) or ("未列出" if words.language == "zh" else "not listed")
    partial = words("details_partial") if trial["criteria_completeness"] == "partial" else ""
    title, summary = trial["title"], trial["summary"]
    zh = words.translations.get(nct_id) or {}
    if words.language == "zh":
        if zh.get("title"):
            title = f"{zh['title']['text_zh']}（{'官方中文标题' if zh['title']['source'] == 'official' else '译文'}；{title}）"
        if zh.get("summary"):
            summary = f"{zh['summary']['text_zh']}（译文）\n{summary}"
    return words(
        "details",
        nct=trial["nct_id"],
        title=title,
        phase=trial["phase"],
        status=trial["status"],
        sponsor=trial["sponsor"],
        summary=summary,
        sites=sites,
        how=how,
        url=trial["url"],
        partial=partial,
    )


def why_not_text(profile: dict, nct_id: str, language: str | None = "en") -> str | None:
    """ "Why not NCT06100497?": the failed or open criteria, in the trial's own words (None: not known)."""
    match = next(iter(engine.match(profile, scope=SCOPE, only=nct_id)), None)
    if match is None:
        return None
    words = Words(language or "en", translation.for_trials([nct_id]))
    if match.verdict == "ineligible":
        reasons = "\n".join(f"\u2022 {words.reason(match, t, 400)}" for t in match.not_met)
        return words("why_not_ineligible", nct=match.nct_id, reasons=reasons)
    if match.verdict == "uncertain":
        reasons = "\n".join(f"\u2022 {words.reason(match, t, 400)}" for t in match.unknown)
        return words("why_not_uncertain", nct=match.nct_id, reasons=reasons)
    return words("why_not_eligible", nct=match.nct_id, n=len(match.study_team))
