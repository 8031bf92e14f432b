"""Versioned DDL: ``sinks/migrations/NNN_name.sql`` applied in order, recorded in ``schema_migrations``.

The files are identical on chDB and on a ClickHouse server: unqualified table names, resolved in the
sink's database. Every statement is idempotent (``IF NOT EXISTS``), so a migration interrupted half
way is simply applied again. After the files, two settings-driven steps run (both idempotent):
the TTL of personal columns (``clickhouse.personal_ttl_days``) and the division list.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from pingan.errors import ConfigError

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")

SCHEMA_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, "
    "applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree ORDER BY version"
)
SETTINGS_TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS storage_settings (name String, value String, "
    "applied_at DateTime DEFAULT now()) ENGINE = ReplacingMergeTree(applied_at) ORDER BY name"
)

#: Personal columns and the time column their TTL counts from (settings.clickhouse.personal_ttl_days).
PERSONAL_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "events_camera": ("ts", ("person_id", "plate", "image_ref", "extra")),
    "events_grid": ("ts", ("household_id", "description", "extra")),
    "events_fraud": ("ts", ("victim_id_number", "victim_phone", "victim_age", "extra")),
    "events_service": ("ts", ("extra",)),
    "deadletters": ("received_at", ("key_text", "value_text")),
}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()[:16]

    def statements(self) -> list[str]:
        return split_statements(self.sql)


def split_statements(sql: str) -> list[str]:
    """Split a migration into statements: ``--`` comment lines dropped, ``;`` at a line end ends one."""
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements


def load_migrations() -> list[Migration]:
    """Every packaged migration, in version order (duplicate versions are a configuration error)."""
    folder = resources.files("pingan.sinks").joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise ConfigError(f"two migrations with version {version:03d}: {found[version].name}, {entry.name}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


Execute = Callable[[str], list[dict]]


def applied_versions(execute: Execute) -> dict[int, str]:
    execute(SCHEMA_TABLE_DDL)
    rows = execute("SELECT version, argMax(name, applied_at) AS name FROM schema_migrations GROUP BY version")
    return {int(r["version"]): r["name"] for r in rows}


def migrate(execute: Execute, *, personal_ttl_days: int) -> list[str]:
    """Apply pending migrations and the settings steps; returns what was done (for the CLI)."""
    done: list[str] = []
    applied = applied_versions(execute)
    for migration in load_migrations():
        if migration.version in applied:
            continue
        for statement in migration.statements():
            execute(statement)
        execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES "
            f"({migration.version}, '{migration.name}', '{migration.checksum}')"
        )
        done.append(f"applied {migration.version:03d}_{migration.name}")
    done.extend(apply_personal_ttl(execute, personal_ttl_days))
    done.extend(load_division_table(execute))
    return done


def apply_personal_ttl(execute: Execute, days: int) -> list[str]:
    """Set the TTL of every personal column to ``days`` (only when it differs from the last run)."""
    if days <= 0:
        raise ConfigError(f"clickhouse.personal_ttl_days must be > 0, got {days}")
    execute(SETTINGS_TABLE_DDL)
    rows = execute("SELECT argMax(value, applied_at) AS v FROM storage_settings WHERE name = 'personal_ttl_days'")
    if rows and rows[0].get("v") == str(days):
        return []
    for table, (time_column, columns) in PERSONAL_COLUMNS.items():
        for column in columns:
            execute(
                f"ALTER TABLE {table} MODIFY COLUMN {column} TTL toDateTime({time_column}) + INTERVAL {int(days)} DAY"
            )
    execute(f"INSERT INTO storage_settings (name, value) VALUES ('personal_ttl_days', '{int(days)}')")
    return [f"personal columns expire after {days} days"]


def load_division_table(execute: Execute) -> list[str]:
    """Load the packaged division list into ``divisions`` when its size differs from the table's."""
    from pingan.schemas.divisions import load_divisions

    divisions = load_divisions()
    everything = [*divisions.counties.values(), *divisions.townships.values(), *divisions.villages.values()]
    rows = execute("SELECT count() AS n FROM divisions FINAL")
    if rows and int(rows[0]["n"]) == len(everything):
        return []
    execute("TRUNCATE TABLE divisions")
    values = ",".join(
        "('{}','{}','{}','{}')".format(d.level, d.code, d.name.replace("'", "\\'"), d.parent_code) for d in everything
    )
    execute(f"INSERT INTO divisions (level, code, name, parent_code) VALUES {values}")
    return [f"loaded {len(everything)} divisions"]
