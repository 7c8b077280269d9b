"""AJCC 8th edition staging: the YAML tables, TNM lookup and parsing.

The expected stage groups here are written from the AJCC 8 manual twice over,
independently of staging.yaml: as explicit examples, and as if/else rules
that are compared with the YAML on every T x N x M cell of each table.
"""

import itertools

import pytest

from knowledge.staging import STAGE_ORDER, TNM, load, parse_stage, parse_tnm, stage_groups

ALL_BUT_M1 = {"0", "I", "II", "III", "IVA", "IVB"}


# --- AJCC 8 rules, written independently of the YAML ------------------------


def ajcc_general(t, n, m):
    """Oral cavity, larynx, hypopharynx, p16- oropharynx, sinonasal, salivary."""
    if m == "M1":
        return "IVC"
    if n == "N3" or t == "T4b":
        return "IVB"
    if t == "Tis":
        return "0" if n == "N0" else None
    if t == "T0":  # salivary / unknown primary only: needs nodes
        return {"N1": "III", "N2": "IVA"}.get(n)
    if t == "T4a" or n == "N2":
        return "IVA"
    if t == "T3" or n == "N1":
        return "III"
    return {"T1": "I", "T2": "II"}[t]


def ajcc_p16_clinical(t, n, m):
    if m == "M1":
        return "IVC"  # AJCC "IV"
    if t == "T4" or n == "N3":
        return "III"
    if t == "T3" or n == "N2":
        return "II"
    return "I"


def ajcc_p16_pathological(t, n, m):
    if m == "M1":
        return "IVC"  # AJCC "IV"
    large = t in ("T3", "T4")
    if large and n == "N2":
        return "III"
    if large or n == "N2":
        return "II"
    return "I"


def ajcc_nasopharynx(t, n, m):
    if m == "M1":
        return "IVB"
    if n == "N3" or t == "T4":
        return "IVA"
    if t == "Tis":
        return "0" if n == "N0" else None
    if t == "T3" or n == "N2":
        return "III"
    if t == "T2" or n == "N1":
        return "II"
    return "I" if t == "T1" else None  # T0 N0: nothing to stage


GRIDS = {
    "general": (ajcc_general, ["T0", "Tis", "T1", "T2", "T3", "T4a", "T4b"], ["N0", "N1", "N2", "N3"]),
    "oropharynx_p16_positive_clinical": (ajcc_p16_clinical, ["T0", "T1", "T2", "T3", "T4"], ["N0", "N1", "N2", "N3"]),
    "oropharynx_p16_positive_pathological": (ajcc_p16_pathological, ["T0", "T1", "T2", "T3", "T4"], ["N0", "N1", "N2"]),
    "nasopharynx": (ajcc_nasopharynx, ["T0", "Tis", "T1", "T2", "T3", "T4"], ["N0", "N1", "N2", "N3"]),
}


@pytest.mark.parametrize(
    "table,t,n,m",
    [(table, t, n, m) for table, (_, ts, ns) in GRIDS.items() for t, n, m in itertools.product(ts, ns, ["M0", "M1"])],
)
def test_every_cell_matches_the_ajcc_rules(table, t, n, m):
    rule = GRIDS[table][0]
    expected = rule(t, n, m)
    assert stage_groups(table, TNM(t, n, m)) == (frozenset([expected]) if expected else frozenset())


def test_tables_know_exactly_the_ajcc_categories():
    tables = load()["tables"]
    for name, (_, ts, ns) in GRIDS.items():
        assert (tables[name]["t"], tables[name]["n"], tables[name]["m"]) == (ts, ns, ["M0", "M1"])


def test_p16_positive_stage_iv_is_stored_as_ivc():
    for name in ("oropharynx_p16_positive_clinical", "oropharynx_p16_positive_pathological"):
        [row] = [r for r in load()["tables"][name]["rows"] if r["m"] == ["M1"]]
        assert (row["stage"], row["maps_to"]) == ("IV", "IVC")


# --- explicit examples, one or more per stage group --------------------------


@pytest.mark.parametrize(
    "key,tnm,expected",
    [
        # general (oral cavity, larynx, hypopharynx, p16- oropharynx, sinonasal, salivary)
        ("general", "Tis N0 M0", "0"),
        ("general", "T1 N0 M0", "I"),
        ("general", "T2 N0 M0", "II"),
        ("general", "T3 N0 M0", "III"),
        ("general", "T1 N1 M0", "III"),
        ("general", "T3 N1 M0", "III"),
        ("general", "T0 N1 M0", "III"),
        ("general", "T4a N0 M0", "IVA"),
        ("general", "T4a N1 M0", "IVA"),
        ("general", "T1 N2a M0", "IVA"),
        ("general", "T2 N2b M0", "IVA"),
        ("general", "T3 N2c M0", "IVA"),
        ("general", "T4a N2c M0", "IVA"),
        ("general", "T1 N3a M0", "IVB"),
        ("general", "T2 N3b M0", "IVB"),
        ("general", "T4b N0 M0", "IVB"),
        ("general", "T4b N2b M0", "IVB"),
        ("general", "T1 N0 M1", "IVC"),
        ("general", "T4b N3b M1", "IVC"),
        ("general", "T1a N0 M0", "I"),  # glottic T1a/T1b group as T1
        ("general", "T1b N1 M0", "III"),
        # p16-positive oropharynx, clinical
        ("oropharynx_p16_positive_clinical", "T0 N1 M0", "I"),
        ("oropharynx_p16_positive_clinical", "T1 N0 M0", "I"),
        ("oropharynx_p16_positive_clinical", "T2 N1 M0", "I"),
        ("oropharynx_p16_positive_clinical", "T2 N2 M0", "II"),
        ("oropharynx_p16_positive_clinical", "T3 N0 M0", "II"),
        ("oropharynx_p16_positive_clinical", "T3 N2 M0", "II"),
        ("oropharynx_p16_positive_clinical", "T3 N3 M0", "III"),
        ("oropharynx_p16_positive_clinical", "T0 N3 M0", "III"),
        ("oropharynx_p16_positive_clinical", "T4 N0 M0", "III"),
        ("oropharynx_p16_positive_clinical", "T4a N1 M0", "III"),  # T4a/T4b group as T4
        ("oropharynx_p16_positive_clinical", "T1 N2b M0", "I"),  # AJCC 7 N2b: ipsilateral <= 6 cm is cN1
        ("oropharynx_p16_positive_clinical", "T1 N0 M1", "IVC"),
        # p16-positive oropharynx, pathological
        ("oropharynx_p16_positive_pathological", "pT0 pN1 M0", "I"),
        ("oropharynx_p16_positive_pathological", "pT2 pN1 M0", "I"),
        ("oropharynx_p16_positive_pathological", "pT1 pN2 M0", "II"),
        ("oropharynx_p16_positive_pathological", "pT3 pN0 M0", "II"),
        ("oropharynx_p16_positive_pathological", "pT4 pN1 M0", "II"),
        ("oropharynx_p16_positive_pathological", "pT3 pN2 M0", "III"),
        ("oropharynx_p16_positive_pathological", "pT4 pN2 M0", "III"),
        ("oropharynx_p16_positive_pathological", "pT2 pN0 M1", "IVC"),
        # nasopharynx
        ("nasopharynx", "Tis N0 M0", "0"),
        ("nasopharynx", "T1 N0 M0", "I"),
        ("nasopharynx", "T0 N1 M0", "II"),
        ("nasopharynx", "T1 N1 M0", "II"),
        ("nasopharynx", "T2 N0 M0", "II"),
        ("nasopharynx", "T0 N2 M0", "III"),
        ("nasopharynx", "T2 N2 M0", "III"),
        ("nasopharynx", "T3 N0 M0", "III"),
        ("nasopharynx", "T4 N0 M0", "IVA"),
        ("nasopharynx", "T4 N2 M0", "IVA"),
        ("nasopharynx", "T1 N3 M0", "IVA"),
        ("nasopharynx", "T2 N3a M0", "IVA"),  # AJCC 7 style N3a -> N3
        ("nasopharynx", "T0 N3 M0", "IVA"),
        ("nasopharynx", "T1 N0 M1", "IVB"),
    ],
)
def test_stage_group_examples(key, tnm, expected):
    assert stage_groups(key, parse_tnm(tnm)) == {expected}


@pytest.mark.parametrize(
    "p16,tnm,expected",
    [
        ("negative", "T2 N1 M0", {"III"}),
        ("positive", "T2 N1 M0", {"I"}),
        (None, "T2 N1 M0", {"I", "III"}),
        ("unknown", "T2 N1 M0", {"I", "III"}),
        ("negative", "T4a N2b M0", {"IVA"}),
        ("positive", "T4a N2b M0", {"III"}),
        (None, "T1 N0 M1", {"IVC"}),
        # Tis exists only p16-negative; p16+ has no row for it.
        ("positive", "Tis N0 M0", set()),
        (None, "Tis N0 M0", {"0"}),
        # p / yp prefix -> pathological table when p16-positive
        ("positive", "pT3 pN2 M0", {"III"}),
        ("positive", "cT3 N2 M0", {"II"}),
        ("positive", "T3 N2 M0", {"II"}),
        ("positive", "ypT3 ypN1 M0", {"II"}),
        ("positive", "pT1 pN3 M0", set()),  # no pN3 after surgery
        ("negative", "pT3 pN2 M0", {"IVA"}),
        (None, "pT3 pN2 M0", {"III", "IVA"}),
    ],
)
def test_oropharynx_depends_on_p16(p16, tnm, expected):
    assert stage_groups("oropharynx", parse_tnm(tnm), p16) == expected


@pytest.mark.parametrize(
    "key,tnm,expected",
    [
        # no M (or MX): could be metastatic
        ("general", TNM("T2", "N0"), {"II", "IVC"}),
        ("general", TNM("T2", "N0", "MX"), {"II", "IVC"}),
        ("nasopharynx", TNM("T1", "N0"), {"I", "IVB"}),
        ("oropharynx_p16_positive_clinical", TNM("T1", "N0"), {"I", "IVC"}),
        # TX / NX: every T / N of the table
        ("general", TNM("TX", "N0", "M0"), {"0", "I", "II", "III", "IVA", "IVB"}),
        ("general", TNM("TX", "N1", "M0"), {"III", "IVA", "IVB"}),
        ("general", TNM("T1", "NX", "M0"), {"I", "III", "IVA", "IVB"}),
        ("nasopharynx", TNM("TX", "N2", "M0"), {"III", "IVA"}),
        ("general", TNM("TX", "NX"), set(STAGE_ORDER)),
        ("general", TNM("TX", "NX", "M1"), {"IVC"}),
        # a bare T4 in the general table is T4a or T4b
        ("general", TNM("T4", "N0", "M0"), {"IVA", "IVB"}),
        ("general", TNM("T4", "N2", "M0"), {"IVA", "IVB"}),
        ("general", TNM("T4", "N3", "M0"), {"IVB"}),
        ("general", TNM("T4", "N1"), {"IVA", "IVB", "IVC"}),
        # combinations no AJCC row has
        ("general", TNM("Tis", "N1", "M0"), set()),
        ("general", TNM("T0", "N0", "M0"), set()),
        ("nasopharynx", TNM("T0", "N0", "M0"), set()),
        ("nasopharynx", TNM("Tis", "N2", "M0"), set()),
        ("oropharynx_p16_positive_clinical", TNM("Tis", "N0", "M0"), set()),
        ("oropharynx_p16_positive_pathological", TNM("T2", "N3", "M0"), set()),
    ],
)
def test_unknown_parts_are_unions_and_impossible_ones_empty(key, tnm, expected):
    assert stage_groups(key, tnm) == expected


def test_tis_with_metastasis_or_n3_follows_the_any_t_rows():
    assert stage_groups("general", TNM("Tis", "N3", "M0")) == {"IVB"}
    assert stage_groups("general", TNM("Tis", "N0", "M1")) == {"IVC"}


@pytest.mark.parametrize("key", ["none", "thyroid", "", "Oropharynx"])
def test_unknown_staging_key_raises(key):
    with pytest.raises(ValueError, match="staging"):
        stage_groups(key, TNM("T1", "N0", "M0"))


def test_none_key_says_there_is_no_table():
    with pytest.raises(ValueError, match="no AJCC staging table"):
        stage_groups("none", TNM("T1", "N0", "M0"))


def test_bad_p16_value_raises():
    with pytest.raises(ValueError, match="p16"):
        stage_groups("oropharynx", TNM("T1", "N0", "M0"), "maybe")


# --- parse_tnm -------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("T3N1M0", TNM("T3", "N1", "M0", "")),
        ("cT2 N2b M0", TNM("T2", "N2b", "M0", "c")),
        ("pT1 pN1 M0", TNM("T1", "N1", "M0", "p")),
        ("T4a N2c M0", TNM("T4a", "N2c", "M0", "")),
        ("ypT2N0", TNM("T2", "N0", None, "yp")),
        ("T2 N0", TNM("T2", "N0", None, "")),
        ("T1 N0 MX", TNM("T1", "N0", "MX", "")),
        ("t3n1m0", TNM("T3", "N1", "M0", "")),
        ("T3, N1, M0", TNM("T3", "N1", "M0", "")),
        ("Tis N0 M0", TNM("Tis", "N0", "M0", "")),
        ("TIS N0", TNM("Tis", "N0", None, "")),
        ("T4A N2C M0", TNM("T4a", "N2c", "M0", "")),
        ("T0 N3b M0", TNM("T0", "N3b", "M0", "")),
        ("tx nx", TNM("TX", "NX", None, "")),
        ("cT4bN3bM1", TNM("T4b", "N3b", "M1", "c")),
        ("My letter says pT2pN0M0R0, p16 positive.", TNM("T2", "N0", "M0", "p")),
        ("the doctor said it was T2 N1 M0 in March", TNM("T2", "N1", "M0", "")),
        ("(T1b N0)", TNM("T1b", "N0", None, "")),
    ],
)
def test_parse_tnm(text, expected):
    assert parse_tnm(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Tuesday",
        "T-cell lymphoma",
        "NCT06100497",
        "M1 tablet",
        "I take an M1 tablet on Tuesday",
        "T3",  # no N
        "N1 M0",  # no T
        "T2 N15",
        "CT2 N0 scan",  # CT scan, not cT2
        "T5 N1 M0",
        "",
        None,
    ],
)
def test_parse_tnm_ignores_non_tnm(text):
    assert parse_tnm(text) is None


def test_parsed_tnm_stages_end_to_end():
    assert stage_groups("general", parse_tnm("cT2 N2b M0")) == {"IVA"}
    assert stage_groups("oropharynx", parse_tnm("pT1 pN1 M0"), "positive") == {"I"}
    assert stage_groups("nasopharynx", parse_tnm("T2 N0")) == {"II", "IVB"}


# --- parse_stage -----------------------------------------------------------

IV = {"IVA", "IVB", "IVC"}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("3", {"III"}),
        ("III", {"III"}),
        ("iii", {"III"}),
        ("stage III", {"III"}),
        ("three", {"III"}),
        ("Stage IVa", {"IVA"}),
        ("4b", {"IVB"}),
        ("4a", {"IVA"}),
        ("stage 4 b", {"IVB"}),
        ("stage 4 a", {"IVA"}),
        ("IV-C", {"IVC"}),
        ("stage four c", {"IVC"}),
        ("IV", IV),
        ("4", IV),
        ("stage four", IV),
        ("Stage IV", IV),
        ("two", {"II"}),
        ("2", {"II"}),
        ("II", {"II"}),
        ("stage 2", {"II"}),
        ("stage 0", {"0"}),
        ("0", {"0"}),
        ("stage one", {"I"}),
        ("I", {"I"}),
        ("I have stage I cancer", {"I"}),
        ("it's 3", {"III"}),
        ("I think it's IV.", IV),
        ("my stage is 2", {"II"}),
        ("Stage: IVb", {"IVB"}),
        ("I was told stage 3, p16 positive", {"III"}),
        ("stage 4 a lot of people told me", IV),  # "a" is a word, not the sub-stage
        ("clinical stage II", {"II"}),
    ],
)
def test_parse_stage(text, expected):
    assert parse_stage(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I'm 58",
        "58",
        "I am 3 months into treatment",
        "2 years ago",
        "I don't know",
        "at this stage I was tired",
        "the stage I was told is unclear",
        "stage 5",
        "stage IIIb",  # no AJCC 8 head and neck stage III sub-stages
        "4d",
        "T3N1M0",
        "",
        None,
    ],
)
def test_parse_stage_ignores_non_stages(text):
    assert parse_stage(text) is None


def test_parse_stage_only_returns_project_codes():
    for entry in load()["stage_words"]["numbers"]:
        for word in entry["words"]:
            assert parse_stage(f"stage {word}") <= set(STAGE_ORDER)


@pytest.mark.parametrize(
    "text,groups",
    [
        ("stage 3 or 4", {"III", "IVA", "IVB", "IVC"}),
        ("III or IV", {"III", "IVA", "IVB", "IVC"}),
        ("I think it is 2 or 3", {"II", "III"}),
        ("III/IVA", {"III", "IVA"}),
        ("stage IVa or IVb", {"IVA", "IVB"}),
    ],
)
def test_unsure_between_stages_gives_every_stage_named(text, groups):
    """A patient torn between two stages may be either: the union, never the first one."""
    assert parse_stage(text) == frozenset(groups)


def test_a_number_followed_by_other_words_is_not_a_whole_stage_answer():
    assert parse_stage("3 or so people") is None


# --- issue 10, case 12: N written in another table's words; AJCC 7 for edition-free criteria ----------

from knowledge.staging import stage_groups_ajcc7, t0_allowed  # noqa: E402


@pytest.mark.parametrize(
    "tnm,expected",
    [
        # AJCC 8 p16-positive clinical N counts side and size only: ipsilateral <= 6 cm is cN1.
        ("T2 N2a M0", {"I"}),
        ("T2 N2b M0", {"I"}),
        ("T1 N2c M0", {"II"}),
        ("T3 N2b M0", {"II"}),
        ("T1 N3a M0", {"III"}),
        ("T1 N3b M0", {"I", "II", "III"}),  # overt ENE: side and size not said
        # pathological: pN counts nodes (1-4 = pN1, 5+ = pN2)
        ("pT2 pN2a M0", {"I"}),
        ("pT2 pN2b M0", {"I", "II"}),
        ("pT3 pN2c M0", {"II", "III"}),
    ],
)
def test_case_12_p16_positive_reads_other_tables_n_by_what_it_says(tnm, expected):
    assert stage_groups("oropharynx", parse_tnm(tnm), "positive") == expected


def test_case_12_p16_negative_and_general_tables_keep_n2_subgroups():
    assert stage_groups("oropharynx", parse_tnm("T2 N2b M0"), "negative") == {"IVA"}
    assert stage_groups("general", parse_tnm("T2 N2b M0")) == {"IVA"}


@pytest.mark.parametrize(
    "site,allowed",
    [
        ("larynx", False),
        ("oral_cavity", False),
        ("hypopharynx", False),
        ("nasal_cavity_paranasal_sinuses", False),
        ("oropharynx", True),
        ("salivary_gland", True),
        ("unknown_primary", True),
        (None, True),
    ],
)
def test_case_12_t0_only_where_ajcc8_has_it(site, allowed):
    assert t0_allowed(site) is allowed


@pytest.mark.parametrize(
    "key,tnm,p16,expected",
    [
        ("oropharynx", "T2 N1 M0", "positive", {"III", "IVA"}),  # AJCC 8 cN1 was N1 or N2a/N2b
        ("oropharynx", "T2 N1 M0", "negative", {"III"}),
        ("oropharynx", "T2 N1 M0", None, {"III", "IVA"}),
        ("oropharynx", "T1 N0 M0", "positive", {"I"}),
        ("oropharynx", "T4 N0 M0", "positive", {"IVA", "IVB"}),
        ("oropharynx", "T2 N2b M0", "positive", {"IVA"}),
        ("oropharynx", "pT1 pN1 M0", "positive", {"III", "IVA", "IVB"}),
        ("general", "T3 N0 M0", None, {"III"}),
    ],
)
def test_ajcc7_groups_for_criteria_that_name_no_edition(key, tnm, p16, expected):
    assert stage_groups_ajcc7(key, parse_tnm(tnm), p16) == expected


def test_no_ajcc7_table_is_kept_for_the_nasopharynx():
    assert stage_groups_ajcc7("nasopharynx", parse_tnm("T2 N1 M0")) is None
