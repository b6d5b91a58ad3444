"""The WSDLs shipped in soap/wsdl/ are the official files, unmodified."""

from pathlib import Path

import pytest

from soap.schema import WSDL_FILES, load

SHARED = Path(__file__).resolve().parents[3] / "shared" / "ocpp" / "wsdl"


@pytest.mark.parametrize("key", sorted(WSDL_FILES))
def test_shipped_wsdl_is_the_official_file(key):
    shipped = WSDL_FILES[key]
    official = SHARED / shipped.parent.name / shipped.name
    if not official.exists():
        pytest.skip(f"{official} is not on this machine")
    assert shipped.read_bytes() == official.read_bytes()


def test_operations_as_published():
    assert len(load("1.5", "CentralSystemService").operations) == 10
    assert len(load("1.6", "CentralSystemService").operations) == 10
    assert len(load("1.5", "ChargePointService").operations) == 15
    assert len(load("1.6", "ChargePointService").operations) == 19
