"""Broken messages of the kinds upstream systems really send; each breaks the contract once.

Each maker takes a recent valid event (topic, JSON object) and returns the raw bytes of a broken
variant with a fresh ``event_id``. The kinds, by weight: truncated JSON, GBK instead of UTF-8, a
number sent as a string, a timestamp without offset, a township outside its county, an enum value
outside its list, a missing required field, an unknown county code, an empty or non-object body.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson

from pingan.traffic.world import World

Maker = Callable[[random.Random, World, str, dict[str, Any]], bytes]


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def bad_json(rng: random.Random, world: World, stream: str, ev: dict) -> bytes:
    raw = _dumps(ev)
    choice = rng.randrange(3)
    if choice == 0:
        return raw[: rng.randrange(5, max(6, len(raw) - 2))]  # truncated
    if choice == 1:
        return raw.replace(b'"', b"'")  # Python repr instead of JSON
    return raw[:-1] + b',}'  # trailing comma


def not_utf8(rng: random.Random, world: World, stream: str, ev: dict) -> bytes:
    ev = dict(ev)
    if not any(isinstance(v, str) and not v.isascii() for v in ev.values()):
        ev["remark"] = "系统补录"  # a legacy system adds a Chinese remark
    raw = orjson.dumps(ev).decode("utf-8").encode("gbk")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return raw[:-1] + b'\xff}'  # GBK bytes that happen to be valid UTF-8: add a stray byte


_NUMERIC = {"camera": "confidence", "fraud": "loss_yuan", "service": "visits", "grid": None}


def number_as_string(rng: random.Random, world: World, stream: str, ev: dict) -> bytes:
    ev = dict(ev)
    name = _NUMERIC[stream]
    if name is None:  # grid reports have no numbers: a data-entry tool quotes the code instead
        ev["county_code"] = int(ev["county_code"])
    elif name in ev:
        ev[name] = str(ev[name])
    else:
        ev[name] = {"confidence": "0.9", "loss_yuan": "1200.00", "visits": "1"}[name]
    return _dumps(ev)


def ts_without_offset(rng: random.Random, world: World, stream: str, ev: dict) -> bytes:
    ev = dict(ev)
    ev["ts"] = ev["ts"][:19] if rng.random() < 0.7 else ev["ts"][:19].replace("T", " ")
    return _dumps(ev)


def township_outside_county(rng: random.Random, world: World, stream: str, ev: dict) -> bytes:
    ev = dict(ev)
    county = ev["county_code"]
    others = [t for t in world.township_weights if not t.startswith(county)]
    ev["township_code"] = rng.choice(others)
    ev.pop("village_code", None) if stream != "grid" else None
    return _dumps(ev)


_ENUMS = {
    "camera": ("kind", ("smoke", "face", "crowd_gathering", "OFFLINE")),
    "grid": ("status", ("pending", "done", "escalated", "Reported")),
    "fraud": ("channel", ("wechat", "qq", "telephone")),
    "service": ("channel", ("mobile_app", "window", "Online")),
}


def unknown_enum(rng: random.Random, world: World, stream: str, ev: dict) -> bytes:
    ev = dict(ev)
    name, values = _ENUMS[stream]
    ev[name] = rng.choice(values)
    return _dumps(ev)


_REQUIRED = {"camera": "township_code", "grid": "village_code", "fraud": "township_code", "service": "county_code"}


def missing_required(rng: random.Random, world: World, stream: str, ev: dict) -> bytes:
    ev = dict(ev)
    if stream == "camera" and ev.get("kind") == "face_match":
        ev.pop("person_id", None)
    else:
        ev.pop(_REQUIRED[stream], None)
    return _dumps(ev)


def unknown_county(rng: random.Random, world: World, stream: str, ev: dict) -> bytes:
    ev = dict(ev)
    ev["county_code"] = rng.choice(("532399", "530102", "532300"))
    return _dumps(ev)


def not_an_object(rng: random.Random, world: World, stream: str, ev: dict) -> bytes:
    return rng.choice((b"", b"null", b"[]", _dumps([ev]), b"\x00\x01\x02"))


#: kind -> (maker, weight); explicit registry.
KINDS: dict[str, tuple[Maker, float]] = {
    "bad_json": (bad_json, 3),
    "not_utf8": (not_utf8, 2),
    "number_as_string": (number_as_string, 3),
    "ts_without_offset": (ts_without_offset, 3),
    "township_outside_county": (township_outside_county, 2),
    "unknown_enum": (unknown_enum, 3),
    "missing_required": (missing_required, 2),
    "unknown_county": (unknown_county, 1),
    "not_an_object": (not_an_object, 1),
}
_NAMES = list(KINDS)
_WEIGHTS = [w for _, w in KINDS.values()]


def make_invalid(rng: random.Random, world: World, stream: str, ev: dict[str, Any]) -> tuple[str, bytes]:
    """A broken variant of ``ev`` (already carrying its new ``event_id``): (kind, raw bytes)."""
    kind = rng.choices(_NAMES, weights=_WEIGHTS)[0]
    return kind, KINDS[kind][0](rng, world, stream, ev)
