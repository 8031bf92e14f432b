"""Data sources and the ClickHouse query model for grafana-foundation-sdk.

The SDK ships query builders for Prometheus, Loki and others but none for the official
``grafana-clickhouse-datasource`` plugin, so this module adds one: a ``Dataquery`` variant whose JSON
is the plugin's SQL query model (v4: ``editorType: sql``, ``rawSql``, ``format``, ``queryType``).
"""

from __future__ import annotations

from typing import Any, Literal

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as dm

CLICKHOUSE_TYPE = "grafana-clickhouse-datasource"
PROMETHEUS_TYPE = "prometheus"
#: Datasource UIDs: the provisioning files in infra/grafana and `dashboards push` create exactly these.
CLICKHOUSE_UID = "pingan-clickhouse"
PROMETHEUS_UID = "pingan-prometheus"

CLICKHOUSE = dm.DataSourceRef(type_val=CLICKHOUSE_TYPE, uid=CLICKHOUSE_UID)
PROMETHEUS = dm.DataSourceRef(type_val=PROMETHEUS_TYPE, uid=PROMETHEUS_UID)

# The plugin's Format enum (src/types/queryBuilder.ts): how the backend shapes the data frame.
FORMAT_TIMESERIES = 0
FORMAT_TABLE = 1

Shape = Literal["table", "timeseries"]


class ClickHouseQuery(cogvariants.Dataquery):
    """One SQL target of the ClickHouse plugin (the JSON the plugin's SQL editor saves)."""

    def __init__(self, sql: str, shape: Shape = "table", ref_id: str = "A") -> None:
        self.sql = sql
        self.shape = shape
        self.ref_id = ref_id

    def to_json(self) -> dict[str, Any]:
        return {
            "datasource": {"type": CLICKHOUSE_TYPE, "uid": CLICKHOUSE_UID},
            "editorType": "sql",
            "format": FORMAT_TIMESERIES if self.shape == "timeseries" else FORMAT_TABLE,
            "queryType": self.shape,
            "rawSql": self.sql,
            "refId": self.ref_id,
        }


class ClickHouseQueryBuilder(cogbuilder.Builder[ClickHouseQuery]):
    def __init__(self, sql: str) -> None:
        self._internal = ClickHouseQuery(sql.strip())

    def build(self) -> ClickHouseQuery:
        return self._internal

    def shape(self, shape: Shape) -> ClickHouseQueryBuilder:
        self._internal.shape = shape
        return self

    def ref_id(self, ref_id: str) -> ClickHouseQueryBuilder:
        self._internal.ref_id = ref_id
        return self
