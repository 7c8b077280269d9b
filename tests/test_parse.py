"""The spaCy criteria parser, on the two seed trials' real text and small cases."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from knowledge import parse, records

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRIALBOT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SEED_FILES = {"NCT06100497": "seeds/000_475c9f4210c5aa7f.txt", "NCT07320690": "seeds/004_259555e72bcb3a96.txt"}
HN_SITES = ["hypopharynx", "larynx", "oropharynx", "nasal_cavity_paranasal_sinuses"]


def seed_eligibility(nct: str) -> str:
    """The eligibility part of a seed page; else the verbatim copy in knowledge/trials/."""
    page = SHARED / SEED_FILES[nct]
    if page.exists():
        return _eligibility_part(page.read_text(encoding="utf-8"))
    record = REPO / "knowledge" / "trials" / f"{nct}.yaml"
    if record.exists():
        return yaml.safe_load(record.read_text(encoding="utf-8"))["eligibility_text"]
    pytest.skip(f"neither {page} (set TRIALBOT_SHARED) nor {record} is available")


def _eligibility_part(page: str) -> str:
    """From the "Inclusion Criteria" header to the last bullet of the exclusion section."""
    lines = page.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"\s*inclusion criteria:?\s*$", line, re.IGNORECASE))
    kept, in_exclusion = [], False
    for line in lines[start:]:
        stripped = line.strip()
        if re.match(r"exclusion criteria:?$", stripped, re.IGNORECASE):
            in_exclusion = True
        elif in_exclusion and stripped and not re.match(r"(?:[*\-]|\d+[.)])\s", stripped):
            break
        kept.append(line)
    return "\n".join(kept)


@pytest.fixture(scope="module")
def nct06100497() -> parse.ParseResult:
    return parse.parse_criteria(seed_eligibility("NCT06100497"))


@pytest.fixture(scope="module")
def nct07320690() -> parse.ParseResult:
    return parse.parse_criteria(seed_eligibility("NCT07320690"))


def rules(result: parse.ParseResult, field: str) -> list[dict]:
    return [c for c in result.criteria if c["field"] == field]


def only(result: parse.ParseResult, field: str, **match) -> dict:
    """The one criterion of ``field`` whose keys equal ``match``."""
    found = [c for c in rules(result, field) if all(c.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one {field} {match}, got {rules(result, field)}"
    return found[0]


def as_record(criteria: list[dict]) -> dict:
    """A minimal valid record around the criteria, for records.check_record."""
    return {
        "nct_id": "NCT00000000",
        "title": "t",
        "summary": "s",
        "phase": "NA",
        "status": "RECRUITING",
        "sponsor": "s",
        "conditions": ["c"],
        "cancer_type": "head_and_neck",
        "url": "https://example.org",
        "criteria_completeness": "full",
        "review": {"status": "unreviewed", "sources": ["test"]},
        "contacts": "none",
        "locations": [],
        "eligibility_text": "",
        "criteria": criteria,
    }


# --- NCT06100497 ----------------------------------------------------------------------------


def test_nct06100497_age_ecog_stage(nct06100497):
    assert only(nct06100497, "age")["min"] == 18 and "max" not in only(nct06100497, "age")
    assert only(nct06100497, "ecog")["max"] == 1 and "min" not in only(nct06100497, "ecog")
    stage = only(nct06100497, "stage")
    assert stage["in"] == ["III", "IVA", "IVB"] and "when" not in stage and stage["kind"] == "inclusion"


def test_nct06100497_sites(nct06100497):
    named = [c for c in rules(nct06100497, "tumor_site") if "in" in c]
    assert len(named) == 1
    included = named[0]
    assert sorted(included["in"]) == sorted(HN_SITES)  # "nasal cavity and sinus" is one site, not two
    only(nct06100497, "tumor_site", not_in=["nasopharynx"])
    assert included["text"].startswith("Patients with locally advanced (III-IVB)")


def test_nct06100497_exclusions(nct06100497):
    combination = only(nct06100497, "prior_treatment", kind="exclusion")
    assert combination["excludes_combination"] == [["anti_pd1", "anti_pdl1"], ["chemotherapy"]]
    other = only(nct06100497, "other_cancer_5y")
    assert other["in"] == ["no"] and other["kind"] == "exclusion"
    assert other["review_if"] == ["yes"]  # "Excluding stage 1 or 2 skin ... carcinoma"
    assert only(nct06100497, "pregnant", kind="exclusion")["in"] == ["no"]
    assert only(nct06100497, "differentiation")["in"] == ["poor"]


def test_nct06100497_other_cancer_bullet_gives_no_stage_or_site(nct06100497):
    """ "stage 1 or 2 skin ... carcinoma" describes the other cancer, not the trial's."""
    assert all(c["kind"] == "inclusion" for c in rules(nct06100497, "stage"))
    assert all(c["kind"] == "inclusion" for c in rules(nct06100497, "tumor_site"))


def test_nct06100497_future_treatment_is_not_history(nct06100497):
    """ "can receive ... PD-1/L1 monotherapy" is about the trial's treatment, not a prior one."""
    assert rules(nct06100497, "prior_treatment") == [only(nct06100497, "prior_treatment", kind="exclusion")]
    assert any(u.startswith("Patients who can receive systemic treatment") for u in nct06100497.unparsed)


def test_nct06100497_labs_are_unparsed(nct06100497):
    for start in (
        "Adequate bone marrow reserve",
        "Renal function:",
        "Liver function:",
        "Coagulation function:",
        "Screening EKG> 475 ms",
        "Ejection fraction <40%",
    ):
        assert any(u.startswith(start) for u in nct06100497.unparsed), start
    assert not any("\\>" in u or "\\<" in u for u in nct06100497.unparsed), "Markdown escapes must be undone"


# --- NCT07320690 ----------------------------------------------------------------------------


def test_nct07320690_ecog_and_sites(nct07320690):
    assert only(nct07320690, "ecog")["max"] == 1
    site = only(nct07320690, "tumor_site")
    assert site == {"field": "tumor_site", "kind": "inclusion", "not_in": ["nasopharynx"], "text": site["text"]}
    assert site["text"].startswith("Histologically confirmed primary squamous cell carcinoma of the head and neck")


def test_nct07320690_stage_per_site(nct07320690):
    stage = {repr(c.get("when")): c["in"] for c in rules(nct07320690, "stage")}
    assert stage == {
        repr({"tumor_site": {"not_in": ["oropharynx"]}}): ["III", "IVA"],
        repr({"tumor_site": ["oropharynx"], "p16": ["negative"]}): ["III", "IVA"],
        repr({"tumor_site": ["oropharynx"], "p16": ["positive"]}): ["III"],
    }
    # The p16 words of the stage bullet are conditions, not a p16 requirement.
    assert rules(nct07320690, "p16") == []


def test_nct07320690_prior_immunotherapy(nct07320690):
    required = only(nct07320690, "prior_treatment", kind="inclusion", excludes_any=None)
    assert "anti_pd1" in required["requires_any"]
    assert "chemotherapy" not in required["requires_any"]  # "with or without concurrent chemotherapy"
    assert "targeted" not in required["requires_any"]
    assert only(nct07320690, "immunotherapy_cycles")["max"] == 6  # "no more than six cycles"
    assert only(nct07320690, "immunotherapy_response")["in"] == ["CR", "PR"]


def test_nct07320690_no_prior_curative_treatment(nct07320690):
    ruled_out = only(nct07320690, "prior_treatment", requires_any=None)
    assert {"surgery", "radiotherapy"} <= set(ruled_out["excludes_any"])
    assert ruled_out["kind"] == "inclusion"
    assert ruled_out["text"] == "No prior curative surgery or radiotherapy for the current tumor."


def test_nct07320690_exclusions(nct07320690):
    recurrent = only(nct07320690, "recurrent")
    assert recurrent["in"] == ["no"] and recurrent["kind"] == "exclusion"
    assert only(nct07320690, "pregnant")["in"] == ["no"]
    assert only(nct07320690, "other_cancer_5y")["in"] == ["no"]


def test_nct07320690_unparsed(nct07320690):
    for start in (
        "Life expectancy of ≥6 months.",
        "Willing to undergo surgical treatment.",
        "No significant contraindications to surgery.",
        "History of psychiatric drug abuse",
    ):
        assert any(u.startswith(start) for u in nct07320690.unparsed), start


def test_nct07320690_agrees_with_reviewed_record_on_stage_and_ecog(nct07320690):
    reviewed = records.load_record(REPO / "knowledge" / "trials" / "NCT07320690.yaml")["criteria"]
    disagreements = {d["field"]: d for d in parse.compare(nct07320690.criteria, reviewed)}
    assert "stage" not in disagreements and "ecog" not in disagreements
    # The reviewer lists the head-and-neck sites; the parser only reads the exclusion.
    assert disagreements["tumor_site"]["parsed"] == "not_in nasopharynx"


@pytest.mark.parametrize("nct", sorted(SEED_FILES))
def test_seed_proposals_pass_the_record_checks(nct):
    text = seed_eligibility(nct)
    result = parse.parse_criteria(text)
    records.check_record(as_record(result.criteria))
    bullets = {item for _, item in parse.split_bullets(text)}
    for criterion in result.criteria:
        assert criterion["text"] in bullets  # the bullet it came from, verbatim
    assert not set(result.unparsed) & {c["text"] for c in result.criteria}


# --- small cases ------------------------------------------------------------------------------


def one_rule(text: str, field: str) -> dict:
    found = rules(parse.parse_criteria(text), field)
    assert len(found) == 1, f"{text!r}: expected one {field} rule, got {found}"
    return {k: v for k, v in found[0].items() if k not in ("field", "kind", "text", "note")}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Age ≥ 18 years", {"min": 18}),
        ("Age ≥18 years (or per national guidelines).", {"min": 18}),
        ("18 Years to 75 Years", {"min": 18, "max": 75}),
        ("Aged ≥ 18 years and ≤ 70 years", {"min": 18, "max": 70}),
        ("Age range from 18 to 75 years old", {"min": 18, "max": 75}),
        ("Patients aged 18-70", {"min": 18, "max": 70}),
        ("Men or women over 18", {"min": 18}),
        ("18 years of age or older", {"min": 18}),
        ("Age \\> eighteen years", {"min": 18}),
        ("Exclusion Criteria:\n* Age < 18 years or > 75 years", {"min": 18, "max": 75}),
    ],
)
def test_age_forms(text, expected):
    assert one_rule(text, "age") == expected


@pytest.mark.parametrize(
    "text",
    [
        "Life expectancy ≥ 12 weeks",
        "within 5 years of diagnosis",
        "Hemoglobin ≥ 9 g/dL",
        "Over 50% of waking hours in bed",
    ],
)
def test_numbers_that_are_not_ages(text):
    assert rules(parse.parse_criteria(text), "age") == []


def test_strict_age_bound_is_noted():
    criterion = only(parse.parse_criteria("Age > 18 years"), "age")
    assert criterion["min"] == 18 and "check the boundary" in criterion["note"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ECOG 0-1", {"max": 1}),
        ("ECOG (Eastern Cooperative Oncology Group) 0-1;", {"max": 1}),
        ("ECOG performance status of 0 or 1.", {"max": 1}),
        ("ECOG 0 to 2", {"max": 2}),
        ("ECOG score 0-1", {"max": 1}),
        ("ECOG performance status 0-1.", {"max": 1}),
        ("Eastern Cooperative Oncology Group (ECOG) performance status ≤ 1", {"max": 1}),
        ("ECOG 1-2", {"min": 1, "max": 2}),
        ("ECOG < 2", {"max": 1}),
        ("Exclusion Criteria:\n* ECOG ≥ 2", {"max": 1}),
        ("Karnofsky performance status ≥ 70", {"max": 1}),
    ],
)
def test_ecog_forms(text, expected):
    assert one_rule(text, "ecog") == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Patients with locally advanced (III-IVB) head and neck cancer", {"in": ["III", "IVA", "IVB"]}),
        ("Clinical stage III-IVa according to the AJCC 8th edition", {"in": ["III", "IVA"]}),
        (
            "Stage II (Stage IIA limited to max. 1000 patients) or Stage III early invasive cancer",
            {"in": ["II", "III"]},
        ),
        ("stage III-IV disease", {"in": ["III", "IVA", "IVB", "IVC"]}),
        ("Stage 3 or 4a", {"in": ["III", "IVA"]}),
        (
            "Exclusion Criteria:\n* Patients with Stage I or IV breast cancer are not eligible.",
            {"not_in": ["I", "IVA", "IVB", "IVC"]},
        ),
    ],
)
def test_stage_forms(text, expected):
    assert one_rule(text, "stage") == expected


def test_stage_per_site_with_p16():
    text = (
        "Clinical stage III-IVa; specifically, stage III-IVa for oropharyngeal squamous cell carcinoma "
        "(p16-negative) or stage III for oropharyngeal squamous cell carcinoma (p16-positive)."
    )
    result = parse.parse_criteria(text)
    assert [(c["in"], c["when"]) for c in rules(result, "stage")] == [
        (["III", "IVA"], {"tumor_site": {"not_in": ["oropharynx"]}}),
        (["III", "IVA"], {"tumor_site": ["oropharynx"], "p16": ["negative"]}),
        (["III"], {"tumor_site": ["oropharynx"], "p16": ["positive"]}),
    ]
    assert rules(result, "tumor_site") == []  # "for oropharyngeal" qualifies the stage only


def test_roman_numerals_without_staging_are_not_stages():
    assert rules(parse.parse_criteria("NYHA class II-IV heart failure"), "stage") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Carcinoma of the nasal cavity and sinus", {"in": ["nasal_cavity_paranasal_sinuses"]}),
        ("Carcinoma of the pyriform sinus", {"in": ["hypopharynx"]}),
        (
            "Squamous cell carcinoma of the head and neck (excluding nasopharyngeal carcinoma)",
            {"not_in": ["nasopharynx"]},
        ),
        ("Oral cavity cancer (tongue, floor of mouth)", {"in": ["oral_cavity"]}),
    ],
)
def test_site_forms(text, expected):
    assert one_rule(text, "tumor_site") == expected


@pytest.mark.parametrize(
    "text",
    [
        "Liver function: bilirubin ≤ 1.5 ULN",
        "Known active brain metastases from the tumor",
        "limitation of tongue resection to less than half",
        "Exclusion Criteria:\n* Other malignancies of the breast or skin within 5 years",
    ],
)
def test_sites_outside_the_diagnosis_are_not_read(text):
    assert rules(parse.parse_criteria(text), "tumor_site") == []


@pytest.mark.parametrize(
    "text, field, expected",
    [
        ("HPV or P16 (-)", "p16", {"in": ["negative"]}),
        ("p16-negative disease", "p16", {"in": ["negative"]}),
        ("Exclusion Criteria:\n* HPV-positive oropharyngeal cancer", "p16", {"not_in": ["positive"]}),
        ("Poorly differentiated carcinoma", "differentiation", {"in": ["poor"]}),
        ("Resectable disease", "resectable", {"in": ["yes"]}),
        ("Eligible for radical surgery, as judged by surgeons", "resectable", {"in": ["yes"]}),
        ("Unresectable disease", "resectable", {"in": ["no"]}),
        ("Exclusion Criteria:\n* Current tumor is recurrent.", "recurrent", {"in": ["no"]}),
        ("Exclusion Criteria:\n* Pregnant or breastfeeding", "pregnant", {"in": ["no"]}),
        ("Exclusion Criteria:\n* Other malignancies within 5 years", "other_cancer_5y", {"in": ["no"]}),
        ("Achieved complete response (CR) or partial response (PR)", "immunotherapy_response", {"in": ["CR", "PR"]}),
        ("Achieved pathological complete response (pCR)", "pathologic_response", {"in": ["pCR"]}),
        ("Received 2-4 cycles of PD-1 inhibitor", "immunotherapy_cycles", {"min": 2, "max": 4}),
    ],
)
def test_flag_and_category_forms(text, field, expected):
    assert one_rule(text, field) == expected


def test_pathologic_response_is_not_a_recist_response():
    assert rules(parse.parse_criteria("Achieved pathological complete response (pCR)"), "immunotherapy_response") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Exclusion Criteria:\n* Patients who have previously received PD-1/L1 combined chemotherapy drugs;",
            {"excludes_combination": [["anti_pd1", "anti_pdl1"], ["chemotherapy"]]},
        ),
        (
            "No prior curative surgery or radiotherapy for the current tumor.",
            {"excludes_any": ["surgery", "radiotherapy", "chemoradiotherapy"]},
        ),
        ("Exclusion Criteria:\n* Previous treatment with pembrolizumab or Opdivo", {"excludes_any": ["anti_pd1"]}),
        ("Received preoperative anti-PD-1 therapy, with or without chemotherapy", {"requires_any": ["anti_pd1"]}),
    ],
)
def test_prior_treatment_forms(text, expected):
    assert one_rule(text, "prior_treatment") == expected


@pytest.mark.parametrize(
    "text",
    [
        "Willing to undergo surgical treatment.",
        "Patients who can receive PD-1 therapy",
        "Patients who received radiotherapy must be after the last dose",
    ],
)
def test_treatment_that_is_not_history(text):
    result = parse.parse_criteria(text)
    assert rules(result, "prior_treatment") == [] and result.unparsed == [text]


def test_lab_bullets_are_unparsed():
    text = (
        "Inclusion Criteria:\n* Absolute neutrophil count ≥ 1,500/µL\n* Platelets ≥ 100,000/ mm3\n* Hemoglobin ≥ 10g/dL"
    )
    result = parse.parse_criteria(text)
    assert result.criteria == []
    assert result.unparsed == [
        "Absolute neutrophil count ≥ 1,500/µL",
        "Platelets ≥ 100,000/ mm3",
        "Hemoglobin ≥ 10g/dL",
    ]


def test_sections_bullets_and_escapes():
    text = (
        "INCLUSION CRITERIA:\n1. Age \\>= 18 years\n2) ECOG 0-1\n\nExclusion criteria\n- Pregnant women\n"
        "• Creatinine \\> 1.5 x ULN\nplain line without a marker"
    )
    assert parse.split_bullets(text) == [
        ("inclusion", "Age >= 18 years"),
        ("inclusion", "ECOG 0-1"),
        ("exclusion", "Pregnant women"),
        ("exclusion", "Creatinine > 1.5 x ULN"),
        ("exclusion", "plain line without a marker"),
    ]
    result = parse.parse_criteria(text)
    assert [(c["field"], c["kind"]) for c in result.criteria] == [
        ("age", "inclusion"),
        ("ecog", "inclusion"),
        ("pregnant", "exclusion"),
    ]
    assert result.unparsed == ["Creatinine > 1.5 x ULN", "plain line without a marker"]


def test_empty_text():
    assert parse.parse_criteria("") == parse.ParseResult([], [])


# --- compare -----------------------------------------------------------------------------------


def test_compare_identical_is_empty():
    criteria = parse.parse_criteria("Age 18-75 years\nECOG 0-1\nStage III-IVB\nCancer of the larynx").criteria
    assert len(criteria) == 4
    assert parse.compare(criteria, [dict(c) for c in reversed(criteria)]) == []


def test_compare_reports_disagreements():
    parsed = [
        {"field": "age", "min": 18, "text": "t"},
        {"field": "stage", "in": ["IVA", "III"], "text": "t"},
        {"field": "pregnant", "in": ["no"], "text": "t"},
        {"field": "study_team", "text": "labs"},
    ]
    reviewed = [
        {"field": "age", "min": 18, "max": 75, "text": "t"},
        {"field": "stage", "in": ["III", "IVA"], "text": "t"},
        {"field": "ecog", "max": 1, "text": "t"},
        {"field": "histology", "in": ["squamous_cell_carcinoma"], "text": "t"},
    ]
    assert parse.compare(parsed, reviewed) == [
        {"field": "age", "parsed": "min 18", "reviewed": "min 18 max 75"},
        {"field": "ecog", "parsed": None, "reviewed": "max 1"},
    ]  # stage agrees (code order does not matter); pregnant / histology are on one side only


def test_describe_reads_conditions():
    criterion = {"field": "stage", "in": ["III"], "when": {"tumor_site": ["oropharynx"], "p16": ["positive"]}}
    assert parse.describe(criterion) == "in III when p16 in positive and tumor_site in oropharynx"
