"""Schemathesis against a live server: the driver API's operations as documented in /api/v1/openapi.json must
answer no 5xx and nothing that contradicts the document (status codes, content types, response schemas,
refusal of invalid input, authentication)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# The operations of the driver API (issue 6), by OpenAPI tag.
DRIVER_TAGS = [
    "driver accounts",
    "finding chargers",
    "reservations",
    "charging",
    "wallet",
    "owner tariffs",
    "help administration",
    "payment provider",
]


def _schemathesis() -> str | None:
    local = Path(sys.executable).with_name("schemathesis")
    return str(local) if local.exists() else shutil.which("schemathesis")


@pytest.mark.timeout(600)
def test_driver_api_conforms_to_its_openapi_document(
    live_server, sign_up, fund, station, set_tariff, add_charger, connect, tmp_path
):
    binary = _schemathesis()
    if binary is None:
        pytest.skip("schemathesis is not installed (pip install schemathesis)")
    driver = sign_up()
    fund(driver, 50)
    sid = station("Depot")
    set_tariff(sid, [{"start": "00:00", "end": "24:00", "pricePerKwh": 0.3, "label": "flat"}])
    add_charger("CP1", station="Depot")
    cp = connect("CP1")
    cp.boot()
    cp.status(1, "Available")
    _run(binary, live_server, driver.token, DRIVER_TAGS, tmp_path)


def _run(binary: str, live_server, token: str, tags: list[str], tmp_path) -> None:
    cmd = [
        binary,
        "run",
        f"{live_server.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,negative_data_rejection,ignored_auth,use_after_free",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        os.environ.get("CMS_SCHEMATHESIS_EXAMPLES", "30"),
        "--workers",
        "1",
        "--seed",
        "1",
        "--no-color",
    ]
    for tag in tags:
        cmd += ["--include-tag", tag]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=580, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


# The operator API (issue 11), by OpenAPI tag.
OPERATOR_TAGS = ["operator stations", "operator charge points", "operator transactions", "operator id tags"]


@pytest.mark.timeout(600)
def test_operator_api_conforms_to_its_openapi_document(
    live_server, owner, owner_token, add_charger, add_tag, sessions, connect, tmp_path
):
    """As an owner with a station, charge points (one connected), tags and closed and open sessions with meter
    values, so that the fuzzed ids and filters meet real rows as well as missing ones."""
    binary = _schemathesis()
    if binary is None:
        pytest.skip("schemathesis is not installed (pip install schemathesis)")
    from datetime import UTC, datetime, timedelta

    add_charger("CP1", station="Depot")
    add_charger("CP2", station=None)
    add_tag("TAG1", owner=owner)
    add_tag("TAG2", owner=owner, parent="TAG1")
    start = datetime.now(UTC) - timedelta(days=1)
    sessions("CP2", "TAG1", [start + timedelta(minutes=m) for m in range(0, 60, 10)], open_={5})
    cp = connect("CP1")
    cp.boot()
    cp.status(1, "Available")
    tx = cp.start(1, "TAG2", meter_start=100).transaction_id
    cp.meter(
        1, tx, [{"value": "1.2", "unit": "kWh"}, {"value": "3600", "measurand": "Power.Active.Import", "unit": "W"}]
    )
    _run(binary, live_server, owner_token, OPERATOR_TAGS, tmp_path)
