"""``fraud.cases`` episodes: telecom and elderly fraud, clusters in a township, repeat victims.

A case is ``reported`` → ``investigating`` → (``solved``) → ``closed``. Victims carry a plausible
18-char national ID number (region = county of registration, birth date = age) and a mobile
number; both are personal data that Pingan pseudonymises at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pingan.traffic import ids
from pingan.traffic.clock import CST, DAY, HOUR
from pingan.traffic.context import Context, Event

FRAUD_TYPES = (("telecom", 45), ("elderly_care", 14), ("investment", 12), ("impersonation", 16),
               ("romance", 5), ("other", 8))
_TYPES = [t for t, _ in FRAUD_TYPES]
_TYPE_WEIGHTS = [w for _, w in FRAUD_TYPES]
_CHANNELS = {
    "telecom": (("phone", 55), ("sms", 25), ("online", 20)),
    "elderly_care": (("in_person", 60), ("phone", 30), ("online", 10)),
    "investment": (("online", 70), ("phone", 30)),
    "impersonation": (("phone", 60), ("online", 30), ("sms", 10)),
    "romance": (("online", 100),),
    "other": (("phone", 30), ("online", 30), ("in_person", 30), ("sms", 10)),
}


@dataclass(frozen=True, slots=True)
class Victim:
    age: int
    id_number: str
    phone: str
    county_code: str


def _age(ctx: Context, fraud_type: str) -> int:
    rng = ctx.rng
    if fraud_type == "elderly_care" or rng.random() < 0.28:
        return min(95, 60 + int(abs(rng.gauss(0, 9))))
    return rng.randint(18, 59)


def victim(ctx: Context, ts: int, county: str, fraud_type: str) -> Victim:
    age = _age(ctx, fraud_type)
    on = datetime.fromtimestamp(ts, CST).date()
    return Victim(age, ids.national_id(ctx.rng, county, age, on), ids.mobile_phone(ctx.rng), county)


def _loss(ctx: Context) -> float:
    rng = ctx.rng
    if rng.random() < 0.04:  # major case
        amount = rng.uniform(100_000, 900_000)
    else:
        amount = min(99_999.0, rng.lognormvariate(8.8, 1.2))  # median ~6,600 yuan
    if rng.random() < 0.5:
        return float(round(amount))
    return round(amount, 2)


def case(ctx: Context, ts: int, *, township: str | None = None, who: Victim | None = None) -> list[Event]:
    rng = ctx.rng
    world = ctx.world
    township = township or world.fraud_township(rng)
    county = world.divisions.townships[township].parent_code
    fraud_type = rng.choices(_TYPES, weights=_TYPE_WEIGHTS)[0]
    known = who is not None  # a repeat victim is always identified by ID number
    if known and who.age < 60 and fraud_type == "elderly_care":
        fraud_type = "telecom"  # elderly-care fraud targets people of 60 and over
    who = who or victim(ctx, ts, county, fraud_type)
    channels = _CHANNELS[fraud_type]
    common = {
        "case_id": f"FC-{county}-{ctx.tag}-{ctx.next_number('case'):06d}",
        "fraud_type": fraud_type,
        "county_code": county,
        "township_code": township,
        "loss_yuan": _loss(ctx),
        "victim_age": who.age,
        "victim_id_number": who.id_number if known or rng.random() < 0.9 else None,
        "victim_phone": who.phone if rng.random() < 0.85 else None,
        "channel": rng.choices([c for c, _ in channels], weights=[w for _, w in channels])[0],
    }
    events = [ctx.event("fraud", ts, {**common, "status": "reported"})]
    t = ts + int(rng.uniform(1, 48) * HOUR)
    events.append(ctx.event("fraud", t, {**common, "status": "investigating"}))
    r = rng.random()
    if r < 0.3:
        t += int(rng.uniform(3, 40) * DAY)
        events.append(ctx.event("fraud", t, {**common, "status": "solved"}))
        events.append(ctx.event("fraud", t + int(rng.uniform(1, 10) * DAY), {**common, "status": "closed"}))
    elif r < 0.5:
        events.append(ctx.event("fraud", t + int(rng.uniform(20, 60) * DAY), {**common, "status": "closed"}))
    return events


def single(ctx: Context, ts: int) -> list[Event]:
    return case(ctx, ts)


def cluster(ctx: Context, ts: int) -> list[Event]:
    """3-5 cases reported in one township within a day (a fraud ring working the area)."""
    rng = ctx.rng
    township = ctx.world.fraud_township(rng)
    n = rng.choice((3, 3, 4, 5))
    span = ctx.room(ts, 22 * HOUR) * rng.uniform(0.2, 1.0)
    events: list[Event] = []
    for off in sorted([0.0] + [rng.uniform(0, span) for _ in range(n - 1)]):
        events.extend(case(ctx, ts + int(off), township=township))
    return events


def repeat_victim(ctx: Context, ts: int) -> list[Event]:
    """The same person defrauded again (2 or 3 cases) within 90 days."""
    rng = ctx.rng
    township = ctx.world.fraud_township(rng)
    county = ctx.world.divisions.townships[township].parent_code
    who = victim(ctx, ts, county, "elderly_care" if rng.random() < 0.5 else "telecom")
    n = 3 if rng.random() < 0.2 else 2
    span = ctx.room(ts, 85 * DAY) * rng.uniform(0.2, 1.0)
    events: list[Event] = []
    for off in sorted([0.0] + [rng.uniform(0, span) for _ in range(n - 1)]):
        events.extend(case(ctx, ts + int(off), township=township, who=who))
    return events
