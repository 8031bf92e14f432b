"""`pingan dashboards push`: the dashboards and their data sources onto a Grafana server.

Idempotent by UID: the folder (uid ``pingan``), the two data sources (uids ``pingan-clickhouse`` and
``pingan-prometheus``) and every dashboard keep fixed UIDs. Each object is read first and written
only when missing or different, so a second push of the same build changes nothing; a changed
dashboard is overwritten in place (same UID, Grafana keeps the version history).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pingan.dashboards.query import CLICKHOUSE_TYPE, CLICKHOUSE_UID, PROMETHEUS_TYPE, PROMETHEUS_UID
from pingan.dashboards.registry import build_all
from pingan.errors import PinganError, UnavailableError

FOLDER_UID = "pingan"
#: Fields Grafana adds or changes when it stores a dashboard; ignored when comparing.
_VOLATILE = ("id", "version", "iteration")


class PushError(PinganError):
    """Grafana refused a request (the message names the object and Grafana's answer)."""


@dataclass(frozen=True)
class DatasourceOptions:
    clickhouse_host: str = "clickhouse"
    clickhouse_port: int = 9000
    clickhouse_user: str = "grafana_ro"
    clickhouse_password: str = ""
    clickhouse_database: str = "pingan"
    prometheus_url: str = "http://prometheus:9090"


def datasource_models(options: DatasourceOptions) -> list[dict[str, Any]]:
    """The two data sources, as Grafana's HTTP API takes them (same as infra/grafana provisioning)."""
    clickhouse: dict[str, Any] = {
        "uid": CLICKHOUSE_UID, "name": "ClickHouse 平安", "type": CLICKHOUSE_TYPE, "access": "proxy",
        "isDefault": False,
        "jsonData": {"host": options.clickhouse_host, "port": options.clickhouse_port, "protocol": "native",
                     "username": options.clickhouse_user, "defaultDatabase": options.clickhouse_database,
                     "secure": False},
    }
    if options.clickhouse_password:
        clickhouse["secureJsonData"] = {"password": options.clickhouse_password}
    prometheus = {
        "uid": PROMETHEUS_UID, "name": "Prometheus 平安", "type": PROMETHEUS_TYPE, "access": "proxy",
        "url": options.prometheus_url, "isDefault": True,
        "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
    }
    return [clickhouse, prometheus]


def _comparable(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in _VOLATILE}


def _same_datasource(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    if "secureJsonData" in wanted:
        return False  # secrets are never returned: a given password is always written
    return all(current.get(k) == v for k, v in wanted.items())


class _Client:
    """grafana-client calls with errors turned into one-line PinganErrors (404 -> None)."""

    def __init__(self, url: str, token: str):
        from grafana_client import GrafanaApi

        self.api = GrafanaApi.from_url(url, credential=token)
        self.url = url

    def call(self, what: str, fn: Any, *args: Any, missing_ok: bool = False) -> Any:
        from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaTimeoutError
        from niquests.exceptions import RequestException

        try:
            return fn(*args)
        except GrafanaClientError as exc:
            if missing_ok and exc.status_code == 404:
                return None
            raise PushError(f"Grafana at {self.url} refused {what}: {exc.message}") from None
        except GrafanaTimeoutError as exc:
            raise UnavailableError(f"Grafana at {self.url} timed out ({what}): {exc.message}") from None
        except GrafanaException as exc:
            raise UnavailableError(f"Grafana at {self.url} cannot be reached ({what}): {exc.message}") from None
        except (RequestException, OSError) as exc:
            reason = str(exc).split(": ")[-1].rstrip("')") or type(exc).__name__
            raise UnavailableError(f"Grafana at {self.url} cannot be reached ({what}): {reason}") from None


def push_all(url: str, token: str, *, folder: str = "平安楚雄",
             datasources: DatasourceOptions | None = None) -> Iterator[str]:
    """Push the folder, the data sources (unless ``datasources`` is None) and every dashboard;
    yields one line per object (created / updated / unchanged)."""
    client = _Client(url, token)
    api = client.api

    current = client.call(f"reading folder {FOLDER_UID}", api.folder.get_folder, FOLDER_UID, missing_ok=True)
    if current is None:
        client.call(f"creating folder {folder}", api.folder.create_folder, folder, FOLDER_UID)
        yield f"folder {FOLDER_UID} ({folder}): created"
    elif current.get("title") != folder:
        client.call(f"renaming folder {FOLDER_UID}", lambda: api.folder.update_folder(FOLDER_UID, title=folder,
                                                                                       overwrite=True))
        yield f"folder {FOLDER_UID} ({folder}): updated"
    else:
        yield f"folder {FOLDER_UID} ({folder}): unchanged"

    for wanted in datasource_models(datasources) if datasources is not None else []:
        uid = wanted["uid"]
        existing = client.call(f"reading data source {uid}", api.datasource.get_datasource_by_uid, uid,
                               missing_ok=True)
        if existing is None:
            client.call(f"creating data source {uid}", api.datasource.create_datasource, wanted)
            yield f"data source {uid}: created"
        elif _same_datasource(existing, wanted):
            yield f"data source {uid}: unchanged"
        else:
            client.call(f"updating data source {uid}", api.datasource.update_datasource_by_uid, uid, wanted)
            yield f"data source {uid}: updated"

    for uid, dashboard in build_all().items():
        existing = client.call(f"reading dashboard {uid}", api.dashboard.get_dashboard, uid, missing_ok=True)
        if existing is not None:
            same_folder = (existing.get("meta") or {}).get("folderUid") == FOLDER_UID
            if same_folder and _comparable(existing.get("dashboard") or {}) == _comparable(dashboard):
                yield f"dashboard {uid} ({dashboard['title']}): unchanged"
                continue
        body = {"dashboard": {**dashboard, "id": None}, "folderUid": FOLDER_UID, "overwrite": True,
                "message": "pingan dashboards push"}
        client.call(f"saving dashboard {uid}", api.dashboard.update_dashboard, body)
        yield f"dashboard {uid} ({dashboard['title']}): {'created' if existing is None else 'updated'}"
