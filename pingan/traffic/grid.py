"""``grid.reports`` episodes: report lifecycles, risk assessments, repeated family disputes.

A report goes ``reported`` → ``dispatched`` → ``resolved`` → ``closed``; about 7% are reopened
after resolution and resolved again. Most are resolved within 36 h; some only after 48 h (yellow
supervision slip) or 96 h (red slip), a few never within the window.
"""

from __future__ import annotations

from pingan.traffic import camera
from pingan.traffic.clock import DAY, HOUR, into_hours
from pingan.traffic.context import Context, Event
from pingan.traffic.world import Village

CATEGORIES = (
    ("dispute_family", 16), ("dispute_neighbour", 13), ("dispute_land", 10), ("dispute_labour", 6),
    ("hazard", 14), ("special_group_visit", 24), ("other", 17),
)
_CAT_NAMES = [c for c, _ in CATEGORIES]
_CAT_WEIGHTS = [w for _, w in CATEGORIES]
RISK_LEVELS = (("low", 0.86), ("medium", 0.11), ("high", 0.03))

_SURNAMES = "李张王杨赵陈刘罗普施李鲁起字毕"
_TEXT = {
    "dispute_family": ("{v}村民{s}某夫妻因赡养老人问题发生争吵，网格员上门调解",
                       "{v}{s}某家庭因财产分割发生纠纷，情绪激动",
                       "{v}{s}某与子女因宅基地继承产生矛盾"),
    "dispute_neighbour": ("{v}{s}某与邻居因排水沟问题发生纠纷", "{v}两户村民因牲畜损坏庄稼发生口角"),
    "dispute_land": ("{v}{s}某与{t}某因承包地边界发生争议", "{v}村民小组之间因林地权属发生纠纷"),
    "dispute_labour": ("{v}{s}某等{n}名务工人员反映工资被拖欠", "{v}建筑工地农民工讨薪"),
    "hazard": ("{v}村道边坡出现裂缝，存在滑坡隐患", "{v}老旧民房墙体开裂，存在安全隐患", "{v}河道护栏损坏，需尽快修复"),
    "special_group_visit": ("走访{v}独居老人{s}某，身体状况良好", "走访{v}社区矫正对象{s}某，表现稳定",
                            "走访{v}留守儿童家庭，了解学习生活情况"),
    "risk_assessment": ("入户开展矛盾风险评估（{lv}）",),
    "other": ("{v}群众反映路灯不亮", "{v}群众咨询医保缴费政策", "{v}垃圾清运不及时"),
}
_LEVEL_CN = {"low": "绿色", "medium": "黄色", "high": "红色"}


def _describe(ctx: Context, category: str, village: Village, risk: str | None = None) -> str:
    rng = ctx.rng
    template = rng.choice(_TEXT[category])
    return template.format(v=village.name, s=rng.choice(_SURNAMES), t=rng.choice(_SURNAMES),
                           n=rng.randrange(3, 30), lv=_LEVEL_CN.get(risk or "", ""))


def _work(ctx: Context, ts: int) -> int:
    return into_hours(ts, 8, 20, ctx.rng.randrange(60))


def lifecycle(ctx: Context, ts: int, village: Village, category: str, *, household: str | None = None,
              risk: str | None = None, quick: bool = False) -> list[Event]:
    """The events of one report, from ``reported`` at ``ts`` on (later ones may fall past the window)."""
    rng = ctx.rng
    report_id = f"GR-{village.township_code}-{ctx.tag}-{ctx.next_number('report'):06d}"
    common = {
        "report_id": report_id,
        "category": category,
        "grid_id": village.grids[rng.randrange(len(village.grids))],
        "county_code": village.county_code,
        "township_code": village.township_code,
        "village_code": village.code,
        "household_id": household,
        "risk_level": risk,
    }

    def emit(status: str, at: int, **extra) -> Event:
        return ctx.event("grid", at, {**common, "status": status, **extra})

    reporter = "grid_worker" if (quick or rng.random() < 0.75) else "resident"
    events = [emit("reported", ts, reporter=reporter, description=_describe(ctx, category, village, risk))]
    if quick:  # visits and assessments are recorded and closed by the grid worker
        events.append(emit("closed", ts + int(rng.uniform(0.3, 8) * HOUR)))
        return events

    dispatched = max(ts + 300, _work(ctx, ts + int(rng.uniform(0.15, 4) * HOUR)))
    r = rng.random()
    if r < 0.70:
        resolve_after = rng.uniform(2, 36) * HOUR
    elif r < 0.82:
        resolve_after = rng.uniform(36, 47.9) * HOUR
    elif r < 0.92:
        resolve_after = rng.uniform(48.1, 95.9) * HOUR  # yellow slip
    elif r < 0.97:
        resolve_after = rng.uniform(96.1, 160) * HOUR  # red slip
    else:
        resolve_after = None  # still open
    resolved = ts + int(resolve_after) if resolve_after else None
    if resolved is not None and resolved <= dispatched:
        resolved = dispatched + 600
    events.append(emit("dispatched", dispatched))
    if resolved is None:
        return events
    events.append(emit("resolved", resolved))
    last = resolved
    if rng.random() < 0.88:
        last = resolved + int(rng.uniform(0.5, 24) * HOUR)
        events.append(emit("closed", last))
    if rng.random() < 0.07:  # the resident is not satisfied: reopened, resolved and closed again
        reopened = last + int(rng.uniform(2, 72) * HOUR)
        again = reopened + int(rng.uniform(4, 48) * HOUR)
        events.append(emit("reopened", reopened))
        events.append(emit("resolved", again))
        events.append(emit("closed", again + int(rng.uniform(1, 12) * HOUR)))
    return events


def report(ctx: Context, ts: int) -> list[Event]:
    """A dispute, hazard, visit or other report with its lifecycle."""
    rng = ctx.rng
    village = ctx.world.village(rng)
    category = rng.choices(_CAT_NAMES, weights=_CAT_WEIGHTS)[0]
    household = ctx.world.household(rng, village) if category in ("dispute_family", "special_group_visit") else None
    return lifecycle(ctx, ts, village, category, household=household, quick=category == "special_group_visit")


def _risk_level(ctx: Context) -> str:
    r = ctx.rng.random()
    acc = 0.0
    for level, p in RISK_LEVELS:
        acc += p
        if r < acc:
            return level
    return "low"


def risk_assessment(ctx: Context, ts: int) -> list[Event]:
    """A household conflict-risk assessment (green/yellow/red), recorded and closed."""
    village = ctx.world.village(ctx.rng)
    household = ctx.world.household(ctx.rng, village)
    return lifecycle(ctx, ts, village, "risk_assessment", household=household, risk=_risk_level(ctx), quick=True)


def household_disputes(ctx: Context, ts: int) -> list[Event]:
    """One household reported for family disputes 3-4 times within 30 days."""
    rng = ctx.rng
    village = ctx.world.village(rng)
    household = ctx.world.household(rng, village)
    n = rng.choice((3, 3, 3, 4))
    span = ctx.room(ts, 29 * DAY) * rng.uniform(0.3, 1.0)
    starts = sorted([0.0] + [rng.uniform(0, span) for _ in range(n - 1)])
    events: list[Event] = []
    for off in starts:
        events.extend(lifecycle(ctx, ts + int(off), village, "dispute_family", household=household))
    return events


def high_risk_then_stranger(ctx: Context, ts: int) -> list[Event]:
    """A red (high) risk assessment, then a stranger or intrusion in that village, mostly within 24 h."""
    rng = ctx.rng
    village = ctx.world.village(rng)
    household = ctx.world.household(rng, village)
    events = lifecycle(ctx, ts, village, "risk_assessment", household=household, risk="high", quick=True)
    later = rng.uniform(0.5, 23.5) * HOUR if rng.random() < 0.85 else rng.uniform(24.5, 30) * HOUR
    events.append(camera.stranger_in_village(ctx, ts + int(min(later, ctx.room(ts, later))), village))
    return events
