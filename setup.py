"""Build hook: every sdist and wheel carries the front-end libraries (htmx, Chart.js, Swagger UI, ...).

The metadata lives in pyproject.toml; this file only adds one step to ``build_py`` and ``sdist``: copy the
libraries listed in static-vendor.json from npm into cms/web/static/vendor/ (tools/static_vendor.py, the same
code ``make static-vendor`` runs), running ``npm ci`` when they are not already there. An sdist carries the
copies, so a wheel built from it (``make dist``, or pip on a machine without npm) needs no npm.
"""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))

import static_vendor  # noqa: E402 - found through the line above, in the source tree


def _vendor() -> None:
    try:
        static_vendor.ensure(ROOT)
    except static_vendor.VendorError as e:
        sys.exit(f"error: {e}")


class BuildPyWithVendor(build_py):
    """build_py that first copies the front-end libraries (not for editable installs: `make static-vendor`)."""

    def run(self):
        if not getattr(self, "editable_mode", False):
            _vendor()
            # The package data list may have been computed (egg_info) before the copies existed.
            self.__dict__.pop("data_files", None)
        super().run()


class SdistWithVendor(sdist):
    """sdist that carries the copied front-end libraries, so building its wheel needs no npm."""

    def run(self):
        _vendor()
        super().run()


setup(cmdclass={"build_py": BuildPyWithVendor, "sdist": SdistWithVendor})
