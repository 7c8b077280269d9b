"""The clinical entity component (bot/nlu/components.py), the generated lookup tables
(bot/nlu/lookups.py) and the NLU data that documents both.

Entities are checked on Rasa ``Message`` objects run through the real
``WhitespaceTokenizer`` and ``ClinicalEntityExtractor.process``, as in the model.
Every entity annotation in data/nlu.yml and tests/nlu/held_out.yml must be what
the component produces (span and value), so data and component cannot drift apart.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from rasa.engine.graph import (
    ExecutionContext,  # noqa: E402
    GraphSchema,  # noqa: E402
)
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer  # noqa: E402
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402

from bot.nlu import components, lookups  # noqa: E402
from bot.nlu.components import ClinicalEntityExtractor, ClinicalEntityFeaturizer  # noqa: E402
from knowledge import normalize, vocab  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NLU_FILES = [
    REPO / "data" / "nlu.yml",
    REPO / "tests" / "nlu" / "held_out.yml",
    REPO / "data" / "nlu_zh.yml",
    REPO / "tests" / "nlu" / "held_out_zh.yml",
]


# --- helpers --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test", node_name="test_node")


@pytest.fixture(scope="module")
def tokenizer(context):
    return WhitespaceTokenizer.create(WhitespaceTokenizer.get_default_config(), None, None, context)


@pytest.fixture(scope="module")
def extractor(context):
    return ClinicalEntityExtractor.create({}, None, None, context)


@pytest.fixture(scope="module")
def run(tokenizer, extractor):
    """text -> the entity dicts the component adds to a tokenised Message."""

    def _run(text):
        message = Message(data={"text": text})
        if text:
            tokenizer.process([message])
        extractor.process([message])
        return message.get("entities", [])

    return _run


def pairs(entities) -> list[tuple[str, str, str]]:
    """(entity, value, text) of each entity, in text order."""
    return [(e["entity"], e["value"], e["text"]) for e in entities]


# --- the examples in docs/conversation.md -----------------------------------------------------------

# The entity table's "from" column and the intent examples.
DOC_EXAMPLES = [
    ("58 years old", [("age", "58", "58 years old")]),
    ("I'm fifty-eight", [("age", "58", "fifty-eight")]),
    ("aged 61", [("age", "61", "aged 61")]),
    ("voice box", [("tumor_site", "larynx", "voice box")]),
    ("tonsil", [("tumor_site", "oropharynx", "tonsil")]),
    ("pyriform sinus", [("tumor_site", "hypopharynx", "pyriform sinus")]),
    ("breast", [("tumor_site", "breast", "breast")]),
    ("stage 4a", [("stage", "IVA", "stage 4a")]),
    ("stage IV", [("stage", "IVA,IVB,IVC", "stage IV")]),
    ("stage III", [("stage", "III", "stage III")]),
    ("T3N1M0", [("tnm", "T3N1M0", "T3N1M0")]),
    ("cT2 N2b M0", [("tnm", "cT2N2bM0", "cT2 N2b M0")]),
    ("ECOG 1", [("ecog", "1", "ECOG 1")]),
    ("PS 0-1", [("ecog", "0-1", "PS 0-1")]),
    ("KPS 80", [("ecog", "1", "KPS 80")]),
    ("I can do light work", [("ecog", "1", "light work")]),
    ("radiotherapy", [("treatment", "radiotherapy", "radiotherapy")]),
    ("chemo", [("treatment", "chemotherapy", "chemo")]),
    ("PD-1 inhibitor", [("treatment", "anti_pd1", "PD-1 inhibitor")]),
    ("surgery", [("treatment", "surgery", "surgery")]),
    ("Keytruda", [("drug", "pembrolizumab", "Keytruda")]),
    ("nivolumab", [("drug", "nivolumab", "nivolumab")]),
    ("5-FU", [("drug", "5-fluorouracil", "5-FU")]),
    ("3 cycles", [("cycles", "3", "3 cycles")]),
    ("three rounds", [("cycles", "3", "three rounds")]),
    ("x4", [("cycles", "4", "x4")]),
    ("partial response", [("response", "PR", "partial response")]),
    ("it shrank", [("response", "PR", "shrank")]),
    ("p16 positive", [("p16", "positive", "p16 positive")]),
    ("HPV-negative", [("p16", "negative", "HPV-negative")]),
    ("poorly differentiated", [("differentiation", "poor", "poorly differentiated")]),
    ("1", [("number", "1", "1")]),
    ("two", [("number", "2", "two")]),
    ("58", [("number", "58", "58")]),
    ("pembrolizumab x3", [("drug", "pembrolizumab", "pembrolizumab"), ("cycles", "3", "x3")]),
    ("Shanghai", []),
    ("tell me more about NCT07320690", [("nct_id", "NCT07320690", "NCT07320690")]),
    ("why not NCT06100497?", [("nct_id", "NCT06100497", "NCT06100497")]),
    ("I made a mistake, I'm 61", [("age", "61", "61")]),
    ("sorry I'm actually 16", [("age", "16", "16")]),
]

# Several answers at once (patients and nurses).
MULTI_ANSWER = [
    (
        "I'm 61 with stage 4a cancer of the hypopharynx",
        [("age", "61", "61"), ("stage", "IVA", "stage 4a"), ("tumor_site", "hypopharynx", "hypopharynx")],
    ),
    (
        "61M, hypopharynx SCC cT3N2bM0, ECOG 1, treatment-naive",
        [
            ("age", "61", "61"),
            ("sex", "male", "M"),
            ("tumor_site", "hypopharynx", "hypopharynx"),
            ("histology", "squamous_cell_carcinoma", "SCC"),
            ("tnm", "cT3N2bM0", "cT3N2bM0"),
            ("ecog", "1", "ECOG 1"),
            ("treatment", "none", "treatment-naive"),
        ],
    ),
    (
        "65 year old male, larynx, T3N0M0, ECOG 0, no prior therapy",
        [
            ("age", "65", "65 year old"),
            ("sex", "male", "male"),
            ("tumor_site", "larynx", "larynx"),
            ("tnm", "T3N0M0", "T3N0M0"),
            ("ecog", "0", "ECOG 0"),
            ("treatment", "none", "no prior therapy"),
        ],
    ),
    (
        "pembrolizumab and cisplatin for 3 cycles, it shrank",
        [
            ("drug", "pembrolizumab", "pembrolizumab"),
            ("drug", "cisplatin", "cisplatin"),
            ("cycles", "3", "3 cycles"),
            ("response", "PR", "shrank"),
        ],
    ),
    (
        "67 y/o male, oropharynx p16+, T2N2M0, KPS 90",
        [
            ("age", "67", "67 y/o"),
            ("sex", "male", "male"),
            ("tumor_site", "oropharynx", "oropharynx"),
            ("p16", "positive", "p16+"),
            ("tnm", "T2N2M0", "T2N2M0"),
            ("ecog", "0-1", "KPS 90"),
        ],
    ),
    (
        "it hasn't come back since the operation",
        [("recurrence", "no", "come back"), ("treatment", "surgery", "operation")],
    ),
    ("I'll come back another time", []),
    (
        "she's 64, nasopharyngeal carcinoma, had gemcitabine and cisplatin x3, partial response",
        [
            ("age", "64", "64"),
            ("tumor_site", "nasopharynx", "nasopharyngeal carcinoma"),
            ("drug", "gemcitabine", "gemcitabine"),
            ("drug", "cisplatin", "cisplatin"),
            ("cycles", "3", "x3"),
            ("response", "PR", "partial response"),
        ],
    ),
    (
        "Tevimbra and chemo for four cycles, stable disease",
        [
            ("drug", "tislelizumab", "Tevimbra"),
            ("treatment", "chemotherapy", "chemo"),
            ("cycles", "4", "four cycles"),
            ("response", "SD", "stable disease"),
        ],
    ),
]


@pytest.mark.parametrize("text,expected", DOC_EXAMPLES + MULTI_ANSWER)
def test_documented_examples(run, text, expected):
    assert pairs(run(text)) == expected


# --- values never seen in the training data ---------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Tevimbra", ("drug", "tislelizumab", "Tevimbra")),
        ("sintilimab", ("drug", "sintilimab", "sintilimab")),
        ("Libtayo", ("drug", "cemiplimab", "Libtayo")),
        ("retromolar trigone", ("tumor_site", "oral_cavity", "retromolar trigone")),
        ("vallecula", ("tumor_site", "oropharynx", "vallecula")),
        ("ypT2N1M0", ("tnm", "ypT2N1M0", "ypT2N1M0")),
        ("T4bN3M1", ("tnm", "T4bN3M1", "T4bN3M1")),
        ("stage IVc", ("stage", "IVC", "stage IVc")),
        ("I'm seventy-one", ("age", "71", "seventy-one")),
        ("Zubrod 1", ("ecog", "1", "Zubrod 1")),
    ],
)
def test_values_never_in_training_data(run, text, expected):
    assert text.lower() not in (REPO / "data" / "nlu.yml").read_text(encoding="utf-8").lower()
    assert pairs(run(text)) == [expected]


def test_ambiguous_site_names_every_candidate(run):
    assert pairs(run("throat")) == [("tumor_site", "oropharynx|hypopharynx|larynx", "throat")]
    assert normalize.site("throat").codes == ("oropharynx", "hypopharynx", "larynx")


def test_longest_site_wins(run):
    assert pairs(run("lower throat")) == [("tumor_site", "hypopharynx", "lower throat")]
    assert pairs(run("base of tongue")) == [("tumor_site", "oropharynx", "base of tongue")]
    assert pairs(run("back of my tongue")) == [("tumor_site", "oropharynx", "back of my tongue")]


@pytest.mark.parametrize(
    "text,code", [("breast cancer", "breast"), ("I have lung cancer", "lung"), ("prostate cancer", "prostate")]
)
def test_out_of_scope_cancer_is_tagged_with_its_code(run, text, code):
    (entity,) = run(text)
    assert (entity["entity"], entity["value"]) == ("tumor_site", code)
    assert not normalize.site(entity["text"]).in_scope


# --- numbers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1", [("number", "1", "1")]),
        ("0", [("number", "0", "0")]),
        ("58", [("number", "58", "58")]),
        ("fifty-eight", [("number", "58", "fifty-eight")]),
        ("0-1", [("number", "0-1", "0-1")]),
        ("4", [("number", "4", "4")]),  # a bare four: stage, ECOG or cycles, the form decides
        ("this one please", []),
        ("no one told me", []),
        ("58 years old", [("age", "58", "58 years old")]),
        ("diagnosed 2 years ago", [("number", "2", "2")]),
        ("smoked for 30 years", [("number", "30", "30")]),
        ("I'm 2 weeks post op", [("number", "2", "2")]),
    ],
)
def test_bare_numbers_only_where_nothing_else_claims_them(run, text, expected):
    assert pairs(run(text)) == expected


@pytest.mark.parametrize(
    "text,value",
    [
        ("tell me about nct07320690", "NCT07320690"),
        ("why not NCT 06100497", "NCT06100497"),
        ("Nct05343325?", "NCT05343325"),
    ],
)
def test_nct_ids_any_case(run, text, value):
    (entity,) = run(text)
    assert (entity["entity"], entity["value"]) == ("nct_id", value)


def test_an_nct_id_is_no_tnm_and_no_number(run):
    assert [e["entity"] for e in run("NCT07320690 and NCT06100497")] == ["nct_id", "nct_id"]


# --- the Rasa side ----------------------------------------------------------------------------------


def test_entities_have_the_rasa_shape_and_are_appended(tokenizer, extractor):
    message = Message(data={"text": "I'm 58, voice box"})
    tokenizer.process([message])
    existing = {"entity": "other", "start": 0, "end": 1, "value": "x", "extractor": "Something"}
    message.set("entities", [existing])
    extractor.process([message])
    entities = message.get("entities")
    assert entities[0] == existing
    assert entities[1:] == [
        {
            "entity": "age",
            "start": 4,
            "end": 6,
            "value": "58",
            "text": "58",
            "confidence_entity": 1.0,
            "extractor": "ClinicalEntityExtractor",
        },
        {
            "entity": "tumor_site",
            "start": 8,
            "end": 17,
            "value": "larynx",
            "text": "voice box",
            "confidence_entity": 1.0,
            "extractor": "ClinicalEntityExtractor",
        },
    ]


def test_no_overlapping_entities_and_spans_are_the_typed_words(run):
    text = "61M, base of tongue SCC cT3N2bM0 ECOG 1 PS 0-1 KPS 85, Keytruda x4, 3 cycles, PD-L1, p16+, stage 4 or 3"
    entities = run(text)
    assert len(entities) >= 10
    for a, b in zip(entities, entities[1:]):
        assert a["end"] <= b["start"]
    for e in entities:
        assert text[e["start"] : e["end"]] == e["text"]
    assert ("ecog", "0-1", "KPS 85") in pairs(entities)


def test_training_data_passes_through_unchanged(extractor):
    data = TrainingData([Message(data={"text": "I'm 58", "intent": "inform"})])
    assert extractor.process_training_data(data) is data


def test_intent_shortcut_messages_are_left_to_the_regex_message_handler(run):
    assert run('/inform{"ecog": "1"}') == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\n\n",
        "😀🙂👍 stage 4 😀",
        "我61岁，喉癌",
        "Ich bin 61 Jahre alt",
        "<script>alert('stage 4')</script><b>ECOG 1</b>",
        "'; DROP TABLE patients; -- ",
        "SELECT * FROM trials WHERE age > 18",
        "x" * 10_000,
        "😀" * 10_000,
        "1 " * 5_000,
        "one " * 3_000,
        "stage " * 2_000,
        "{}[]()<>\\/%$#@!^&*",
        "\x00\x01\x02",
        "🏳️‍🌈" * 500,
        "ECOG" * 3_000,
    ],
)
def test_odd_input_never_raises_and_reads_only_the_first_characters(run, text):
    """A pasted letter cannot slow the bot: only MAX_CHARS are read (how fast is a benchmark's
    job, not a timed test's: see docs/performance.md)."""
    entities = run(text)
    assert all(e["end"] <= components.MAX_CHARS for e in entities)


def test_none_text_is_handled(extractor):
    message = Message(data={})
    extractor.process([message])
    assert message.get("entities") == []


def test_featurizer_marks_entity_tokens(tokenizer, context):
    featurizer = ClinicalEntityFeaturizer.create(ClinicalEntityFeaturizer.get_default_config(), None, None, context)
    message = Message(data={"text": "methotrexate for 3 cycles"})
    tokenizer.process([message])
    featurizer.process([message])
    sequence, sentence = message.get_sparse_features("text")
    columns = components.FEATURE_NAMES
    assert sequence.features.shape == (4, len(columns))
    dense = sequence.features.toarray()
    assert dense[0, columns.index("drug")] == 1 and dense[1].sum() == 0
    assert dense[2, columns.index("cycles")] == 1 and dense[3, columns.index("cycles")] == 1
    assert sentence.features.toarray()[0].tolist() == [1.0 if c in ("drug", "cycles") else 0.0 for c in columns]


def test_featurizer_masks_entity_lemmas_and_knows_cities(tokenizer, context):
    featurizer = ClinicalEntityFeaturizer.create(ClinicalEntityFeaturizer.get_default_config(), None, None, context)
    message = Message(data={"text": "Tevimbra in Changsha"})
    tokenizer.process([message])
    featurizer.process([message])
    assert [t.lemma for t in message.get("text_tokens")] == ["__drug__", "in", "__city__"]
    assert [e.entity for e in components.extract("Tevimbra in Changsha")] == ["drug"]  # a city is no entity


def test_cache_fingerprint_covers_code_and_vocabulary():
    fingerprint = ClinicalEntityExtractor.fingerprint_addon({})
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint)
    assert ClinicalEntityFeaturizer.fingerprint_addon({}) == fingerprint


def test_config_lists_the_components():
    config = (REPO / "config.yml").read_text(encoding="utf-8")
    assert re.search(
        r"- name: bot\.nlu\.components\.MixedTokenizer\s*\n(?:\s*#.*\n)*\s*- name: bot\.nlu\.components\.ClinicalEntityExtractor",
        config,
    )
    assert "bot.nlu.components.ClinicalEntityFeaturizer" in config
    assert re.search(r"entity_recognition:\s*false", config)


# --- values agree with knowledge.normalize ---------------------------------------------------------


def test_site_values_are_what_normalize_returns():
    for term, code in vocab.site_terms():
        assert components.extract(term)[-1].value == "|".join(normalize.site(term).codes), term
        assert normalize.site(term).codes == (code,), term
    for term, codes in vocab.ambiguous_site_terms():
        assert [f.value for f in components.extract(term)] == ["|".join(codes)], term


@pytest.mark.parametrize(
    "kind,terms,read",
    [
        ("drug", vocab.drug_terms, lambda t: normalize.treatment(t).drugs[0]),
        ("treatment", vocab.treatment_terms, lambda t: sorted(normalize.treatment(t).categories)),
        ("response", vocab.response_terms, normalize.response),
        ("p16", vocab.p16_terms, normalize.p16),
        ("differentiation", vocab.differentiation_terms, normalize.differentiation),
        ("ecog", vocab.ecog_terms, lambda t: str(normalize.ecog(t).value)),
    ],
)
def test_vocabulary_values_are_what_normalize_returns(kind, terms, read):
    for term, code in terms():
        found = [f for f in components.extract(term) if f.entity == kind]
        assert found, f"{term!r} is not read as {kind}"
        value = found[0].value
        if kind == "treatment":
            assert [value] == read(term) or value in read(term), term
        else:
            assert value == str(read(term)) == str(code), term


# --- the NLU data ------------------------------------------------------------------------------------


def _read(path: Path) -> TrainingData:
    return RasaYAMLReader().read(str(path))


@pytest.mark.parametrize("path", NLU_FILES, ids=lambda p: p.name)
def test_every_annotation_is_what_the_component_produces(path):
    mismatches = []
    for example in _read(path).training_examples:
        text = example.get("text")
        annotated = sorted((e["start"], e["end"], e["entity"], str(e["value"])) for e in example.get("entities") or [])
        produced = [(f.start, f.end, f.entity, f.value) for f in components.extract(text)]
        if annotated != produced:
            mismatches.append((text, annotated, produced))
    assert not mismatches, "\n".join(map(str, mismatches[:20]))


def test_documented_intents_are_in_the_data():
    doc = (REPO / "docs" / "conversation.md").read_text(encoding="utf-8")
    section = doc.split("## Intents", 1)[1].split("## Entities", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.M)) - {"nlu_fallback"}
    for path in NLU_FILES:
        intents = {ex.get("intent") for ex in _read(path).training_examples}
        assert intents == documented, path.name


def test_documented_entities_are_the_component_entities():
    doc = (REPO / "docs" / "conversation.md").read_text(encoding="utf-8")
    section = doc.split("## Entities", 1)[1].split("## Slots", 1)[0]
    assert set(re.findall(r"^\| `(\w+)` \|", section, re.M)) == set(components.ENTITY_NAMES)


@pytest.mark.parametrize("train_file, held_out_file", [(0, 1), (2, 3)], ids=["en", "zh"])
def test_held_out_examples_are_not_training_examples(train_file, held_out_file):
    def norm(text):
        return re.sub(r"[^\w]+", " ", text.lower()).strip()

    train = {
        norm(ex.get("text")) for ex in _read(NLU_FILES[0]).training_examples + _read(NLU_FILES[2]).training_examples
    }
    held_out = [ex.get("text") for ex in _read(NLU_FILES[held_out_file]).training_examples]
    assert 150 <= len(held_out) <= 300
    assert not [t for t in held_out if norm(t) in train]


# --- lookup tables ------------------------------------------------------------------------------------


def _lookups(*args):
    return subprocess.run([sys.executable, "-m", "bot.nlu.lookups", *args], cwd=REPO, capture_output=True, text=True)


def test_lookups_check_passes_after_generation_and_fails_when_missing_or_stale(tmp_path):
    path = tmp_path / "lookups.yml"
    assert _lookups("--check", "--output", str(path)).returncode == 1  # missing
    assert _lookups("--output", str(path)).returncode == 0
    assert _lookups("--check", "--output", str(path)).returncode == 0
    path.write_text(path.read_text(encoding="utf-8").replace("- Keytruda\n", ""), encoding="utf-8")
    assert _lookups("--check", "--output", str(path)).returncode == 1  # stale


def test_repo_lookups_file_is_current():
    if not lookups.LOOKUPS_PATH.exists():
        pytest.skip("data/lookups.yml not generated yet (python -m bot.nlu.lookups)")
    assert _lookups("--check").returncode == 0


def test_lookups_are_generated_from_the_vocabulary():
    text = lookups.render()
    assert text.startswith("# GENERATED FILE")
    data = RasaYAMLReader().reads(text)
    tables = {t["name"]: t["elements"] for t in data.lookup_tables}
    assert set(tables) == {"tumor_site", "drug", "treatment", "response"}
    assert {"voice box", "throat", "retromolar trigone"} <= set(tables["tumor_site"])
    assert {"pembrolizumab", "Keytruda", "5-FU", "albumin-bound paclitaxel"} <= set(tables["drug"])
    assert "PD-1 inhibitor" in tables["treatment"] and "shrank" in tables["response"]
