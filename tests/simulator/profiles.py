"""What simulated patients are like, in canonical values only (no words: see phrases/*.yaml).

A persona's ``truth`` is what the person would answer to each question, already in the
values the engine and the slots use (``age: 61``, ``stage: ["III"]``, ``ecog: 1``,
``prior_treatment: ["chemotherapy", "anti_pd1"]``, ``"unknown"`` for "I don't know").
The phrase banks only say these values in words, so the same personas serve every
language.

The distributions are rough clinical realism for a Chinese head-and-neck clinic, with
the boundaries of the seed trials' criteria over-sampled (ages 17/18/75/76, ECOG 1/2,
stage III/IVB/IVC, 6/7 cycles of immunotherapy).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from knowledge import normalize, vocab

UNKNOWN = "unknown"
CORE = ("age", "tumor_site", "stage", "ecog", "prior_treatment")
IMMUNO = {"anti_pd1", "anti_pdl1", "immunotherapy_unspecified"}

# Treatment histories: the categories received. Phrasings per history live in the bank
# under answers.prior_treatment.templates.<name>; ``planned`` is treatment booked but not
# yet given (or only a biopsy), ``refused`` treatment offered and declined: both mean no
# treatment received.
HISTORIES: dict[str, tuple[str, ...]] = {
    "none": (),
    "planned": (),
    "refused": (),
    "pd1_chemo": ("chemotherapy", "anti_pd1"),
    "pd1_only": ("anti_pd1",),
    "pdl1_chemo": ("chemotherapy", "anti_pdl1"),
    "immunotherapy_unspecified": ("immunotherapy_unspecified",),
    "chemo_only": ("chemotherapy",),
    "surgery": ("surgery",),
    "radiotherapy": ("radiotherapy",),
    "surgery_radiotherapy": ("surgery", "radiotherapy"),
    "chemoradiotherapy": ("chemoradiotherapy",),
}
HISTORY_WEIGHTS = {
    "none": 26,
    "planned": 6,
    "refused": 2,
    "pd1_chemo": 20,
    "pd1_only": 10,
    "pdl1_chemo": 3,
    "immunotherapy_unspecified": 3,
    "chemo_only": 9,
    "surgery": 6,
    "radiotherapy": 4,
    "surgery_radiotherapy": 6,
    "chemoradiotherapy": 6,
}

SITE_WEIGHTS = {
    "oral_cavity": 17,
    "oropharynx": 18,
    "larynx": 18,
    "hypopharynx": 12,
    "nasopharynx": 10,
    "nasal_cavity_paranasal_sinuses": 6,
    "salivary_gland": 6,
    "unknown_primary": 4,
    "thyroid": 2,
    "breast": 2,
    "lung": 2,
}
# Which AJCC table stages a TNM at each site (sites.yaml `staging`); None: no TNM offered.
STAGE_WEIGHTS = {"I": 5, "II": 8, "III": 30, "IVA": 28, "IVB": 12, "IVC": 5, "IVA|IVB|IVC": 12}
ECOG_WEIGHTS = {0: 33, 1: 40, 2: 14, 3: 8, 4: 5}
# A Karnofsky score the published tables convert to two ECOG grades (KPS 90 is 0-1, 70 is
# 1-2, 60 and 50 are 2-3, 40 and 30 are 3-4: knowledge/vocabulary/ecog.yaml): the person
# means both, and so does the bot. How often a known grade is said that way.
KPS_RANGE_RATE = 0.12
RESPONSE_WEIGHTS = {"CR": 10, "PR": 45, "SD": 25, "PD": 10, UNKNOWN: 10}
CITIES = ("Shanghai", "Beijing", "Guangzhou", "Chengdu", "Hangzhou", "Wuhan", "Nanjing", "Shenzhen", "Xi'an")
PROVINCES = ("Guangdong", "Sichuan", "Zhejiang", "Hubei", "Jiangsu", "Hunan")
# Where a person could travel: a city, a province, "anywhere", a country, "rather not say"
# (typed), or None: presses Skip.
LOCATION_WEIGHTS = {"city": 55, "province": 8, "anywhere": 12, "country": 4, "rather_not_say": 6, "skip": 15}


def ecog_key(value: Any) -> str:
    """A bank key for an ECOG value: ``1`` -> "1", ``[1, 2]`` -> "1-2"."""
    return f"{value[0]}-{value[1]}" if isinstance(value, (list, tuple)) else str(value)


def stage_words(stage: Any, tnm: dict | None = None) -> str | None:
    """Words that mean ``stage`` for the stage normaliser: the TNM the person gave, else the
    group ("stage III"; "stage IV" for IVA|IVB|IVC)."""
    if stage in (None, UNKNOWN) or not stage:
        return None
    if tnm is not None:
        return tnm["text"]
    if list(stage) == ["IVA", "IVB", "IVC"]:
        return "stage IV"
    return "stage " + stage[0] if len(stage) == 1 else None


def derived(meant: dict, voice: str, tnm: dict | None = None, p16_known: bool = True) -> dict:
    """The profile fields the bot sets by rule from how the answers were given, for what the
    person meant (computed by knowledge/, never by the simulator's own rules):

    - ``ecog_source``: "clinician" for a nurse, "patient" otherwise, whenever ECOG is known;
    - ``stage_ajcc7``: the AJCC 7 reading ``knowledge.normalize.stage`` gives the stage words
      (the TNM, or the group) at this site, with the p16 the person knows (``p16_known``
      False: as if not said).
    """
    out: dict[str, Any] = {}
    if meant.get("ecog", UNKNOWN) not in (None, UNKNOWN):
        out["ecog_source"] = "clinician" if voice == "nurse" else "patient"
    words = stage_words(meant.get("stage"), tnm)
    site = meant.get("tumor_site")
    p16 = meant.get("p16") if p16_known else None
    if words and site in vocab.sites():
        read = normalize.stage(words, site, p16 if p16 in ("positive", "negative") else None)
        if read is not None and read.ajcc7_value:
            out["stage_ajcc7"] = read.ajcc7_value
    return out


def ordered_treatments(categories) -> list[str]:
    """Categories in the vocabulary's order, as the slot holds them."""
    return [c for c in vocab.field("prior_treatment").values if c in set(categories)]


def stage_value(key: str) -> list[str]:
    """``"IVA|IVB|IVC"`` -> ``["IVA", "IVB", "IVC"]``."""
    return key.split("|")


def staging_tables(site: str, p16: str) -> list[str]:
    """The TNM tables (keys of a bank's ``tnm`` entries) that stage this site; a union
    of several when p16 is not known at the oropharynx; [] when TNM is not offered."""
    key = vocab.site(site).get("staging", "none") if site in vocab.sites() else "none"
    if key == "general":
        return ["general"]
    if key == "nasopharynx":
        return ["nasopharynx"]
    if key == "oropharynx":
        return {"positive": ["oropharynx_p16_positive"], "negative": ["general"]}.get(
            p16, ["general", "oropharynx_p16_positive"]
        )
    return []


def tnm_stage(entry: dict, site: str, p16: str) -> list[str]:
    """The stage groups a bank TNM entry means for this patient."""
    groups = set()
    for table in staging_tables(site, p16):
        groups |= set(entry[table])
    return [s for s in ("0", "I", "II", "III", "IVA", "IVB", "IVC") if s in groups]


@dataclass
class Persona:
    """One simulated person: who speaks, and the truth they would tell."""

    voice: str  # patient | carer | nurse
    sex: str  # the patient's: male | female
    relative: str | None  # "my dad" (carer only)
    truth: dict[str, Any]  # profile field -> canonical value or "unknown"
    history: str  # key of HISTORIES, or "unknown"
    stage_form: str  # words | alone | tnm | unknown
    tnm: dict | None = None  # the bank entry when stage_form == "tnm"
    location: str | None = None  # a city, a province, "anywhere", a country, "unknown" (rather not say), or None (Skip)
    location_kind: str = "skip"  # city | province | anywhere | country | rather_not_say | skip

    def to_dict(self) -> dict:
        return {
            "voice": self.voice,
            "sex": self.sex,
            "relative": self.relative,
            "truth": dict(self.truth),
            "history": self.history,
            "stage_form": self.stage_form,
            "tnm": self.tnm and self.tnm["text"],
            "location": self.location,
            "location_kind": self.location_kind,
        }

    @property
    def said_tnm(self) -> dict | None:
        """The bank TNM entry the person gives for the stage, if that is how they say it."""
        return self.tnm if self.stage_form == "tnm" else None


def _pick(rng: random.Random, weights: dict):
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def relative_words(entry: Any) -> tuple[str, str | None]:
    """A bank relative (``my dad``, or ``{text: my grandad, gap: why}``): its words and known gap."""
    return (str(entry["text"]), entry.get("gap")) if isinstance(entry, dict) else (str(entry), None)


def make_persona(rng: random.Random, tnm_entries: list[dict], relatives: dict[str, list]) -> Persona:
    """A realistic patient, spoken for by themselves, a relative or a nurse."""
    voice = _pick(rng, {"patient": 50, "carer": 30, "nurse": 20})
    site = _pick(rng, SITE_WEIGHTS)
    sex = "female" if site == "breast" else _pick(rng, {"male": 72, "female": 28})
    relative = relative_words(rng.choice(relatives[sex]))[0] if voice == "carer" else None
    carer = voice == "carer"

    if rng.random() < 0.3:
        age = rng.choice((17, 18, 75, 76))
    else:
        age = int(rng.triangular(30, 88, 62))
    truth: dict[str, Any] = {"age": age, "tumor_site": site, "sex": sex}

    # p16 is known (or not) before the stage: a TNM at the oropharynx depends on it.
    if site == "oropharynx":
        truth["p16"] = _pick(rng, {"positive": 45, "negative": 35, UNKNOWN: 20 + (30 if carer else 0)})
    else:
        truth["p16"] = UNKNOWN

    stage_form = _pick(rng, {"words": 50, "alone": 12, "tnm": 23, "unknown": 15 + (15 if carer else 0)})
    tables = staging_tables(site, truth["p16"])
    entry = None
    if stage_form == "tnm" and not tables:
        stage_form = "words"
    if stage_form == "tnm":
        entry = rng.choice(tnm_entries)
        truth["stage"] = tnm_stage(entry, site, truth["p16"])
    elif stage_form == "unknown":
        truth["stage"] = UNKNOWN
    else:
        truth["stage"] = stage_value(_pick(rng, STAGE_WEIGHTS))

    truth["ecog"] = UNKNOWN if rng.random() < (0.15 if carer else 0.06) else _pick(rng, ECOG_WEIGHTS)
    if truth["ecog"] != UNKNOWN and rng.random() < KPS_RANGE_RATE:
        grade = truth["ecog"]  # the range is this grade and the one above or below it
        low = grade - 1 if grade == 4 or (grade > 0 and rng.random() < 0.5) else grade
        truth["ecog"] = [low, low + 1]

    history = _pick(rng, HISTORY_WEIGHTS) if rng.random() > 0.03 else UNKNOWN
    truth["prior_treatment"] = UNKNOWN if history == UNKNOWN else ordered_treatments(HISTORIES[history])
    had_immuno = history != UNKNOWN and bool(IMMUNO & set(HISTORIES[history]))
    if had_immuno:
        truth["immunotherapy_cycles"] = (
            rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5, 6, 6, 7, 8)) if rng.random() > 0.1 else UNKNOWN
        )
        truth["immunotherapy_response"] = _pick(rng, RESPONSE_WEIGHTS)
    else:
        truth["immunotherapy_cycles"] = UNKNOWN
        truth["immunotherapy_response"] = UNKNOWN
    truth["pathologic_response"] = UNKNOWN

    if site in ("nasopharynx",):
        truth["histology"] = _pick(rng, {"nasopharyngeal_carcinoma": 60, "squamous_cell_carcinoma": 25, UNKNOWN: 15})
    elif site == "salivary_gland":
        truth["histology"] = _pick(
            rng, {"salivary_carcinoma": 55, "adenocarcinoma": 20, "squamous_cell_carcinoma": 20, UNKNOWN: 5}
        )
    elif site in ("thyroid", "breast", "lung"):
        truth["histology"] = _pick(rng, {"adenocarcinoma": 60, UNKNOWN: 40})
    else:
        truth["histology"] = _pick(rng, {"squamous_cell_carcinoma": 92, UNKNOWN: 8 + (20 if carer else 0)})
    truth["differentiation"] = _pick(
        rng, {"poor": 40, "moderate": 28, "well": 14, "undifferentiated": 5, UNKNOWN: 13 + (25 if carer else 0)}
    )
    truth["recurrent"] = _pick(rng, {"no": 85, "yes": 10, UNKNOWN: 5})
    truth["resectable"] = _pick(rng, {"yes": 45, "no": 25, UNKNOWN: 30})
    truth["other_cancer_5y"] = _pick(rng, {"no": 90, "yes": 5, UNKNOWN: 5})
    if sex == "male":
        truth["pregnant"] = "no"
    else:
        truth["pregnant"] = "no" if age > 55 else _pick(rng, {"no": 96, "yes": 2, UNKNOWN: 2})

    kind = _pick(rng, LOCATION_WEIGHTS)
    place = {
        "city": lambda: rng.choice(CITIES),
        "province": lambda: rng.choice(PROVINCES),
        "anywhere": lambda: "anywhere",
        "country": lambda: "China",
        "rather_not_say": lambda: UNKNOWN,
        "skip": lambda: None,
    }[kind]()
    return Persona(
        voice=voice,
        sex=sex,
        relative=relative,
        truth=truth,
        history=history,
        stage_form=stage_form,
        tnm=entry,
        location=place,
        location_kind=kind,
    )


@dataclass
class Plan:
    """One generated screening: the persona and what they will do besides answering."""

    index: int
    seed: int
    persona: Persona
    opening: list[str]  # kinds: "greeting" | "other"
    lower_case: bool = False
    typo_field: str | None = None  # the first answer to this question has a typo
    several_at: str | None = None  # at this question, answer it and the next core facts at once
    several_count: int = 0  # how many facts in that message
    dont_know: tuple[str, ...] = ()  # fields the person does not know (truth "unknown")
    correction: tuple[str, Any] | None = None  # (field, wrong value said first, corrected next turn)
    # After the result, one more message: ("age", wrong age said during the screening; the
    # correction comes after the result), ("recurrent", "yes": it came back), ("location", a city).
    late: tuple[str, Any] | None = None
    offtopic_at: str | None = None  # an off-topic question instead of the first answer to this question
    remark_at: str | None = None  # an unrelated remark instead of the first answer to this question
    button_rate: float = 0.4  # how often a matching button is pressed instead of typing
    skip_rate: float = 0.5  # how often "Skip" is pressed when offered on the third ask
    perturbations: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "seed": self.seed,
            "persona": self.persona.to_dict(),
            "opening": self.opening,
            "lower_case": self.lower_case,
            "typo_field": self.typo_field,
            "several_at": self.several_at,
            "several_count": self.several_count,
            "dont_know": list(self.dont_know),
            "correction": list(self.correction) if self.correction else None,
            "late": list(self.late) if self.late else None,
            "offtopic_at": self.offtopic_at,
            "remark_at": self.remark_at,
            "button_rate": self.button_rate,
            "skip_rate": self.skip_rate,
            "perturbations": list(self.perturbations),
        }
