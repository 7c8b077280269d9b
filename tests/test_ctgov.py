"""The ClinicalTrials.gov API v2 importer, on a real registry record and small made-up studies."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from knowledge import ctgov, records

SHARED = Path(os.environ.get("TRIALBOT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
REAL_STUDY = SHARED / "ctgov" / "NCT02513394.json"


@pytest.fixture(scope="module")
def real_study() -> dict:
    if not REAL_STUDY.exists():
        pytest.skip(f"the real API v2 record {REAL_STUDY} is missing (set TRIALBOT_SHARED to the shared folder)")
    return json.loads(REAL_STUDY.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def real_record(real_study) -> dict:
    return ctgov.record_from_study(real_study)


def renamed(study: dict, nct: str) -> dict:
    """A copy of a study under another NCT id (for multi-study files)."""
    study = copy.deepcopy(study)
    study["protocolSection"]["identificationModule"]["nctId"] = nct
    return study


def small_study(nct: str = "NCT00000001", **eligibility) -> dict:
    """A minimal head-and-neck study, with the eligibility module given."""
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct, "briefTitle": "Toripalimab before surgery in oral cavity cancer"},
            "statusModule": {"overallStatus": "RECRUITING"},
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": "A Hospital"}},
            "descriptionModule": {"briefSummary": "A study."},
            "conditionsModule": {"conditions": ["Oral Cavity Squamous Cell Carcinoma"]},
            "designModule": {"phases": ["PHASE2", "PHASE3"], "enrollmentInfo": {"count": 40}},
            "eligibilityModule": eligibility,
            "contactsLocationsModule": {
                "centralContacts": [
                    {"name": "Dr A", "role": "CONTACT", "phone": "123", "phoneExt": "9", "email": "a@b.org"}
                ],
                "locations": [
                    {
                        "facility": "Hospital One",
                        "city": "Beijing",
                        "state": "Beijing Municipality",
                        "country": "China",
                        "status": "RECRUITING",
                        "geoPoint": {"lat": 39.9, "lon": 116.4},
                    },
                    {"facility": "No City Clinic", "country": "China"},
                    {"city": "Shanghai", "country": "China"},
                ],
            },
        }
    }


# --- the real record ------------------------------------------------------------------------------


def test_real_record_registry_facts(real_record):
    assert real_record["nct_id"] == "NCT02513394"
    assert real_record["title"] == "PALbociclib CoLlaborative Adjuvant Study"
    assert real_record["acronym"] == "PALLAS"
    assert real_record["status"] == "ACTIVE_NOT_RECRUITING"
    assert real_record["phase"] == "PHASE3"
    assert real_record["enrollment"] == 5796
    assert real_record["sponsor"] == "Alliance Foundation Trials, LLC."
    assert real_record["url"] == "https://clinicaltrials.gov/study/NCT02513394"
    assert real_record["cancer_type"] == "breast"
    assert real_record["review"] == {
        "status": "unreviewed",
        "sources": ["ClinicalTrials.gov API v2 record NCT02513394"],
    }
    assert real_record["contacts"] == "See ClinicalTrials.gov"  # the record has no central contacts
    records.check_record(real_record)


def test_real_record_eligibility(real_study, real_record):
    assert real_record["eligibility_text"] == real_study["protocolSection"]["eligibilityModule"]["eligibilityCriteria"]
    ages = [c for c in real_record["criteria"] if c["field"] == "age"]
    assert ages == [{"field": "age", "kind": "inclusion", "min": 18, "text": "Minimum age: 18 Years"}]  # no maximum
    assert not any(c["field"] == "sex" for c in real_record["criteria"])  # sex ALL
    ecog = [c for c in real_record["criteria"] if c["field"] == "ecog"]
    assert [(c["max"], c["text"]) for c in ecog] == [(1, "ECOG performance status 0-1.")]
    stage = {tuple(c.get("in", c.get("not_in"))): c["kind"] for c in real_record["criteria"] if c["field"] == "stage"}
    assert stage == {("II", "III"): "inclusion", ("I", "IVA", "IVB", "IVC"): "exclusion"}
    review = [c for c in real_record["criteria"] if c["field"] == "study_team"]
    assert all(c["topic"] == "needs review" for c in review)
    assert any(c["text"].startswith("Absolute neutrophil count") for c in review)


def test_real_record_locations(real_record):
    located = [loc for loc in real_record["locations"] if "lat" in loc and "lon" in loc]
    assert len(located) > 400
    first = real_record["locations"][0]
    assert first == {
        "facility": "University of South Alabama Mitchell Cancer Institute",
        "city": "Mobile",
        "province": "Alabama",
        "country": "United States",
        "lat": 30.69436,
        "lon": -88.04305,
    }


# --- made-up studies: structured fields -------------------------------------------------------------


def test_small_study_fields():
    record = ctgov.record_from_study(
        small_study(
            minimumAge="6 Months",
            maximumAge="75 Years",
            sex="FEMALE",
            eligibilityCriteria="Inclusion Criteria:\n* ECOG 0-1",
        )
    )
    records.check_record(record)
    assert record["phase"] == "PHASE2/PHASE3" and record["enrollment"] == 40
    assert record["cancer_type"] == "head_and_neck"
    assert record["criteria"][:3] == [
        {
            "field": "age",
            "kind": "inclusion",
            "min": 0.5,
            "max": 75,
            "text": "Minimum age: 6 Months; Maximum age: 75 Years",
        },
        {"field": "sex", "kind": "inclusion", "in": ["female"], "text": "Sex: FEMALE"},
        {"field": "ecog", "kind": "inclusion", "max": 1, "text": "ECOG 0-1"},
    ]
    assert record["contacts"] == [{"name": "Dr A", "role": "CONTACT", "phone": "123 ext. 9", "email": "a@b.org"}]
    assert record["locations"] == [
        {
            "facility": "Hospital One",
            "city": "Beijing",
            "province": "Beijing Municipality",
            "country": "China",
            "status": "RECRUITING",
            "lat": 39.9,
            "lon": 116.4,
        }
    ]


def test_structured_age_wins_and_a_different_text_age_is_noted():
    record = ctgov.record_from_study(
        small_study(minimumAge="18 Years", eligibilityCriteria="Inclusion Criteria:\n* Aged 18-70 years")
    )
    ages = [c for c in record["criteria"] if c["field"] == "age"]
    assert len(ages) == 1 and ages[0]["min"] == 18 and "max" not in ages[0]
    assert "min 18 max 70" in ages[0]["note"]


def test_text_age_is_kept_without_structured_age():
    record = ctgov.record_from_study(small_study(eligibilityCriteria="* Age ≥ 18 years"))
    assert [c["min"] for c in record["criteria"] if c["field"] == "age"] == [18]


def test_missing_optional_modules_fall_back():
    study = {"protocolSection": {"identificationModule": {"nctId": "NCT00000002", "briefTitle": "Bare study"}}}
    record = ctgov.record_from_study(study)
    records.check_record(record)
    assert record["phase"] == "NA" and record["cancer_type"] == "other" and record["locations"] == []
    assert record["criteria"][0]["field"] == "study_team"  # something for the reviewer, never an empty list


def test_missing_nct_id_is_an_error():
    with pytest.raises(ValueError, match="nctId"):
        ctgov.record_from_study({"protocolSection": {"identificationModule": {"briefTitle": "x"}}})


@pytest.mark.parametrize(
    "value, years", [("18 Years", 18), ("6 Months", 0.5), ("2 Weeks", 0.04), ("1 Year", 1), ("N/A", None), (None, None)]
)
def test_age_in_years(value, years):
    assert ctgov.age_in_years(value) == years


@pytest.mark.parametrize(
    "words, expected",
    [
        (["Breast Cancer", "HR+/HER2- breast cancer"], "breast"),
        (["Head and Neck Squamous Cell Carcinoma"], "head_and_neck"),
        (["Laryngeal Neoplasms"], "head_and_neck"),
        (["Solid tumours", "Lung Cancer", "HNSCC"], "head_and_neck"),
        (["Healthy volunteers"], "other"),
    ],
)
def test_classify_cancer_type(words, expected):
    assert ctgov.classify_cancer_type(words) == expected


# --- reading files -----------------------------------------------------------------------------------


def test_iter_studies_on_a_folder(tmp_path, real_study):
    (tmp_path / "a.json").write_text(json.dumps(real_study), encoding="utf-8")
    lines = [json.dumps(renamed(real_study, "NCT00000011")), "", json.dumps(renamed(real_study, "NCT00000012"))]
    (tmp_path / "b.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    page = {"studies": [renamed(real_study, "NCT00000013")], "nextPageToken": "x"}
    (tmp_path / "c.json").write_text(json.dumps(page), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a study", encoding="utf-8")
    ids = [s["protocolSection"]["identificationModule"]["nctId"] for s in ctgov.iter_studies(tmp_path)]
    assert ids == ["NCT02513394", "NCT00000011", "NCT00000012", "NCT00000013"]


def test_iter_studies_on_ndjson_and_list(tmp_path, real_study):
    ndjson = tmp_path / "studies.jsonl"
    ndjson.write_text(json.dumps(real_study) + "\n\n" + json.dumps(renamed(real_study, "NCT00000021")) + "\n")
    assert len(list(ctgov.iter_studies(ndjson))) == 2
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([real_study, renamed(real_study, "NCT00000022")]))
    assert [s["protocolSection"]["identificationModule"]["nctId"] for s in ctgov.iter_studies(listed)] == [
        "NCT02513394",
        "NCT00000022",
    ]


def test_iter_studies_page_form(tmp_path):
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"studies": [small_study("NCT00000031"), small_study("NCT00000032")]}))
    assert len(list(ctgov.iter_studies(page))) == 2


def test_malformed_ndjson_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps(small_study()) + "\n{not json\n")
    studies = ctgov.iter_studies(bad)
    next(studies)  # the good first line is read
    with pytest.raises(ValueError, match=r"bad\.ndjson: line 2: not valid JSON"):
        next(studies)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"protocolSection": ', "not valid JSON"),
        ("[1, 2]", "item 1: expected a study object"),
        ('{"studies": {}}', '"studies" must be a list'),
        ('{"something": 1}', "no protocolSection"),
    ],
)
def test_malformed_json_file(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ValueError, match="bad.json") as error:
        list(ctgov.iter_studies(bad))
    assert message in str(error.value)


# --- writing records ------------------------------------------------------------------------------


def test_import_studies_writes_loadable_records(tmp_path, real_study):
    source = tmp_path / "in.ndjson"
    source.write_text(
        json.dumps(real_study) + "\n" + json.dumps(small_study("NCT00000041", minimumAge="18 Years")) + "\n"
    )
    out = tmp_path / "out" / "imported"
    written = ctgov.import_studies(source, out, progress=False)
    assert [p.name for p in written] == ["NCT02513394.yaml", "NCT00000041.yaml"]
    assert sorted(p.name for p in out.iterdir()) == ["NCT00000041.yaml", "NCT02513394.yaml"]  # no temp files left
    loaded = records.load_record(out / "NCT02513394.yaml")
    assert loaded == ctgov.record_from_study(real_study)
    assert "eligibility_text: |" in (out / "NCT02513394.yaml").read_text(encoding="utf-8")  # a readable block
    assert records.load_record(out / "NCT00000041.yaml")["cancer_type"] == "head_and_neck"


def test_import_studies_without_the_real_file(tmp_path):
    source = tmp_path / "one.json"
    source.write_text(
        json.dumps(small_study("NCT00000051", eligibilityCriteria="Inclusion Criteria:\n* Age ≥ 18 years"))
    )
    [path] = ctgov.import_studies(source, tmp_path / "out", progress=False)
    record = records.load_record(path)
    assert record["criteria"][0] == {"field": "age", "kind": "inclusion", "min": 18, "text": "Age ≥ 18 years"}


def test_import_error_names_the_line(tmp_path):
    source = tmp_path / "in.ndjson"
    source.write_text(json.dumps(small_study("NCT00000061")) + "\n" + json.dumps({"protocolSection": {}}) + "\n")
    with pytest.raises(ValueError, match=r"in\.ndjson: line 2: .*nctId"):
        ctgov.import_studies(source, tmp_path / "out", progress=False)
