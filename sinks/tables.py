"""Rows -> JSONEachRow bytes for each table: the one mapping from internal dicts to columns.

Both backends write the same bytes (chDB with ``INSERT ... FORMAT JSONEachRow``, a server through
clickhouse-connect's raw insert), so a table's columns are defined here once. The mapping also is
the storage privacy guard: victim ID numbers and phones must already be pseudonyms (anything else
is dropped, never stored), and free text (descriptions, unknown extra fields, dead-letter bodies)
has national ID numbers and mobile numbers redacted.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

REDACTED = "[redacted]"
_PSEUDONYM = re.compile(r"^p_[0-9a-f]{32}$")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\- ]?)?1[3-9]\d(?:[\- ]?\d{4}){2}(?!\d)")
_PERSONAL_JSON_VALUE = re.compile(r'("victim_(?:id_number|phone)"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\]\s]+)')


def scrub_text(text: str) -> str:
    """Redact national ID numbers and mobile phone numbers (and any personal JSON field value)."""
    text = _PERSONAL_JSON_VALUE.sub(lambda m: m.group(1) + '"' + REDACTED + '"', text)
    text = _ID_NUMBER.sub(REDACTED, text)
    return _MOBILE.sub(REDACTED, text)


def _pseudonym_only(value: Any) -> str | None:
    """A personal field is stored only when it is a keyed pseudonym (``p_`` + 32 hex)."""
    if value is None:
        return None
    value = str(value)
    return value if _PSEUDONYM.match(value) else None


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _extra(value: Any) -> str:
    if not value:
        return "{}"
    return scrub_text(orjson.dumps(value, default=str).decode("utf-8"))


def _text(value: Any) -> str | None:
    return None if value is None else scrub_text(str(value))


def _decimal(value: Any) -> str | None:
    if value is None:
        return None
    return str(value if isinstance(value, Decimal) else Decimal(str(value)))


def _b64_text(value: str | None) -> tuple[str | None, int]:
    if value is None:
        return None, 0
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        raw = value.encode("utf-8", "replace")
    return scrub_text(raw[:65536].decode("utf-8", "replace")), len(raw)


_GEO = ("event_id", "county_code", "county_name", "township_code", "township_name")


def _camera(e: dict[str, Any]) -> dict[str, Any]:
    g = e.get
    return {
        "event_id": e["event_id"], "ts": _epoch(e["ts"]), "county_code": e["county_code"],
        "county_name": g("county_name") or "", "township_code": g("township_code") or "",
        "township_name": g("township_name") or "", "village_code": g("village_code"),
        "village_name": g("village_name"), "camera_id": g("camera_id"), "kind": g("kind"),
        "person_id": g("person_id"), "watchlist": g("watchlist"), "plate": g("plate"),
        "confidence": g("confidence"), "image_ref": g("image_ref"), "extra": _extra(g("extra")),
    }


def _grid(e: dict[str, Any]) -> dict[str, Any]:
    g = e.get
    return {
        "event_id": e["event_id"], "ts": _epoch(e["ts"]), "county_code": e["county_code"],
        "county_name": g("county_name") or "", "township_code": g("township_code") or "",
        "township_name": g("township_name") or "", "village_code": g("village_code"),
        "village_name": g("village_name"), "report_id": g("report_id"), "status": g("status"),
        "category": g("category"), "grid_id": g("grid_id"), "household_id": g("household_id"),
        "risk_level": g("risk_level"), "reporter": g("reporter"), "description": _text(g("description")),
        "extra": _extra(g("extra")),
    }


def _fraud(e: dict[str, Any]) -> dict[str, Any]:
    g = e.get
    return {
        "event_id": e["event_id"], "ts": _epoch(e["ts"]), "county_code": e["county_code"],
        "county_name": g("county_name") or "", "township_code": g("township_code") or "",
        "township_name": g("township_name") or "", "case_id": g("case_id"), "status": g("status"),
        "fraud_type": g("fraud_type"), "loss_yuan": _decimal(g("loss_yuan")), "victim_age": g("victim_age"),
        "victim_id_number": _pseudonym_only(g("victim_id_number")),
        "victim_phone": _pseudonym_only(g("victim_phone")), "channel": g("channel"),
        "extra": _extra(g("extra")),
    }


def _service(e: dict[str, Any]) -> dict[str, Any]:
    g = e.get
    return {
        "event_id": e["event_id"], "ts": _epoch(e["ts"]), "county_code": e["county_code"],
        "county_name": g("county_name") or "", "township_code": g("township_code"),
        "township_name": g("township_name"), "record_id": g("record_id"), "status": g("status"),
        "department": g("department"), "item_code": g("item_code"), "item_name": g("item_name"),
        "channel": g("channel"), "one_visit_item": g("one_visit_item"), "visits": g("visits"),
        "sla_hours": g("sla_hours"), "elapsed_hours": g("elapsed_hours"), "satisfaction": g("satisfaction"),
        "extra": _extra(g("extra")),
    }


def _alert(a: dict[str, Any]) -> dict[str, Any]:
    g = a.get
    return {
        "alert_id": a["alert_id"], "rule_id": a["rule_id"], "rule_version": str(g("rule_version") or ""),
        "severity": a["severity"], "key": str(g("key") or ""), "ts": _epoch(a["ts"]),
        "county_code": a["county_code"], "county_name": g("county_name"), "township_code": g("township_code"),
        "township_name": g("township_name"), "village_code": g("village_code"), "title": g("title") or "",
        "evidence": list(g("evidence") or ()),
        "figures": orjson.dumps(g("figures") or {}, default=str).decode("utf-8"),
        "labels": {str(k): str(v) for k, v in (g("labels") or {}).items()}, "domain": g("domain"),
        "status": g("status") or "enabled", "topics": list(g("topics") or ("alerts",)),
    }


def _deadletter(d: dict[str, Any]) -> dict[str, Any]:
    value_text, size = _b64_text(d.get("value_b64"))
    key_text, _ = _b64_text(d.get("key_b64"))
    return {
        "reason": scrub_text(str(d["reason"])), "details": [scrub_text(str(x)) for x in d.get("details") or ()],
        "topic": d["topic"], "partition": int(d["partition"]), "offset": int(d["offset"]),
        "key_text": key_text, "value_text": value_text or "", "value_bytes": size,
        "received_at": _epoch(d["received_at"]),
    }


#: table -> row mapper (the explicit registry of writable tables).
ROW_MAPPERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "events_camera": _camera,
    "events_grid": _grid,
    "events_fraud": _fraud,
    "events_service": _service,
    "alerts": _alert,
    "deadletters": _deadletter,
}

#: stream name (schemas.events.STREAMS values) -> raw table.
EVENT_TABLES: dict[str, str] = {
    "camera": "events_camera",
    "grid": "events_grid",
    "fraud": "events_fraud",
    "service": "events_service",
}


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot store a {type(value).__name__}")


def encode_rows(table: str, rows: Iterable[dict[str, Any]]) -> bytes:
    """JSONEachRow bytes of ``rows`` mapped to ``table``'s columns."""
    mapper = ROW_MAPPERS[table]
    dumps = orjson.dumps
    return b"\n".join([dumps(mapper(row), default=_default) for row in rows]) + b"\n"
