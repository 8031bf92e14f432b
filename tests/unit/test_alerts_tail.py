"""`pingan alerts tail` formatting and filters (the Kafka part is in tests/integration)."""

from __future__ import annotations

import pytest

from pingan.cli.alerts import _wanted, display_key, format_alert, parse_county, parse_severity
from pingan.errors import ConfigError

ALERT = {"rule_id": "CAM-WANTED", "severity": "critical", "key": "WP-9a8b7c6d5e", "ts": "2026-11-29T13:14:03+00:00",
         "county_code": "532301", "county_name": "楚雄市", "township_name": "鹿城镇", "title": "在逃人员人脸比中"}


def test_line_is_readable_chinese_with_cst_time_and_masked_person():
    line = format_alert(ALERT)
    assert line.startswith("2026-11-29 21:14:03+08:00 [严重] 楚雄市 鹿城镇")
    assert "在逃人员人脸比中" in line and "CAM-WANTED" in line
    assert "WP-9a8b7c6d5e" not in line and "WP***5e" in line


@pytest.mark.parametrize(("key", "shown"), [
    ("云E12345", "云E***45"),  # plate
    ("p_0123456789abcdef0123456789abcdef", "p_01***ef"),  # pseudonym of an ID number
    ("532301101203", "532301101203"),  # a village code is not personal
    ("CAM-532301-000123", "CAM-532301-000123"),
    ("GR-532301101-ab-000001", "GR-532301101-ab-000001"),
])
def test_display_key(key, shown):
    assert display_key(key) == shown


def test_county_name_from_code_when_missing():
    alert = {**ALERT, "county_name": None, "county_code": "532328", "township_name": None}
    assert "[严重] 元谋县  在逃" in format_alert(alert)


def test_severity_and_county_arguments():
    assert parse_severity("high") == parse_severity("高") == 3
    assert parse_severity(None) == 0
    with pytest.raises(ConfigError, match="unknown severity"):
        parse_severity("urgent")
    assert parse_county("楚雄市") == parse_county("楚雄") == parse_county("532301") == "532301"
    with pytest.raises(ConfigError, match="unknown county '昆明市'"):
        parse_county("昆明市")


def test_filters():
    assert _wanted(ALERT, parse_severity("high"), "532301", None)
    assert not _wanted({**ALERT, "severity": "medium"}, parse_severity("high"), None, None)
    assert not _wanted(ALERT, 0, "532328", None)
    assert not _wanted(ALERT, 0, None, "FRAUD-MAJOR")
    assert not _wanted([1, 2], 0, None, None)
