"""Export the JSON Schema of every published model into schemas/json/.

Run ``python -m pingan.schemas.export`` after changing a model; a test fails when the committed
files are stale.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from pydantic import BaseModel

JSON_DIR = Path(__file__).resolve().parent / "json"

#: file stem -> "module:ClassName" (explicit registry; modules imported only when exporting).
EXPORTED = {
    "camera.alerts": "pingan.schemas.events:CameraAlert",
    "grid.reports": "pingan.schemas.events:GridReport",
    "fraud.cases": "pingan.schemas.events:FraudCase",
    "service.records": "pingan.schemas.events:ServiceRecord",
    "alert": "pingan.schemas.alert:Alert",
    "deadletter": "pingan.schemas.alert:DeadLetter",
    "rulefile": "pingan.schemas.rulefile:RuleFile",
}


def _model(ref: str) -> type[BaseModel]:
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def render_all() -> dict[str, str]:
    """file name -> JSON text, for every exported model."""
    out = {}
    for stem, ref in EXPORTED.items():
        schema = _model(ref).model_json_schema(mode="validation")
        out[f"{stem}.schema.json"] = json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    return out


def main() -> int:
    JSON_DIR.mkdir(exist_ok=True)
    for name, text in render_all().items():
        (JSON_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote schemas/json/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
