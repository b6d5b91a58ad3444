"""The WSDLs shipped in soap/wsdl/ are the official files, unmodified.

Each shipped copy is checked against the SHA-256 of the official file, so this runs on any clone; where the
official files themselves are on the machine (the shared/ directory beside the repository, or
CMS_TEST_OFFICIAL_WSDL_DIR), the copies are compared with them byte for byte as well.
"""

import hashlib
import os
from importlib.resources import files
from pathlib import Path

import pytest

from soap.schema import WSDL_FILES, load

# SHA-256 of the official files (OCPP 1.5: e-laad.nl; OCPP 1.6: Open Charge Alliance), by (version, service).
OFFICIAL_SHA256 = {
    ("1.5", "CentralSystemService"): "ba518802906f205cf1e93f69b5ca70e4c5d09986eaccedc2488ca66d31fc083f",
    ("1.5", "ChargePointService"): "cd9fa4b9a88cfa724997b27ac2ff2a60d232d66d041676a54574ef30f66ed296",
    ("1.6", "CentralSystemService"): "7362c69bb8dcb62e9e6fd5d8fca6fd77bcdadbcc9d487df5032b7986e28e9a69",
    ("1.6", "ChargePointService"): "f01cbe77d6f49e4db36956e9d201c4e8634de3f8c96434fc6a159841dd658331",
}
SHIPPED = Path(str(files("soap") / "wsdl"))  # the package's own data, wherever the package is installed
OFFICIAL_DIR = Path(
    os.environ.get("CMS_TEST_OFFICIAL_WSDL_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "ocpp" / "wsdl"  # shared/ beside the repository
)


def test_the_schema_reads_the_copies_the_package_ships():
    assert sorted(WSDL_FILES) == sorted(OFFICIAL_SHA256)
    assert {p.resolve() for p in WSDL_FILES.values()} == {p.resolve() for p in SHIPPED.glob("*/*.wsdl")}


@pytest.mark.parametrize("key", sorted(OFFICIAL_SHA256))
def test_shipped_wsdl_is_the_official_file(key):
    assert hashlib.sha256(WSDL_FILES[key].read_bytes()).hexdigest() == OFFICIAL_SHA256[key]


@pytest.mark.parametrize("key", sorted(OFFICIAL_SHA256))
def test_shipped_wsdl_is_byte_identical_to_the_official_file_on_this_machine(key):
    shipped = WSDL_FILES[key]
    official = OFFICIAL_DIR / shipped.parent.name / shipped.name
    if not official.exists():
        pytest.skip(f"the official files are not on this machine ({official}); the digests above still hold")
    assert shipped.read_bytes() == official.read_bytes()


def test_operations_as_published():
    assert len(load("1.5", "CentralSystemService").operations) == 10
    assert len(load("1.6", "CentralSystemService").operations) == 10
    assert len(load("1.5", "ChargePointService").operations) == 15
    assert len(load("1.6", "ChargePointService").operations) == 19
