"""``service.records`` episodes: applications at county service halls and online.

A record is ``accepted`` and then ``completed`` (or, rarely, ``rejected``). Most items are
"最多跑一次" (at most one visit) items; hall applicants sometimes still come back twice. About
8% of completed records miss their promised processing time (SLA).
"""

from __future__ import annotations

from dataclasses import dataclass

from pingan.traffic.clock import HOUR
from pingan.traffic.context import Context, Event


@dataclass(frozen=True, slots=True)
class Item:
    department: str
    code: str
    name: str
    sla_hours: float
    one_visit: bool
    online_share: float


CATALOGUE = (
    Item("市场监管局", "SCJG-001", "个体工商户设立登记", 24, True, 0.8),
    Item("市场监管局", "SCJG-014", "食品经营许可", 120, True, 0.6),
    Item("公安局", "GA-003", "居民身份证换领", 240, True, 0.1),
    Item("公安局", "GA-021", "户口迁移", 72, True, 0.3),
    Item("人社局", "RS-008", "社会保障卡申领", 1, True, 0.5),
    Item("人社局", "RS-015", "失业保险金申领", 120, True, 0.7),
    Item("医保局", "YB-002", "异地就医备案", 0.5, True, 0.9),
    Item("民政局", "MZ-001", "婚姻登记", 1, False, 0.0),
    Item("不动产登记中心", "BDC-010", "不动产转移登记", 120, True, 0.4),
    Item("税务局", "SW-005", "增值税发票领用", 2, True, 0.9),
    Item("住建局", "ZJ-004", "建筑工程施工许可", 240, False, 0.6),
    Item("交通运输局", "JT-007", "道路运输证年审", 24, True, 0.5),
    Item("卫健委", "WJ-012", "出生医学证明", 72, True, 0.3),
    Item("自然资源局", "ZR-003", "农村宅基地审批", 480, False, 0.2),
)
_ONLINE_WEIGHTS = [i.online_share for i in CATALOGUE]
_HALL_WEIGHTS = [1 - i.online_share for i in CATALOGUE]
_SATISFACTION = (5, 4, 3, 2, 1)
_SATISFACTION_WEIGHTS = (70, 20, 6, 2, 2)


def record(ctx: Context, ts: int, channel: str) -> list[Event]:
    rng = ctx.rng
    item = rng.choices(CATALOGUE, weights=_ONLINE_WEIGHTS if channel == "online" else _HALL_WEIGHTS)[0]
    county = ctx.world.county(rng)
    township = None
    if channel == "hall" and rng.random() < 0.3:  # a township service centre rather than the county hall
        township = ctx.world.township_of_county(rng, county)
    common = {
        "record_id": f"SV-{county}-{ctx.tag}-{ctx.next_number('record'):07d}",
        "county_code": county,
        "township_code": township,
        "department": item.department,
        "item_code": item.code,
        "item_name": item.name,
        "channel": channel,
        "one_visit_item": item.one_visit,
        "sla_hours": item.sla_hours,
    }
    visits = 0 if channel == "online" else 1
    events = [ctx.event("service", ts, {**common, "status": "accepted", "visits": visits})]
    if rng.random() < 0.03:
        at = ts + int(rng.uniform(0.1, max(0.2, item.sla_hours)) * HOUR)
        events.append(ctx.event("service", at, {**common, "status": "rejected", "visits": visits}))
        return events
    if rng.random() < 0.08:
        elapsed = item.sla_hours * rng.uniform(1.05, 2.5)  # SLA missed
    else:
        elapsed = item.sla_hours * rng.uniform(0.05, 0.97)
    elapsed = round(max(elapsed, 0.02), 2)
    if channel == "hall":
        if item.one_visit:
            visits = rng.choice((2, 2, 3)) if rng.random() < 0.07 else 1
        else:
            visits = rng.choice((1, 2, 2, 3))
    elif rng.random() < 0.08:
        visits = 1  # came to the hall to collect a certificate
    satisfaction = rng.choices(_SATISFACTION, weights=_SATISFACTION_WEIGHTS)[0] if rng.random() < 0.7 else None
    events.append(ctx.event("service", ts + max(1, int(elapsed * HOUR)), {
        **common, "status": "completed", "visits": visits, "elapsed_hours": elapsed, "satisfaction": satisfaction,
    }))
    return events


def hall(ctx: Context, ts: int) -> list[Event]:
    return record(ctx, ts, "hall")


def online(ctx: Context, ts: int) -> list[Event]:
    return record(ctx, ts, "online")
