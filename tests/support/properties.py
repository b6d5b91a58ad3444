"""How hard the property-based (hypothesis) rule tests search: fully in `make test`, briefly in `make test-unit`."""

from __future__ import annotations

import os

QUICK_EXAMPLES = 40


def property_examples(full: int) -> int:
    """``max_examples`` for a property test: ``full``, or at most QUICK_EXAMPLES when CMS_TEST_QUICK_PROPERTIES=1
    (set by `make test-unit`, the seconds-long loop while editing; `make test` and CI always search fully)."""
    if os.environ.get("CMS_TEST_QUICK_PROPERTIES") == "1":
        return min(full, QUICK_EXAMPLES)
    return full
