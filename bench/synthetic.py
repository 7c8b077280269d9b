"""Synthetic knowledge bases, for benchmarks only.

``generate(n, seed)`` yields ``n`` made-up trial records shaped like the real
ones in ``knowledge/trials`` (same schema, same kinds of rules, similar numbers
of criteria), so that the eligibility engine can be timed at 1k, 10k and 100k
trials. They are NOT trials and must never reach the real knowledge base:

- they are written only into separate database files (``build(n, db_path)``,
  e.g. ``bench/synthetic-*.db``), never into ``knowledge/trials`` or
  ``knowledge/trials.db``;
- every one is marked: nct_id ``NCT9xxxxxxx`` (real ids are far below
  NCT09000000 today), a title starting ``[SYNTHETIC] ``, a review source naming
  this file, example.org URLs, and ``record["_synthetic"] = True`` (the
  builder stores it in the ``trials.synthetic`` column).

The mix is meant to load the engine realistically: about 5% head-and-neck
trials (a few percent of oncology trials on ClinicalTrials.gov), the rest
spread over the other kinds of cancer with sites of their own kind. Output is
deterministic for a seed, and ``generate(n, seed)`` is a prefix of
``generate(m, seed)`` for ``n < m``.

Command line: ``python -m bench.synthetic N DB_PATH [--seed S]``.

It lives in bench/, not knowledge/, so that nothing of the clinical core (and no
knowledge base build: the Makefile rebuilds ``knowledge/trials.db`` when a
``knowledge/*.py`` changes) depends on it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

from knowledge import vocab

# Bump when the generator's output changes, so cached benchmark databases are rebuilt.
GENERATOR_VERSION = 1

HEAD_AND_NECK_SHARE = 0.05
SOURCE = "bench/synthetic.py (generated for benchmarks; not a real trial)"
TITLE_PREFIX = "[SYNTHETIC] "

# Relative weights of the other kinds of cancer (roughly their share of oncology trials).
# A kind of cancer missing here (added to sites.yaml later) gets weight 3.
_TYPE_WEIGHTS = {
    "lung": 15,
    "breast": 14,
    "haematological": 14,
    "colorectal": 8,
    "prostate": 7,
    "gynaecological": 7,
    "skin": 6,
    "brain": 5,
    "pancreas": 5,
    "other": 5,
    "liver": 4,
    "kidney": 4,
    "bladder": 4,
    "stomach": 4,
    "esophagus": 3,
}

_CONDITIONS = {
    "head_and_neck": "Head and Neck Squamous Cell Carcinoma",
    "nasopharynx": "Nasopharyngeal Carcinoma",
    "oropharynx": "Oropharyngeal Squamous Cell Carcinoma",
    "larynx": "Laryngeal Squamous Cell Carcinoma",
    "oral_cavity": "Oral Cavity Squamous Cell Carcinoma",
    "hypopharynx": "Hypopharyngeal Squamous Cell Carcinoma",
    "thyroid": "Thyroid Cancer",
    "salivary_gland": "Salivary Gland Carcinoma",
    "nasal_cavity_paranasal_sinuses": "Sinonasal Carcinoma",
    "lung": "Non-small Cell Lung Cancer",
    "breast": "Breast Cancer",
    "colorectal": "Colorectal Cancer",
    "prostate": "Prostate Cancer",
    "skin": "Melanoma",
    "esophagus": "Esophageal Cancer",
    "stomach": "Gastric Cancer",
    "pancreas": "Pancreatic Cancer",
    "liver": "Hepatocellular Carcinoma",
    "kidney": "Renal Cell Carcinoma",
    "bladder": "Urothelial Carcinoma",
    "cervix": "Cervical Cancer",
    "ovary": "Ovarian Cancer",
    "brain": "Glioblastoma",
    "blood": "Lymphoma",
    "other": "Solid Tumor",
}

# Real cities with their coordinates (the facilities are made up).
_CITIES = [
    ("Shanghai", "Shanghai Municipality", "China", 31.2304, 121.4737),
    ("Beijing", "Beijing Municipality", "China", 39.9042, 116.4074),
    ("Guangzhou", "Guangdong", "China", 23.1291, 113.2644),
    ("Chengdu", "Sichuan", "China", 30.5728, 104.0668),
    ("Hong Kong", None, "Hong Kong", 22.3193, 114.1694),
    ("Tokyo", None, "Japan", 35.6762, 139.6503),
    ("Seoul", None, "Korea, Republic of", 37.5665, 126.9780),
    ("Singapore", None, "Singapore", 1.3521, 103.8198),
    ("New York", "New York", "United States", 40.7128, -74.0060),
    ("Houston", "Texas", "United States", 29.7604, -95.3698),
    ("Boston", "Massachusetts", "United States", 42.3601, -71.0589),
    ("Toronto", "Ontario", "Canada", 43.6532, -79.3832),
    ("London", None, "United Kingdom", 51.5074, -0.1278),
    ("Paris", None, "France", 48.8566, 2.3522),
    ("Amsterdam", None, "Netherlands", 52.3676, 4.9041),
    ("Berlin", None, "Germany", 52.5200, 13.4050),
    ("Milan", "Lombardy", "Italy", 45.4642, 9.1900),
    ("Madrid", None, "Spain", 40.4168, -3.7038),
    ("Sydney", "New South Wales", "Australia", -33.8688, 151.2093),
    ("Sao Paulo", "Sao Paulo", "Brazil", -23.5505, -46.6333),
    ("Mumbai", "Maharashtra", "India", 19.0760, 72.8777),
]

_STUDY_TEAM = [
    (
        "labs",
        "Adequate bone marrow function: absolute neutrophil count ≥ 1,500/μL, platelets ≥ 100,000/μL, hemoglobin ≥ 9 g/dL.",
    ),
    ("labs", "Adequate renal function: serum creatinine ≤ 1.5 × ULN or creatinine clearance ≥ 50 mL/min."),
    ("labs", "Adequate liver function: total bilirubin ≤ 1.5 × ULN; AST and ALT ≤ 2.5 × ULN."),
    ("labs", "INR or prothrombin time ≤ 1.5 × ULN unless receiving anticoagulant therapy."),
    ("imaging", "At least one measurable lesion according to RECIST v1.1."),
    ("imaging", "No evidence of distant metastasis on baseline imaging."),
    ("investigator", "Life expectancy of at least 12 weeks."),
    ("investigator", "Able to tolerate the study treatment in the investigator's judgement."),
    ("investigator", "Any condition that, in the opinion of the investigator, would interfere with the study."),
    ("consent", "Willing and able to provide written informed consent and to comply with the study schedule."),
    ("consent", "Women of childbearing potential must agree to use effective contraception during the study."),
    ("medical history", "Active autoimmune disease requiring systemic treatment in the past 2 years."),
    ("medical history", "Known active central nervous system metastases or carcinomatous meningitis."),
    ("medical history", "History of interstitial lung disease or active non-infectious pneumonitis."),
    ("medical history", "Known HIV infection or active hepatitis B or C."),
    ("medical history", "Myocardial infarction or unstable angina within 6 months before enrolment."),
    ("medical history", "Known hypersensitivity to the study drug or its excipients."),
    ("medical history", "Major surgery within 4 weeks before the first dose of study treatment."),
]

_DRUGS = [
    "Pembrolizumab",
    "Nivolumab",
    "Toripalimab",
    "Camrelizumab",
    "Tislelizumab",
    "Durvalumab",
    "Cetuximab",
    "Cisplatin",
    "Docetaxel",
    "Nab-paclitaxel",
    "an Investigational Agent",
    "Adaptive Radiotherapy",
]
_DESIGNS = ["Neoadjuvant", "Adjuvant", "Induction", "Maintenance", "De-escalated", "Dose-escalation", "Randomised"]
_PHASES = ["PHASE1", "PHASE1/PHASE2", "PHASE2", "PHASE2", "PHASE2", "PHASE2/PHASE3", "PHASE3", "PHASE3", "NA"]
_STATUSES = ["RECRUITING"] * 6 + ["NOT_YET_RECRUITING"] * 2 + ["ACTIVE_NOT_RECRUITING", "ENROLLING_BY_INVITATION"]
_STAGES = vocab.field("stage").values  # "0", I, II, III, IVA, IVB, IVC
_IO = ["anti_pd1", "anti_pdl1", "immunotherapy_unspecified"]
_SITE_LABELS = {code: entry["label"] for code, entry in vocab.sites().items()}


def _nct_id(index: int, seed: int) -> str:
    """NCT9 + 7 digits, distinct for every index below 10**7 (a bijection mod 10**7)."""
    return f"NCT9{((index + seed * 1_000_003) * 7_654_321) % 10**7:07d}"


def _cancer_type(rng: random.Random) -> str:
    if rng.random() < HEAD_AND_NECK_SHARE:
        return "head_and_neck"
    others = [code for code in vocab.cancer_types() if code != "head_and_neck"]
    return rng.choices(others, weights=[_TYPE_WEIGHTS.get(code, 3) for code in others])[0]


def _sites_of(cancer_type: str) -> list[str]:
    return [code for code, entry in vocab.sites().items() if entry["cancer_type"] == cancer_type]


def _stage_range(rng: random.Random) -> list[str]:
    start = rng.choice([1, 1, 2, 3, 3, 3, 4, 6])
    end = min(len(_STAGES) - 1, start + rng.choice([0, 1, 1, 2, 2, 3]))
    return list(_STAGES[start : end + 1])


def _stage_words(stages: list[str]) -> str:
    return stages[0] if len(stages) == 1 else f"{stages[0]}-{stages[-1]}"


class _Criteria:
    """Builds one record's criteria list, keeping ids unique."""

    def __init__(self) -> None:
        self.items: list[dict] = []
        self.ids: list[str] = []

    def add(self, cid: str, field: str, kind: str, text: str, **rule) -> None:
        unique, k = cid, 2
        while unique in self.ids:
            unique, k = f"{cid}_{k}", k + 1
        self.ids.append(unique)
        self.items.append({"id": unique, "field": field, "kind": kind, **rule, "text": text})


def _head_and_neck_sites(rng: random.Random, c: _Criteria) -> list[str]:
    """The site criterion of a head-and-neck trial; returns the sites it allows."""
    roll = rng.random()
    if roll < 0.2:
        allowed = [s for s in _sites_of("head_and_neck") if s != "nasopharynx"]
        c.add(
            "site",
            "tumor_site",
            "inclusion",
            "Histologically confirmed squamous cell carcinoma of the head and neck, excluding nasopharyngeal carcinoma.",
            not_in=["nasopharynx"],
            **({"review_if": ["salivary_gland", "unknown_primary"]} if rng.random() < 0.4 else {}),
        )
        return allowed
    if roll < 0.35:
        c.add(
            "site", "tumor_site", "inclusion", "Histologically confirmed nasopharyngeal carcinoma.", in_=["nasopharynx"]
        )
        return ["nasopharynx"]
    if roll < 0.42:
        allowed = [rng.choice(["thyroid", "salivary_gland", "nasal_cavity_paranasal_sinuses", "unknown_primary"])]
    else:
        core = ["oral_cavity", "oropharynx", "hypopharynx", "larynx"]
        allowed = sorted(rng.sample(core, rng.randint(1, 4)), key=core.index)
        if rng.random() < 0.25:
            allowed.append("nasal_cavity_paranasal_sinuses")
    words = ", ".join(_SITE_LABELS[s].split(" (")[0] for s in allowed)
    extra = {}
    if len(allowed) > 1 and rng.random() < 0.2:
        extra["review_if"] = [allowed[-1]]
    c.add(
        "site",
        "tumor_site",
        "inclusion",
        f"Histologically or cytologically confirmed carcinoma of the {words}.",
        in_=allowed,
        **extra,
    )
    return allowed


def _stage_criteria(rng: random.Random, c: _Criteria, cancer_type: str, sites: list[str]) -> None:
    stages = _stage_range(rng)
    if cancer_type == "head_and_neck" and "oropharynx" in sites and len(sites) > 1 and rng.random() < 0.35:
        # As real trials do: another stage range for p16-positive oropharyngeal cancer (AJCC 8 downstages it).
        p16_stages = [s for s in stages if s in ("I", "II", "III")] or ["III"]
        c.add(
            "stage",
            "stage",
            "inclusion",
            f"AJCC 8th edition clinical stage {_stage_words(stages)}.",
            in_=stages,
            when={"tumor_site": {"not_in": ["oropharynx"]}},
        )
        c.add(
            "stage_oropharynx_p16_negative",
            "stage",
            "inclusion",
            f"Stage {_stage_words(stages)} for p16-negative oropharyngeal carcinoma.",
            in_=stages,
            when={"tumor_site": ["oropharynx"], "p16": ["negative"]},
        )
        c.add(
            "stage_oropharynx_p16_positive",
            "stage",
            "inclusion",
            f"Stage {_stage_words(p16_stages)} for p16-positive oropharyngeal carcinoma.",
            in_=p16_stages,
            when={"tumor_site": ["oropharynx"], "p16": ["positive"]},
        )
        return
    extra = {"review_if": [stages[-1]]} if len(stages) > 1 and rng.random() < 0.1 else {}
    c.add(
        "stage",
        "stage",
        "inclusion",
        f"Clinical stage {_stage_words(stages)} disease (AJCC 8th edition).",
        in_=stages,
        **extra,
    )


def _treatment_criteria(rng: random.Random, c: _Criteria) -> None:
    patterns = rng.sample(["naive", "post_io", "no_io", "combination", "pretreated", "no_rt"], rng.choice([1, 1, 2]))
    for pattern in patterns:
        if pattern == "naive":
            excluded = ["chemotherapy", "chemoradiotherapy", "radiotherapy", "anti_pd1", "anti_pdl1"]
            if rng.random() < 0.5:
                excluded.append("surgery")
            c.add(
                "treatment_naive",
                "prior_treatment",
                "exclusion",
                "Prior systemic therapy or radiotherapy for the current cancer.",
                excludes_any=excluded,
            )
        elif pattern == "post_io":
            c.add(
                "prior_immunotherapy",
                "prior_treatment",
                "inclusion",
                "Received prior anti-PD-1 or anti-PD-L1 immune checkpoint inhibitor therapy.",
                requires_any=_IO,
                review_if=["immunotherapy_unspecified"],
            )
            if rng.random() < 0.6:
                cycles = rng.choice([2, 4, 6, 8])
                c.add(
                    "immunotherapy_cycles",
                    "immunotherapy_cycles",
                    "inclusion",
                    f"No more than {cycles} cycles of immunotherapy.",
                    max=cycles,
                )
            if rng.random() < 0.7:
                responses = rng.choice([["CR", "PR"], ["CR", "PR", "SD"], ["PD"], ["SD", "PD"]])
                c.add(
                    "immunotherapy_response",
                    "immunotherapy_response",
                    "inclusion",
                    f"Best response to immunotherapy of {' or '.join(responses)} per RECIST 1.1.",
                    in_=responses,
                )
        elif pattern == "no_io":
            c.add(
                "no_prior_immunotherapy",
                "prior_treatment",
                "exclusion",
                "Prior treatment with an anti-PD-1, anti-PD-L1 or other immune checkpoint inhibitor.",
                excludes_any=_IO,
            )
        elif pattern == "combination":
            c.add(
                "no_prior_io_with_chemo",
                "prior_treatment",
                "exclusion",
                "Previously received PD-1/PD-L1 inhibitors combined with chemotherapy.",
                excludes_combination=[["anti_pd1", "anti_pdl1"], ["chemotherapy"]],
                **({"review_if": ["anti_pdl1"]} if rng.random() < 0.3 else {}),
            )
        elif pattern == "pretreated":
            c.add(
                "prior_platinum",
                "prior_treatment",
                "inclusion",
                "Disease progression after platinum-based chemotherapy or chemoradiotherapy.",
                requires_any=["chemotherapy", "chemoradiotherapy"],
            )
        else:
            c.add(
                "no_prior_radiotherapy",
                "prior_treatment",
                "exclusion",
                "Prior radiotherapy to the treatment area.",
                excludes_any=["radiotherapy", "chemoradiotherapy"],
            )


def _criteria(rng: random.Random, cancer_type: str) -> list[dict]:
    c = _Criteria()
    low = rng.choice([18] * 12 + [12, 16, 40])
    high = rng.choice([None, None, None, 65, 70, 75, 75, 80])
    c.add(
        "age",
        "age",
        "inclusion",
        f"Age {low} to {high} years." if high else f"Age ≥ {low} years.",
        min=low,
        **({"max": high} if high else {}),
    )
    if cancer_type == "head_and_neck":
        sites = _head_and_neck_sites(rng, c)
    else:
        sites = _sites_of(cancer_type)
        if sites:
            if len(sites) > 1 and rng.random() < 0.5:
                sites = [rng.choice(sites)]
            condition = " or ".join(_CONDITIONS.get(s, s) for s in sites)
            c.add("site", "tumor_site", "inclusion", f"Histologically confirmed {condition}.", in_=sites)
    _stage_criteria(rng, c, cancer_type, sites)
    ecog = rng.choice([1, 1, 1, 2])
    c.add("ecog", "ecog", "inclusion", f"ECOG performance status {'0-1' if ecog == 1 else '0-2'}.", max=ecog)
    _treatment_criteria(rng, c)
    optional: list[tuple] = []
    if cancer_type == "head_and_neck":
        if sites == ["nasopharynx"]:
            optional.append(
                (
                    "histology",
                    "histology",
                    "inclusion",
                    "Non-keratinizing or undifferentiated nasopharyngeal carcinoma.",
                    {"in_": ["nasopharyngeal_carcinoma"]},
                )
            )
        elif sites == ["salivary_gland"]:
            optional.append(
                (
                    "histology",
                    "histology",
                    "inclusion",
                    "Histologically confirmed salivary gland carcinoma.",
                    {"in_": ["salivary_carcinoma"]},
                )
            )
        elif rng.random() < 0.7:
            optional.append(
                (
                    "histology",
                    "histology",
                    "inclusion",
                    "Histologically confirmed squamous cell carcinoma.",
                    {"in_": ["squamous_cell_carcinoma"]},
                )
            )
        if sites == ["oropharynx"] and rng.random() < 0.6:
            p16 = rng.choice(["positive", "negative"])
            optional.append(
                (
                    "p16",
                    "p16",
                    "inclusion",
                    f"p16-{p16} (HPV-{'related' if p16 == 'positive' else 'unrelated'}) disease.",
                    {"in_": [p16]},
                )
            )
        elif "oropharynx" in sites and rng.random() < 0.2:
            optional.append(
                (
                    "p16_oropharynx",
                    "p16",
                    "inclusion",
                    "Oropharyngeal primaries must be p16-negative.",
                    {"in_": ["negative"], "when": {"tumor_site": ["oropharynx"]}},
                )
            )
        if rng.random() < 0.12:
            optional.append(
                (
                    "differentiation",
                    "differentiation",
                    "inclusion",
                    "Poorly differentiated carcinoma.",
                    {"in_": ["poor"], "review_if": ["undifferentiated"]},
                )
            )
    elif rng.random() < 0.3:
        histology = rng.choice(["adenocarcinoma", "squamous_cell_carcinoma", "other"])
        optional.append(
            (
                "histology",
                "histology",
                "inclusion",
                f"Histologically confirmed {histology.replace('_', ' ')}.",
                {"in_": [histology]},
            )
        )
    if rng.random() < 0.05:
        optional.append(
            (
                "pathologic_response",
                "pathologic_response",
                "inclusion",
                "Pathological complete or major response after neoadjuvant therapy.",
                {"in_": ["pCR", "MPR"]},
            )
        )
    if rng.random() < 0.2:
        value = rng.choice(["yes", "no"])
        optional.append(
            (
                "resectable",
                "resectable",
                "inclusion",
                "Resectable disease as assessed by the surgical team." if value == "yes" else "Unresectable disease.",
                {"in_": [value]},
            )
        )
    if rng.random() < 0.05:
        optional.append(
            (
                "resectable_review",
                "resectable",
                "inclusion",
                "Disease amenable to curative-intent local therapy.",
                {"needs_review": True},
            )
        )
    if rng.random() < 0.4:
        value = rng.choice(["yes", "no"])
        optional.append(
            (
                "recurrent",
                "recurrent",
                "inclusion" if value == "yes" else "exclusion",
                "Recurrent or metastatic disease not amenable to local therapy."
                if value == "yes"
                else "Recurrent disease.",
                {"in_": [value]},
            )
        )
    if rng.random() < 0.7:
        optional.append(("not_pregnant", "pregnant", "exclusion", "Pregnant or breastfeeding women.", {"in_": ["no"]}))
    if rng.random() < 0.6:
        optional.append(
            (
                "no_other_cancer",
                "other_cancer_5y",
                "exclusion",
                "Another malignancy within 5 years, except adequately treated non-melanoma skin cancer or carcinoma in situ.",
                {"in_": ["no"], **({"review_if": ["yes"]} if rng.random() < 0.5 else {})},
            )
        )
    sex = {"breast": "female", "gynaecological": "female", "prostate": "male"}.get(cancer_type)
    if sex and rng.random() < 0.9:
        optional.append(("sex", "sex", "inclusion", f"{sex.capitalize()} patients.", {"in_": [sex]}))
    for cid, field, kind, text, rule in optional[: max(0, 17 - len(c.items))]:
        c.add(cid, field, kind, text, **rule)
    n_team = max(3, min(rng.randint(3, 8), 20 - len(c.items)), 8 - len(c.items))
    criteria = [{("in" if k == "in_" else k): v for k, v in item.items()} for item in c.items]
    for topic, text in rng.sample(_STUDY_TEAM, n_team):
        criteria.append({"field": "study_team", "topic": topic, "text": text})
    return criteria


def _eligibility_text(criteria: list[dict]) -> str:
    def kind(c: dict) -> str:
        return c.get("kind") or ("exclusion" if c.get("topic") == "medical history" else "inclusion")

    inclusion = [c["text"] for c in criteria if kind(c) == "inclusion"]
    exclusion = [c["text"] for c in criteria if kind(c) == "exclusion"]
    lines = ["Inclusion Criteria:", ""] + [f"* {t}" for t in inclusion] + ["", "Exclusion Criteria:", ""]
    return "\n".join(lines + [f"* {t}" for t in exclusion]) + "\n"


def _record(rng: random.Random, index: int, seed: int) -> dict:
    nct_id = _nct_id(index, seed)
    cancer_type = _cancer_type(rng)
    criteria = _criteria(rng, cancer_type)
    site_rule = next((c for c in criteria if c["field"] == "tumor_site" and "in" in c), None)
    if cancer_type == "head_and_neck" and site_rule and len(site_rule["in"]) == 1:
        condition = _CONDITIONS.get(site_rule["in"][0], _CONDITIONS["head_and_neck"])
    elif cancer_type == "head_and_neck":
        condition = _CONDITIONS["head_and_neck"]
    elif site_rule:
        condition = " / ".join(_CONDITIONS.get(s, s) for s in site_rule["in"])
    else:
        condition = _CONDITIONS.get(cancer_type, vocab.cancer_types()[cancer_type]["label"].title())
    drug, design = rng.choice(_DRUGS), rng.choice(_DESIGNS)
    locations = []
    for city, province, country, lat, lon in rng.sample(_CITIES, rng.randint(1, 5)):
        loc = {
            "facility": f"{city} Cancer Centre (synthetic)",
            "city": city,
            "country": country,
            "status": "RECRUITING",
            "lat": lat,
            "lon": lon,
        }
        if province:
            loc["province"] = province
        locations.append(loc)
    record = {
        "nct_id": nct_id,
        "title": f"{TITLE_PREFIX}{design} {drug} in {condition} (synthetic study {index + 1})",
        "summary": (
            f"Generated for benchmarks, not a real study. A made-up {design.lower()} study of {drug} "
            f"in people with {condition.lower()}, shaped like a real registry record."
        ),
        "phase": rng.choice(_PHASES),
        "status": rng.choice(_STATUSES),
        "sponsor": f"Synthetic Oncology Group {rng.randint(1, 400)}",
        "enrollment": rng.randint(20, 800),
        "conditions": [condition],
        "cancer_type": cancer_type,
        "url": f"https://example.org/synthetic/{nct_id}",
        "criteria_completeness": "partial" if rng.random() < 0.15 else "full",
        "review": {"status": "reviewed", "sources": [SOURCE]},
        "contacts": "None: synthetic record generated for benchmarks",
        "locations": locations,
        "eligibility_text": _eligibility_text(criteria),
        "criteria": criteria,
        "_synthetic": True,
    }
    return record


def generate(n: int, seed: int = 0) -> Iterator[dict]:
    """``n`` synthetic trial records (deterministic for ``seed``); each passes ``records.check_record``."""
    if not 0 <= n <= 10**7:
        raise ValueError(f"n must be between 0 and 10**7, got {n}")
    rng = random.Random(seed)
    for index in range(n):
        yield _record(rng, index, seed)


def build(n: int, db_path: str | Path, seed: int = 0, progress: bool = True):
    """Write ``n`` synthetic trials into ``db_path`` (never the real knowledge base)."""
    from knowledge.build import build_database  # sqlite_utils / tqdm load only when building
    from knowledge.db import DB_PATH

    if Path(db_path).resolve() == Path(DB_PATH).resolve():
        raise ValueError(f"refusing to write synthetic trials into the real knowledge base {DB_PATH}")
    return build_database(generate(n, seed), db_path, progress=progress, total=n)


def main(argv: list[str] | None = None) -> None:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m bench.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="number of synthetic trials")
    parser.add_argument("db_path", type=Path, help="database file to write (not knowledge/trials.db)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    report = build(args.n, args.db_path, seed=args.seed, progress=not args.no_progress and sys.stderr.isatty())
    print(
        f"built {report.path}: {report.trials} synthetic trials, {report.criteria} criteria, {report.locations} locations"
    )


if __name__ == "__main__":
    main()
