"""``camera.alerts`` episodes: watchlist hits, strangers, night bursts, intrusions, offline cameras."""

from __future__ import annotations

from pingan.traffic import ids
from pingan.traffic.clock import HOUR
from pingan.traffic.context import Context, Event
from pingan.traffic.world import Camera, Person

MIN = 60


def _camera_fields(cam: Camera) -> dict:
    return {
        "camera_id": cam.camera_id,
        "county_code": cam.county_code,
        "township_code": cam.township_code,
        "village_code": cam.village_code,
    }


def _snapshot(cam: Camera, ts: int, n: int) -> str:
    return f"snap://{cam.county_code}/{cam.camera_id}/{ts}-{n}.jpg"


def _confidence(ctx: Context, mean: float, sd: float) -> float:
    return round(min(0.999, max(0.5, ctx.rng.gauss(mean, sd))), 3)


def sighting(ctx: Context, ts: int, cam: Camera, kind: str, **fields) -> Event:
    body = _camera_fields(cam)
    body["kind"] = kind
    body.update(fields)
    if kind not in ("offline", "online"):
        body["image_ref"] = _snapshot(cam, ts, ctx.next_number("snap"))
    return ctx.event("camera", ts, body)


def _stranger_fields(ctx: Context, kind: str) -> dict:
    if kind == "unknown_vehicle" and ctx.rng.random() < 0.75:
        return {"plate": ids.visitor_plate(ctx.rng)}
    return {}


def background(ctx: Context, ts: int) -> list[Event]:
    """A single stranger or unknown vehicle seen entering a village."""
    rng = ctx.rng
    cam = ctx.world.camera(rng)
    kind = "stranger" if rng.random() < 0.6 else "unknown_vehicle"
    return [sighting(ctx, ts, cam, kind, **_stranger_fields(ctx, kind))]


def _person_camera(ctx: Context, person: Person) -> Camera:
    rng = ctx.rng
    if rng.random() < 0.75:
        return ctx.world.township_camera(rng, person.township_code)
    return ctx.world.camera(rng)


_FACE_MEAN = {"wanted": (0.895, 0.045), "key_person": (0.87, 0.06), "missing": (0.86, 0.06)}


def face_match(ctx: Context, ts: int) -> list[Event]:
    """One watchlist face hit; confidence scattered around the 0.85 and 0.90 thresholds."""
    rng = ctx.rng
    person = ctx.world.persons[rng.randrange(len(ctx.world.persons))]
    mean, sd = _FACE_MEAN.get(person.watchlist, (0.86, 0.06))
    cam = _person_camera(ctx, person)
    return [sighting(ctx, ts, cam, "face_match", person_id=person.person_id, watchlist=person.watchlist,
                     confidence=_confidence(ctx, mean, sd))]


def face_trail(ctx: Context, ts: int) -> list[Event]:
    """The same person on 2-4 cameras of a township, mostly within 30 minutes."""
    rng = ctx.rng
    person = ctx.world.persons[rng.randrange(len(ctx.world.persons))]
    cams = ctx.world.cameras_by_township[person.township_code]
    n = rng.choice((2, 2, 2, 3, 3, 4))
    span = rng.uniform(3, 29) * MIN if rng.random() < 0.75 else rng.uniform(29.5, 45) * MIN
    offsets = sorted([0.0, span] + [rng.uniform(0, span) for _ in range(n - 2)])
    mean, sd = _FACE_MEAN.get(person.watchlist, (0.86, 0.06))
    events = []
    last = None
    for off in offsets:
        cam = cams[rng.randrange(len(cams))]
        if cam is last and len(cams) > 1:
            cam = cams[(cams.index(cam) + 1) % len(cams)]
        last = cam
        events.append(sighting(ctx, ts + int(off), cam, "face_match", person_id=person.person_id,
                               watchlist=person.watchlist, confidence=_confidence(ctx, mean + 0.02, sd)))
    return events


def plate_match(ctx: Context, ts: int) -> list[Event]:
    """A blacklisted vehicle read by a plate camera; confidence around 0.90."""
    rng = ctx.rng
    plate = ctx.world.blacklist_plates[rng.randrange(len(ctx.world.blacklist_plates))]
    cam = ctx.world.camera(rng)
    return [sighting(ctx, ts, cam, "plate_match", plate=plate, watchlist="blacklist_vehicle",
                     confidence=_confidence(ctx, 0.9, 0.05))]


def night_burst(ctx: Context, ts: int) -> list[Event]:
    """3-5 strangers/unknown vehicles in one village at night, a few minutes apart."""
    rng = ctx.rng
    village = ctx.world.village(rng)
    n = rng.choice((2, 3, 3, 3, 4, 5))
    t = ts
    events = []
    for _ in range(n):
        kind = "stranger" if rng.random() < 0.55 else "unknown_vehicle"
        cam = village.cameras[rng.randrange(len(village.cameras))]
        events.append(sighting(ctx, t, cam, kind, **_stranger_fields(ctx, kind)))
        t += int(rng.uniform(2, 26) * MIN)
    return events


def intrusion(ctx: Context, ts: int) -> list[Event]:
    """Someone climbing into a school, reservoir or warehouse area."""
    cam = ctx.world.camera(ctx.rng)
    return [sighting(ctx, ts, cam, "intrusion")]


def stranger_in_village(ctx: Context, ts: int, village) -> Event:
    rng = ctx.rng
    cam = village.cameras[rng.randrange(len(village.cameras))]
    kind = "stranger" if rng.random() < 0.7 else "intrusion"
    return sighting(ctx, ts, cam, kind)


def outage(ctx: Context, ts: int) -> list[Event]:
    """A camera goes offline; most come back within 2 h, some stay dark for hours."""
    rng = ctx.rng
    cam = ctx.world.camera(rng)
    events = [sighting(ctx, ts, cam, "offline")]
    r = rng.random()
    if r < 0.72:
        back = rng.uniform(1, 110) * MIN
    elif r < 0.76:
        back = rng.uniform(118, 122) * MIN  # around the 2 h deadline
    elif r < 0.95:
        back = rng.uniform(2.1, 12) * HOUR
    else:
        return events  # still offline
    events.append(sighting(ctx, ts + int(back), cam, "online"))
    return events
