"""The dashboards (explicit registry), their JSON, and the panels check/preview iterate over.

``dashboards/generated/<uid>.json`` is what Grafana provisions and `pingan dashboards push` uploads;
:func:`render` is deterministic (sorted keys, stable ids), so the committed files can be compared
with a fresh build.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pingan.dashboards.query import CLICKHOUSE_TYPE, PROMETHEUS_TYPE

#: Module names under pingan.dashboards, in menu order.
DASHBOARD_MODULES = ("overview", "county", "alert_feed", "pipeline")

GENERATED_DIR = Path(__file__).resolve().parent / "generated"


@dataclass(frozen=True)
class PanelInfo:
    """One panel as check and preview need it (taken from the dashboard JSON)."""

    dashboard_uid: str
    dashboard_title: str
    panel_id: int
    title: str
    type: str
    datasource: str  # datasource type
    targets: list[dict[str, Any]]
    interval: str | None
    max_data_points: int | None
    json: dict[str, Any] = field(repr=False)

    @property
    def sql(self) -> str:
        return self.targets[0]["rawSql"]

    @property
    def shape(self) -> str:
        return self.targets[0].get("queryType", "table")

    @property
    def is_clickhouse(self) -> bool:
        return self.datasource == CLICKHOUSE_TYPE


def build_all() -> dict[str, dict[str, Any]]:
    """uid -> dashboard JSON (plain dicts), in registry order."""
    out: dict[str, dict[str, Any]] = {}
    for name in DASHBOARD_MODULES:
        module = importlib.import_module(f"pingan.dashboards.{name}")
        data = to_plain(module.build().build())
        _number_panels(data)
        out[data["uid"]] = data
    return out


def to_plain(model: Any) -> dict[str, Any]:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    return json.loads(json.dumps(model, cls=JSONEncoder, ensure_ascii=False))


def _number_panels(data: dict[str, Any]) -> None:
    """Stable panel ids 1..n in layout order (rows included); drops the SDK's null options; explicit
    empty annotation and variable lists (the SDK leaves them out)."""
    data.setdefault("annotations", {}).setdefault("list", [])
    data.setdefault("templating", {}).setdefault("list", [])
    for index, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = index
        if panel.get("options") is None:
            panel.pop("options", None)
    for variable in data.get("templating", {}).get("list", []):
        variable.pop("id", None)


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_generated(out_dir: Path = GENERATED_DIR) -> list[Path]:
    """Write every dashboard's JSON; returns the files written (stale files of old uids removed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    dashboards = build_all()
    for uid, data in dashboards.items():
        path = out_dir / f"{uid}.json"
        path.write_text(render(data), encoding="utf-8")
        written.append(path)
    for old in out_dir.glob("*.json"):
        if old.stem not in dashboards:
            old.unlink()
    return written


def stale_files(out_dir: Path = GENERATED_DIR) -> list[str]:
    """Names of generated files that differ from a fresh build (missing, changed or extra)."""
    dashboards = build_all()
    problems = []
    for uid, data in dashboards.items():
        path = out_dir / f"{uid}.json"
        if not path.is_file() or path.read_text(encoding="utf-8") != render(data):
            problems.append(path.name)
    problems += [p.name for p in out_dir.glob("*.json") if p.stem not in dashboards]
    return problems


def iter_panels(dashboards: dict[str, dict[str, Any]] | None = None) -> Iterator[PanelInfo]:
    """Every data panel (rows skipped, panels inside collapsed rows included)."""
    for uid, data in (dashboards or build_all()).items():
        for panel in data.get("panels", []):
            for item in [panel, *panel.get("panels", [])] if panel.get("type") == "row" else [panel]:
                if item.get("type") == "row":
                    continue
                ds = (item.get("datasource") or {}).get("type") or PROMETHEUS_TYPE
                yield PanelInfo(
                    dashboard_uid=uid, dashboard_title=data["title"], panel_id=item["id"], title=item["title"],
                    type=item["type"], datasource=ds, targets=item.get("targets", []),
                    interval=item.get("interval"), max_data_points=item.get("maxDataPoints"), json=item,
                )


def variable_queries(dashboards: dict[str, dict[str, Any]] | None = None) -> Iterator[tuple[str, str, str]]:
    """(dashboard uid, variable name, SQL) of every ClickHouse query variable."""
    for uid, data in (dashboards or build_all()).items():
        for variable in data.get("templating", {}).get("list", []):
            if variable.get("type") == "query" and (variable.get("datasource") or {}).get("type") == CLICKHOUSE_TYPE:
                yield uid, variable["name"], variable["query"]
