"""Where the patient is, and which trial sites are nearest.

A city is enough: the patient side names a city from vocabulary/cities.yaml,
trial sites carry coordinates, and sites are ordered by great-circle distance.
A province stands for its capital; a country, "anywhere" or "I can travel" is
an answer that orders nothing; "rather not say" leaves it unknown
(``place``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TypeVar

from . import vocab

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class City:
    name: str
    country: str
    lat: float
    lon: float


@functools.lru_cache(maxsize=None)
def _cities() -> list[tuple[str, City]]:
    pairs = []
    for entry in vocab.load("cities")["cities"]:
        city = City(entry["name"], entry["country"], entry["lat"], entry["lon"])
        for term in [entry["name"], *([entry["name_zh"]] if entry.get("name_zh") else []), *entry.get("aliases", [])]:
            pairs.append((term, city))
    return pairs


@functools.lru_cache(maxsize=None)
def _exact_case() -> frozenset[str]:
    """Names matched only as written: cities that are also common words ("Mobile"), and
    abbreviations in capitals ("UK", "US"), so "I'm mobile" or "tell us" name no place."""
    data = vocab.load("cities")
    words = {e["name"] for e in data["cities"] if e.get("exact_case")}
    words |= {c for c in data.get("countries", []) if c.isupper()}
    return frozenset(words)


_V = TypeVar("_V")


def _find(text: str, pairs: list[tuple[str, _V]]) -> _V | None:
    exact = _exact_case()
    for _start, _end, matched, value in vocab.find_terms(text, pairs):
        if matched in exact or not any(matched.lower() == e.lower() for e in exact):
            return value
    return None


def city(text: str) -> City | None:
    """The city named in ``text`` ("I live in Shanghai" -> Shanghai), or None."""
    return _find(text, _cities())


@dataclass(frozen=True)
class Place:
    """An answer to "where do you live, or could you travel to?".

    ``kind`` is city | province | country | anywhere | declined; ``origin`` is the
    point sites are ordered from (None: no ordering); ``name`` is what the slot keeps.
    """

    kind: str
    name: str
    origin: City | None = None


@functools.lru_cache(maxsize=None)
def _provinces() -> list[tuple[str, City]]:
    by_name = {c.name: c for _, c in _cities()}
    return [
        (term, by_name[p["capital"]])
        for p in vocab.load("cities").get("provinces", [])
        for term in [p["name"], *([p["name_zh"]] if p.get("name_zh") else []), *p.get("aliases", [])]
    ]


def _province_name(capital: City) -> str:
    return next(p["name"] for p in vocab.load("cities").get("provinces", []) if p["capital"] == capital.name)


def _countries() -> list[tuple[str, str]]:
    data = vocab.load("cities")
    return [(c, c) for c in data.get("countries", [])] + [(z, en) for z, en in (data.get("countries_zh") or {}).items()]


def label(name: str | None, language: str | None = "en") -> str:
    """A stored location (a city, province or country name) as a person of ``language`` reads it."""
    if not name or language != "zh":
        return name or ""
    data = vocab.load("cities")
    for entry in [*data["cities"], *data.get("provinces", [])]:
        if entry["name"] == name and entry.get("name_zh"):
            return entry["name_zh"]
    zh: dict[str, str] = {}
    for z, en in (data.get("countries_zh") or {}).items():
        zh.setdefault(en, z)  # the first Chinese name of a country is how it is said
    return {"anywhere": "不限地点", "unknown": "未知"}.get(name, zh.get(name, name))


def _phrases(key: str) -> list[tuple[str, str]]:
    return [(str(p), key) for p in vocab.load("cities").get(key, [])]


def place(text: str) -> Place | None:
    """The place an answer names, or what it says instead of a place; None when neither.

    "Guangzhou" -> city; "Guangdong" -> province (ordered from Guangzhou);
    "anywhere in China is fine" / "I can travel" -> anywhere; "China" -> country;
    "rather not say" -> declined.
    """
    found = city(text)
    if found is not None:
        return Place("city", found.name, found)
    capital = _find(text, _provinces())
    if capital is not None:
        return Place("province", _province_name(capital), capital)
    if _find(text, _phrases("rather_not_say")):
        return Place("declined", "unknown")
    if _find(text, _phrases("anywhere")):
        return Place("anywhere", "anywhere")
    country = _find(text, _countries())
    if country is not None:
        return Place("country", str(country))
    return None


def origin(location: str | None) -> City | None:
    """The point to order sites from for a stored location (a city or province name)."""
    if not location:
        return None
    found = place(location)
    return found.origin if found else None


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def nearest_first(sites: list[dict], origin: City | None) -> list[dict]:
    """Sites ordered nearest first, each with ``distance_km`` (None when unknown).

    Sites without coordinates keep their order after the located ones.
    """
    if origin is None:
        return [dict(site, distance_km=None) for site in sites]
    located, unlocated = [], []
    for site in sites:
        if site.get("lat") is None or site.get("lon") is None:
            unlocated.append(dict(site, distance_km=None))
        else:
            km = distance_km(origin.lat, origin.lon, site["lat"], site["lon"])
            located.append(dict(site, distance_km=round(km)))
    return sorted(located, key=lambda s: s["distance_km"]) + unlocated
