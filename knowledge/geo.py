"""Where the patient is, and which trial sites are nearest.

A city is enough: the patient side names a city from vocabulary/cities.yaml,
trial sites carry coordinates, and sites are ordered by great-circle distance.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

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
        for term in [entry["name"], *entry.get("aliases", [])]:
            pairs.append((term, city))
    return pairs


def city(text: str) -> City | None:
    """The city named in ``text`` ("I live in Shanghai" -> Shanghai), or None."""
    found = next(vocab.find_terms(text, _cities()), None)
    return found[3] if found else None


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
