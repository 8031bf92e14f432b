"""The simulated prefecture: counties, townships, villages, cameras, grids, households, people.

A scaled-down but structurally faithful population built from the real division list: every
village has a few AI cameras and grid cells, households are numbered per village (their ids are
pseudonymous), a watchlist of key persons and vehicles lives in home townships, and some
townships have no fraud at all. Everything is drawn from one seeded ``random.Random``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from pingan.schemas.divisions import Divisions, load_divisions
from pingan.traffic import ids

#: Resident population by county in 10,000s (rounded public figures; ~2.4 million in total).
COUNTY_POPULATION = {
    "532301": 64.0,  # 楚雄市
    "532302": 43.0,  # 禄丰市
    "532322": 13.5,  # 双柏县
    "532323": 17.5,  # 牟定县
    "532324": 20.5,  # 南华县
    "532325": 17.5,  # 姚安县
    "532326": 24.5,  # 大姚县
    "532327": 10.5,  # 永仁县
    "532328": 20.5,  # 元谋县
    "532329": 25.5,  # 武定县
}

TOTAL_HOUSEHOLDS = 820_000

WATCHLISTS = (("key_person", 0.62), ("missing", 0.16), ("wanted", 0.12), ("blacklist_person", 0.10))


@dataclass(frozen=True, slots=True)
class Camera:
    camera_id: str
    county_code: str
    township_code: str
    village_code: str | None  # cameras on roads between villages have none


@dataclass(frozen=True, slots=True)
class Village:
    code: str
    name: str
    township_code: str
    county_code: str
    households: int
    grids: tuple[str, ...]
    cameras: tuple[Camera, ...]


@dataclass(frozen=True, slots=True)
class Person:
    """A watchlisted person: ``person_id`` is the pseudonymous id the face platform reports."""

    person_id: str
    watchlist: str
    township_code: str


@dataclass
class World:
    seed: int
    divisions: Divisions
    villages: list[Village]
    village_weights: list[float]
    villages_by_township: dict[str, list[Village]]
    township_weights: dict[str, float]
    fraud_townships: list[str]
    fraud_township_weights: list[float]
    cameras: list[Camera]
    cameras_by_township: dict[str, list[Camera]]
    persons: list[Person]
    blacklist_plates: list[str]
    county_codes: list[str] = field(default_factory=list)
    county_weights: list[float] = field(default_factory=list)

    # -- choices -------------------------------------------------------------------------
    def village(self, rng: random.Random) -> Village:
        return rng.choices(self.villages, cum_weights=self.village_weights)[0]

    def camera(self, rng: random.Random) -> Camera:
        return self.cameras[rng.randrange(len(self.cameras))]

    def township_camera(self, rng: random.Random, township: str) -> Camera:
        cams = self.cameras_by_township[township]
        return cams[rng.randrange(len(cams))]

    def household(self, rng: random.Random, village: Village) -> str:
        return self.household_id(village.code, rng.randrange(village.households))

    def household_id(self, village_code: str, number: int) -> str:
        digest = hashlib.blake2b(f"{self.seed}:{village_code}:{number}".encode(), digest_size=8).hexdigest()
        return "hh_" + digest

    def fraud_township(self, rng: random.Random) -> str:
        return rng.choices(self.fraud_townships, cum_weights=self.fraud_township_weights)[0]

    def county(self, rng: random.Random) -> str:
        return rng.choices(self.county_codes, cum_weights=self.county_weights)[0]

    def township_of_county(self, rng: random.Random, county: str) -> str:
        townships = [t.code for t in self.divisions.townships_of(county)]
        return townships[rng.randrange(len(townships))]


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def build_world(seed: int, divisions: Divisions | None = None) -> World:
    """The prefecture for ``seed`` (same seed, same world)."""
    rng = random.Random(f"world:{seed}")
    divisions = divisions or load_divisions()
    township_weights: dict[str, float] = {}
    for county, population in COUNTY_POPULATION.items():
        if county not in divisions.counties:
            continue
        townships = sorted(divisions.townships_of(county), key=lambda d: d.code)
        for i, township in enumerate(townships):
            seat = 3.0 if i == 0 else 1.0  # the county seat town is the largest
            township_weights[township.code] = population / len(townships) * seat * rng.lognormvariate(0, 0.35)

    villages_of: dict[str, list] = {}
    for v in divisions.villages.values():
        villages_of.setdefault(v.parent_code, []).append(v)

    villages: list[Village] = []
    weights: list[float] = []
    by_township: dict[str, list[Village]] = {}
    cameras: list[Camera] = []
    cams_by_township: dict[str, list[Camera]] = {}
    camera_seq: dict[str, int] = {}
    total_weight = sum(township_weights.values())
    for township_code in sorted(township_weights):
        county = divisions.townships[township_code].parent_code
        members = sorted(villages_of.get(township_code, []), key=lambda d: d.code)
        grid_no = 0
        shares = [rng.lognormvariate(0, 0.5) for _ in members]
        total = sum(shares) or 1.0
        for division, share in zip(members, shares):
            weight = township_weights[township_code] * share / total
            households = max(80, int(TOTAL_HOUSEHOLDS * weight / total_weight))
            n_grids = max(3, min(60, households // 30))
            grids = tuple(f"G-{township_code}-{grid_no + k + 1:03d}" for k in range(n_grids))
            grid_no += n_grids
            cams = []
            for _ in range(2 + rng.randrange(5)):
                camera_seq[county] = camera_seq.get(county, 0) + 1
                cams.append(Camera(f"CAM-{county}-{camera_seq[county]:06d}", county, township_code, division.code))
            village = Village(division.code, division.name, township_code, county, households, grids, tuple(cams))
            villages.append(village)
            weights.append(weight)
            by_township.setdefault(township_code, []).append(village)
            cameras.extend(cams)
            cams_by_township.setdefault(township_code, []).extend(cams)
        for _ in range(1 + rng.randrange(3)):  # road and town-square cameras without a village
            camera_seq[county] = camera_seq.get(county, 0) + 1
            cam = Camera(f"CAM-{county}-{camera_seq[county]:06d}", county, township_code, None)
            cameras.append(cam)
            cams_by_township.setdefault(township_code, []).append(cam)

    # About one township in six has had no fraud case at all.
    fraud_townships = [t for t in sorted(township_weights) if rng.random() >= 0.16]
    fraud_weights = _cumulative([township_weights[t] for t in fraud_townships])

    township_list = sorted(township_weights)
    township_cum = _cumulative([township_weights[t] for t in township_list])
    persons = []
    for i in range(400):
        name = rng.choices([w for w, _ in WATCHLISTS], weights=[p for _, p in WATCHLISTS])[0]
        home = rng.choices(township_list, cum_weights=township_cum)[0]
        digest = hashlib.blake2b(f"{seed}:person:{i}".encode(), digest_size=6).hexdigest()
        persons.append(Person(f"WP-{digest}", name, home))
    plates = [ids.plate(rng, "云E") if rng.random() < 0.7 else ids.visitor_plate(rng) for _ in range(150)]

    counties = [c for c in COUNTY_POPULATION if c in divisions.counties]
    return World(
        seed=seed,
        divisions=divisions,
        villages=villages,
        village_weights=_cumulative(weights),
        villages_by_township=by_township,
        township_weights=township_weights,
        fraud_townships=fraud_townships,
        fraud_township_weights=fraud_weights,
        cameras=cameras,
        cameras_by_township=cams_by_township,
        persons=persons,
        blacklist_plates=plates,
        county_codes=counties,
        county_weights=_cumulative([COUNTY_POPULATION[c] for c in counties]),
    )
