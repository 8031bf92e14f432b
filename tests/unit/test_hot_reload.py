"""Hot reload: a changed rule set is validated and swapped in; an invalid one is refused and the
running one kept (streams.runtime.Runtime.maybe_reload, as the worker's timer calls it)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pingan.config import Settings
from pingan.streams.engine import Engine, load_ruleset
from pingan.streams.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
KEY = "test-key"


def load(path: Path):
    return load_ruleset(path, pseudonym_key=KEY)


def versions(engine: Engine) -> dict[str, str]:
    return {rt.spec.id: rt.spec.version for rt in engine.rules}


def touch_later(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    later = time.time() + 5  # a distinct mtime even on coarse file systems
    os.utime(path, (later, later))


@pytest.fixture
def setup(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    engine = Engine(load(rules))
    runtime = Runtime(None, SimpleNamespace(engine=engine), None, None, Settings())
    return rules, engine, runtime


def test_a_changed_rule_is_swapped_in_and_an_invalid_set_is_refused(setup):
    rules, engine, runtime = setup
    reload = lambda: asyncio.run(runtime.maybe_reload(rules, load))  # noqa: E731
    before = versions(engine)
    assert reload() is False  # first look: remembers the files
    assert reload() is False  # nothing changed

    fraud = rules / "fraud.yaml"
    text = fraud.read_text(encoding="utf-8")
    assert "loss_yuan >= 100000" in text
    touch_later(fraud, text.replace("loss_yuan >= 100000", "loss_yuan >= 200000"))
    assert reload() is True
    after = versions(engine)
    assert after["FRAUD-MAJOR"] != before["FRAUD-MAJOR"]
    assert after["CAM-WANTED"] == before["CAM-WANTED"]  # unchanged rules keep their version (and state)

    touch_later(fraud, text.replace("loss_yuan >= 100000", "loss_yuan >= ").replace("type: match", "type: nonsense", 1))
    assert reload() is False
    assert versions(engine) == after  # the running rule set is kept

    touch_later(fraud, text)  # fixed again: swapped in
    assert reload() is True
    assert versions(engine)["FRAUD-MAJOR"] == before["FRAUD-MAJOR"]
