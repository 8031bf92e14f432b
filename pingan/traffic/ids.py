"""Plausible personal identifiers for synthetic victims and vehicles (never real people).

- national ID numbers (GB 11643-1999): 6-digit region code, birth date, 3-digit sequence (odd for
  men, even for women) and the ISO 7064 MOD 11-2 check digit;
- mobile phone numbers with the prefixes of the three Chinese carriers;
- licence plates: Chuxiong vehicles are 云E, visitors come from Kunming (云A) and neighbouring
  provinces.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"

_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "173", "177", "180", "181", "182", "183",
    "185", "186", "187", "188", "189", "191", "198", "199",
)
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, O
_PLATE_CHARS = _PLATE_LETTERS + "0123456789" * 3  # digits are more common
VISITOR_PREFIXES = ("云A", "云A", "云A", "云D", "云K", "云F", "云H", "川A", "川D", "贵A", "渝B", "粤B", "湘A")


def id_check_digit(first17: str) -> str:
    """The 18th character of a national ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def id_number_valid(number: str) -> bool:
    return (
        len(number) == 18
        and number[:17].isdigit()
        and id_check_digit(number[:17]) == number[17]
    )


def national_id(rng: random.Random, region: str, age: int, on: date) -> str:
    """An 18-char ID number of a person of ``age`` on ``on`` registered in ``region`` (6 digits)."""
    birth = on - timedelta(days=365 * age + rng.randrange(365) + age // 4)
    sequence = f"{rng.randrange(1000):03d}"
    first17 = f"{region}{birth:%Y%m%d}{sequence}"
    return first17 + id_check_digit(first17)


def mobile_phone(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"


def plate(rng: random.Random, prefix: str = "云E") -> str:
    return prefix + rng.choice(_PLATE_LETTERS) + "".join(rng.choice(_PLATE_CHARS) for _ in range(4))


def visitor_plate(rng: random.Random) -> str:
    return plate(rng, rng.choice(VISITOR_PREFIXES))
