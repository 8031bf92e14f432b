"""The four input events, exactly as ../shared/contract/events.md fixes them.

Types are strict: a number sent as a string, a timestamp without an offset, an enum value outside
its list or a township outside its county makes the message invalid. Unknown extra fields are kept
(``model_extra``) but ignored by rules.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from pingan.schemas.divisions import load_divisions

EventId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CountyCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
TownshipCode = Annotated[str, StringConstraints(pattern=r"^\d{9}$")]
VillageCode = Annotated[str, StringConstraints(pattern=r"^\d{12}$")]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
#: ClickHouse stores losses as Decimal(18, 2); anything from 10^16 yuan up is a data error.
MAX_LOSS_YUAN = Decimal(10) ** 16


class _Event(BaseModel):
    """Fields and checks common to every input event."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    event_id: EventId
    ts: AwareDatetime
    county_code: CountyCode

    @model_validator(mode="after")
    def _check_divisions(self) -> _Event:
        divisions = load_divisions()
        if self.county_code not in divisions.counties:
            raise ValueError(f"unknown county_code {self.county_code!r}")
        township = getattr(self, "township_code", None)
        if township is not None:
            found = divisions.townships.get(township)
            if found is None:
                raise ValueError(f"unknown township_code {township!r}")
            if found.parent_code != self.county_code:
                raise ValueError(f"township_code {township!r} is not in county {self.county_code!r}")
        village = getattr(self, "village_code", None)
        if village is not None:
            found = divisions.villages.get(village)
            if found is None:
                raise ValueError(f"unknown village_code {village!r}")
            if township is None or found.parent_code != township:
                raise ValueError(f"village_code {village!r} is not in township {township!r}")
        return self


CameraKind = Literal["face_match", "plate_match", "stranger", "unknown_vehicle", "intrusion", "offline", "online"]


class CameraAlert(_Event):
    """``camera.alerts``: face/plate watchlist hits, strangers, intrusions, camera status."""

    camera_id: str | None = None
    township_code: TownshipCode
    village_code: VillageCode | None = None
    kind: CameraKind | None = None
    person_id: str | None = None
    watchlist: str | None = None
    plate: str | None = None
    confidence: Probability | None = None
    image_ref: str | None = None

    @model_validator(mode="after")
    def _check_kind(self) -> CameraAlert:
        if self.kind == "face_match":
            if self.person_id is None:
                raise ValueError("person_id is required for kind face_match")
            if self.confidence is None:
                raise ValueError("confidence is required for kind face_match")
        elif self.kind == "plate_match":
            if self.plate is None:
                raise ValueError("plate is required for kind plate_match")
            if self.confidence is None:
                raise ValueError("confidence is required for kind plate_match")
        return self


GridStatus = Literal["reported", "dispatched", "resolved", "closed", "reopened"]
GridCategory = Literal[
    "dispute_family",
    "dispute_neighbour",
    "dispute_land",
    "dispute_labour",
    "hazard",
    "special_group_visit",
    "risk_assessment",
    "other",
]


class GridReport(_Event):
    """``grid.reports``: one event of a report's life (reported → dispatched → resolved → closed)."""

    report_id: str | None = None
    status: GridStatus | None = None
    category: GridCategory | None = None
    grid_id: str | None = None
    township_code: TownshipCode
    village_code: VillageCode
    household_id: str | None = None
    risk_level: Literal["low", "medium", "high"] | None = None
    reporter: Literal["grid_worker", "resident"] | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _check_risk(self) -> GridReport:
        if self.category == "risk_assessment" and self.risk_level is None:
            raise ValueError("risk_level is required when category is risk_assessment")
        return self


class FraudCase(_Event):
    """``fraud.cases``: telecom and elderly fraud cases. ID numbers and phones are personal data."""

    case_id: str | None = None
    status: Literal["reported", "investigating", "solved", "closed"] | None = None
    fraud_type: Literal["telecom", "elderly_care", "investment", "impersonation", "romance", "other"] | None = None
    township_code: TownshipCode
    loss_yuan: Decimal | None = None
    victim_age: Annotated[int, Field(ge=0, le=120)] | None = None
    victim_id_number: Annotated[str, StringConstraints(pattern=r"^\d{17}[\dX]$")] | None = None
    victim_phone: Annotated[str, StringConstraints(pattern=r"^\+?[\d\- ]{5,20}$")] | None = None
    channel: Literal["phone", "sms", "online", "in_person"] | None = None

    @field_validator("loss_yuan", mode="before")
    @classmethod
    def _money(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("loss_yuan must be a JSON number")
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not amount.is_finite() or amount >= MAX_LOSS_YUAN:
            raise ValueError(f"loss_yuan must be below {MAX_LOSS_YUAN:,}")
        if amount < 0:
            raise ValueError("loss_yuan must be >= 0")
        if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):
            raise ValueError("loss_yuan has more than two decimals")
        return amount.quantize(Decimal("0.01"))


class ServiceRecord(_Event):
    """``service.records``: one application (matter) at a service hall or online."""

    record_id: str | None = None
    status: Literal["accepted", "completed", "rejected"] | None = None
    township_code: TownshipCode | None = None
    department: str | None = None
    item_code: str | None = None
    item_name: str | None = None
    channel: Literal["online", "hall"] | None = None
    one_visit_item: bool | None = None
    visits: Annotated[int, Field(ge=0)] | None = None
    sla_hours: NonNegative | None = None
    elapsed_hours: NonNegative | None = None
    satisfaction: Annotated[int, Field(ge=1, le=5)] | None = None

    @model_validator(mode="after")
    def _check_completed(self) -> ServiceRecord:
        if self.status == "completed" and self.elapsed_hours is None:
            raise ValueError("elapsed_hours is required when status is completed")
        return self


#: topic name -> model; the topic names are fixed by the contract.
EVENT_MODELS: dict[str, type[_Event]] = {
    "camera.alerts": CameraAlert,
    "grid.reports": GridReport,
    "fraud.cases": FraudCase,
    "service.records": ServiceRecord,
}

#: short stream names used in rule files and table names.
STREAMS: dict[str, str] = {
    "camera.alerts": "camera",
    "grid.reports": "grid",
    "fraud.cases": "fraud",
    "service.records": "service",
}
