"""The administrative divisions of Chuxiong (package data copied from shared/data).

Codes are the public statistical division codes: county 6 digits, township 9, village 12.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Division:
    level: str  # county | township | village
    code: str
    name: str
    parent_code: str


@dataclass(frozen=True)
class Divisions:
    counties: dict[str, Division]
    townships: dict[str, Division]
    villages: dict[str, Division]

    def townships_of(self, county_code: str) -> list[Division]:
        return [d for d in self.townships.values() if d.parent_code == county_code]

    def county_name(self, code: str) -> str:
        return self.counties[code].name

    def find_county(self, text: str) -> Division | None:
        """A county by code or by its Chinese name (with or without 市/县)."""
        if text in self.counties:
            return self.counties[text]
        for division in self.counties.values():
            if text in (division.name, division.name[:-1]):
                return division
        return None


def parse_divisions(text: str) -> Divisions:
    levels: dict[str, dict[str, Division]] = {"county": {}, "township": {}, "village": {}}
    for row in csv.DictReader(io.StringIO(text)):
        division = Division(row["level"], row["code"], row["name"], row["parent_code"])
        levels[division.level][division.code] = division
    return Divisions(levels["county"], levels["township"], levels["village"])


@lru_cache(maxsize=1)
def load_divisions() -> Divisions:
    """The packaged division list (loaded once, on first use)."""
    text = resources.files("pingan.schemas").joinpath("divisions.csv").read_text(encoding="utf-8")
    return parse_divisions(text)
