"""Import ClinicalTrials.gov API v2 studies as source records (knowledge/trials schema).

An imported record carries the registry's facts and eligibility text verbatim,
the age/sex limits from the registry's structured fields, and the criteria the
parser (``knowledge.parse``) proposes from the text, with every bullet it could
not read kept as a "needs review" study_team criterion. It is marked
``review.status: unreviewed``, which the engine treats as never eligible: an
import makes a trial visible to reviewers, not to patients.

Input is what the API gives: one study (``GET /studies/{nct}``), a page
(``{"studies": [...]}``), a list of studies, or NDJSON with one study a line.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, TypeGuard

import yaml
from tqdm import tqdm

from . import parse, records, vocab

STUDY_URL = "https://clinicaltrials.gov/study/{nct}"
NO_CONTACTS = "See ClinicalTrials.gov"
NDJSON_SUFFIXES = (".ndjson", ".jsonl")

# Units of the registry's minimumAge / maximumAge ("18 Years", "6 Months"), in years.
_AGE_UNITS = {"year": 1, "month": 12, "week": 52, "day": 365, "hour": 365 * 24, "minute": 365 * 24 * 60}
_SEX = {"FEMALE": "female", "MALE": "male"}


# --- one study -> one record ------------------------------------------------------------


def record_from_study(study: dict) -> dict:
    """A source record for one API v2 study; raises ValueError if it has no NCT id or title.

    Missing optional registry fields get plain fallbacks rather than failing the
    import (a trial without a summary is still worth reviewing); the result
    always passes ``records.check_record``.
    """
    protocol = _get(study, "protocolSection")
    ident = _get(protocol, "identificationModule")
    nct = ident.get("nctId")
    if not isinstance(nct, str) or not re.fullmatch(r"NCT\d{8}", nct):
        raise ValueError(f"study has no valid identificationModule.nctId (got {nct!r})")
    title = (ident.get("briefTitle") or ident.get("officialTitle") or "").strip()
    if not title:
        raise ValueError(f"{nct}: identificationModule has no briefTitle or officialTitle")

    status = _get(protocol, "statusModule")
    sponsor = _get(_get(protocol, "sponsorCollaboratorsModule"), "leadSponsor")
    design = _get(protocol, "designModule")
    conditions_module = _get(protocol, "conditionsModule")
    eligibility = _get(protocol, "eligibilityModule")
    contacts_locations = _get(protocol, "contactsLocationsModule")

    conditions = [c for c in conditions_module.get("conditions") or [] if isinstance(c, str) and c.strip()]
    keywords = [k for k in conditions_module.get("keywords") or [] if isinstance(k, str) and k.strip()]
    text = eligibility.get("eligibilityCriteria") or ""

    record: dict[str, Any] = {"nct_id": nct, "title": title}
    if ident.get("officialTitle"):
        record["official_title"] = ident["officialTitle"]
    if ident.get("acronym"):
        record["acronym"] = ident["acronym"]
    record.update(
        {
            "summary": (_get(protocol, "descriptionModule").get("briefSummary") or "").strip()
            or "The registry record has no brief summary.",
            "phase": "/".join(design.get("phases") or []) or "NA",
            "status": status.get("overallStatus") or "UNKNOWN",
            "sponsor": (sponsor.get("name") or "").strip() or "Not given in the registry record",
        }
    )
    count = _get(design, "enrollmentInfo").get("count")
    if isinstance(count, int) and count >= 0:
        record["enrollment"] = count
    record.update(
        {
            "conditions": conditions or [title],
            "cancer_type": classify_cancer_type(conditions + keywords),
            "url": STUDY_URL.format(nct=nct),
            "criteria_completeness": "full",
            "review": {"status": "unreviewed", "sources": [f"ClinicalTrials.gov API v2 record {nct}"]},
            "contacts": _contacts(contacts_locations.get("centralContacts") or []),
            "locations": _locations(contacts_locations.get("locations") or []),
            "eligibility_text": text,
            "criteria": _criteria(eligibility, text),
        }
    )
    records.check_record(record, source=nct)
    return record


def _get(mapping: Any, key: str) -> dict:
    """``mapping[key]`` when it is a mapping, else {}: absent registry modules are normal."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, dict) else {}


def classify_cancer_type(words: Iterable[str]) -> str:
    """The kind of cancer named by conditions and keywords, by the vocabulary.

    Cancer-type words ("breast cancer", "HNSCC") and site words ("oropharyngeal")
    both count. Head and neck wins whenever it is named at all (a basket trial
    that takes head and neck patients is in this assistant's scope); otherwise
    the most often named kind, the first named on a tie; "other" if none.
    """
    type_terms = vocab.cancer_type_terms()
    site_terms = [(term, vocab.cancer_type_of(code)) for term, code in vocab.site_terms()]
    site_terms += [
        (term, "head_and_neck")
        for term, codes in vocab.ambiguous_site_terms()
        if all(vocab.cancer_type_of(c) == "head_and_neck" for c in codes)
    ]
    counts: dict[str, int] = {}
    for text in words:
        for *_, code in vocab.find_terms(text, type_terms):
            counts[code] = counts.get(code, 0) + 1
        for *_, code in vocab.find_terms(text, site_terms):
            counts[code] = counts.get(code, 0) + 1
    if not counts:
        return "other"
    if "head_and_neck" in counts:
        return "head_and_neck"
    return max(counts, key=lambda code: counts[code])  # max keeps the first of equals


def age_in_years(value: Any) -> float | int | None:
    """ "18 Years" -> 18, "6 Months" -> 0.5, "N/A" or absent -> None (no limit)."""
    if not isinstance(value, str):
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+?)s?\s*", value)
    if not m or m.group(2).lower() not in _AGE_UNITS:
        return None
    number = float(m.group(1))
    per_year = _AGE_UNITS[m.group(2).lower()]
    if per_year == 1:
        return int(number) if number.is_integer() else number
    return round(number / per_year, 2)


def _criteria(eligibility: dict, text: str) -> list[dict]:
    """Structured age/sex first, then the parser's proposals, then the bullets it left."""
    criteria: list[dict] = []
    low, high = age_in_years(eligibility.get("minimumAge")), age_in_years(eligibility.get("maximumAge"))
    parsed = parse.parse_criteria(text)
    proposals = parsed.criteria
    if low is not None or high is not None:
        words = [
            f"{label}: {eligibility[key]}"
            for label, key, value in (("Minimum age", "minimumAge", low), ("Maximum age", "maximumAge", high))
            if value is not None
        ]
        age: dict[str, Any] = {"field": "age", "kind": "inclusion"}
        if low is not None:
            age["min"] = low
        if high is not None:
            age["max"] = high
        age["text"] = "; ".join(words)
        # The registry's structured age is authoritative; a text that says otherwise is noted.
        text_ages = [c for c in proposals if c["field"] == "age"]
        differences = parse.compare(text_ages, [age]) if text_ages else []
        if differences:
            age = {
                **{k: v for k, v in age.items() if k != "text"},
                "note": f"The eligibility text reads {differences[0]['parsed']}; check.",
                "text": age["text"],
            }
        criteria.append(age)
        proposals = [c for c in proposals if c["field"] != "age"]
    sex = _SEX.get(str(eligibility.get("sex") or "ALL").upper())
    if sex:
        criteria.append({"field": "sex", "kind": "inclusion", "in": [sex], "text": f"Sex: {eligibility['sex']}"})
    criteria.extend(proposals)
    criteria.extend({"field": records.STUDY_TEAM, "topic": "needs review", "text": item} for item in parsed.unparsed)
    if not criteria:
        criteria.append(
            {
                "field": records.STUDY_TEAM,
                "topic": "needs review",
                "text": "The registry record gives no eligibility criteria.",
            }
        )
    return criteria


def _contacts(central: list) -> list[dict] | str:
    """Central contacts as name/role/phone/email, or a pointer to the registry when none."""
    contacts = []
    for person in central:
        if not isinstance(person, dict):
            continue
        contact = {key: str(person[key]).strip() for key in ("name", "role", "phone", "email") if person.get(key)}
        if contact.get("phone") and person.get("phoneExt"):
            contact["phone"] += f" ext. {person['phoneExt']}"
        if contact:
            contacts.append(contact)
    return contacts or NO_CONTACTS


def _locations(locations: list) -> list[dict]:
    """Sites with facility, city and country; others are dropped (a record must not fail on them)."""
    result = []
    for place in locations:
        if not isinstance(place, dict) or not all(
            isinstance(place.get(k), str) and place[k].strip() for k in ("facility", "city", "country")
        ):
            continue
        location = {"facility": place["facility"].strip(), "city": place["city"].strip()}
        if place.get("state"):
            location["province"] = str(place["state"])
        location["country"] = place["country"].strip()
        if place.get("status"):
            location["status"] = str(place["status"])
        point = place.get("geoPoint") or {}
        lat, lon = point.get("lat"), point.get("lon")
        if _is_number(lat) and _is_number(lon) and -90 <= lat <= 90 and -180 <= lon <= 180:
            location["lat"], location["lon"] = lat, lon
        result.append(location)
    return result


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- reading API output -----------------------------------------------------------------


def iter_studies(path: str | Path) -> Iterator[dict]:
    """Every study in a .json file (one study, a list, or an API page), an NDJSON/JSONL
    file (one study or page a line), or a folder of those (sorted by name).

    Raises ValueError naming the file (and line) for malformed input, and
    FileNotFoundError when the path does not exist.
    """
    for _, study in _located_studies(path):
        yield study


def _located_studies(path: str | Path) -> Iterator[tuple[str, dict]]:
    """(where, study) pairs: ``where`` names the file, line or item, for error messages."""
    path = Path(path)
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.is_file() and child.suffix.lower() in (".json", *NDJSON_SUFFIXES):
                yield from _located_studies(child)
        return
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix in NDJSON_SUFFIXES:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}: line {number}: not valid JSON: {e.msg} (column {e.colno})") from None
                yield from _studies_in(value, f"{path}: line {number}")
    elif suffix == ".json":
        try:
            with open(path, encoding="utf-8") as f:
                value = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 text: {e.reason}") from None
        yield from _studies_in(value, str(path))
    else:
        raise ValueError(f"{path}: not a .json, .ndjson or .jsonl file")


def _studies_in(value: Any, where: str) -> Iterator[tuple[str, dict]]:
    """The studies in one parsed JSON value: a study, a list of studies, or {"studies": [...]}."""
    if isinstance(value, dict) and "studies" in value and "protocolSection" not in value:
        value = value["studies"]
        if not isinstance(value, list):
            raise ValueError(f'{where}: "studies" must be a list, got {type(value).__name__}')
    items = value if isinstance(value, list) else [value]
    for i, study in enumerate(items):
        label = f"{where}: item {i + 1}" if isinstance(value, list) else where
        if not isinstance(study, dict):
            raise ValueError(f"{label}: expected a study object, got {type(study).__name__}")
        if not isinstance(study.get("protocolSection"), dict):
            raise ValueError(f"{label}: not an API v2 study (no protocolSection object)")
        yield label, study


# --- writing records ---------------------------------------------------------------------


class _RecordDumper(yaml.SafeDumper):
    """Safe YAML with multi-line text as literal blocks, so eligibility text reads as written."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RecordDumper.add_representer(str, _str_representer)


def dump_record(record: dict) -> str:
    return yaml.dump(record, Dumper=_RecordDumper, allow_unicode=True, sort_keys=False, width=110)


def write_record(record: dict, out_dir: Path) -> Path:
    """Write ``out_dir/<NCT>.yaml`` atomically (temp file + rename): no half-written records."""
    target = out_dir / f"{record['nct_id']}.yaml"
    fd, temp = tempfile.mkstemp(dir=out_dir, prefix=f".{record['nct_id']}.", suffix=".tmp")
    try:
        os.chmod(temp, 0o644)  # mkstemp makes it private; a record is an ordinary file
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("# Imported from ClinicalTrials.gov API v2; unreviewed: criteria are machine-proposed.\n")
            f.write(dump_record(record))
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def import_studies(path: str | Path, out_dir: str | Path, progress: bool = True) -> list[Path]:
    """Import every study under ``path`` into ``out_dir/<NCT>.yaml``; returns the written paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    # The caller decides (the CLI passes whether stderr is a terminal, or --progress).
    for where, study in tqdm(_located_studies(path), desc="importing studies", unit="study", disable=not progress):
        try:
            record = record_from_study(study)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        written.append(write_record(record, out_dir))
    return written
