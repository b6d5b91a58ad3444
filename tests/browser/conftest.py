"""Headless Chromium (Debian's package) driven by Playwright; skips with the reason when something is missing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("CMS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"chromium not found at {CHROMIUM}: apt-get install -y chromium (make browser-deps)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[test]'"
    for lib in ("htmx/htmx.min.js", "chart.js/chart.umd.js"):
        if not (ROOT / "cms" / "web" / "static" / "vendor" / lib).exists():
            return f"cms/web/static/vendor/{lib} is missing: run make static-vendor"
    return None


@pytest.fixture(scope="module")
def chromium():
    """One browser per test module: Playwright's sync API keeps an event loop on the main thread while it
    runs, so it is stopped before other modules' asyncio tests."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
            args=CHROMIUM_ARGS,
            headless=True,
        )
        yield browser
        browser.close()


# Every page reports Content-Security-Policy violations to the test: the browser's securitypolicyviolation event
# (caught in every document and frame before its own scripts run) and Chromium's console line about a refusal.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.effectiveDirective + " blocked " + (e.blockedURI || "inline") +
                " in " + e.documentURI + (e.sourceFile ? " (" + e.sourceFile + ":" + e.lineNumber + ")" : ""));
}, true);
"""


def is_policy_violation(text: str) -> bool:
    return text.startswith("CSP violation:") or "Content Security Policy" in text


@pytest.fixture
def csp_violations():
    """The policy violations the page met so far (``page`` fails the test on any left at its end)."""
    return []


@pytest.fixture
def page(chromium, csp_violations):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(_REPORT_VIOLATIONS)
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.on("console", lambda m: is_policy_violation(m.text) and csp_violations.append(m.text))
    yield pg
    context.close()
    assert csp_violations == [], "the Content-Security-Policy refused something on these pages"


@pytest.fixture
def screenshot(page):
    """``screenshot("name")`` keeps a full-page PNG under tests/artifacts/ (gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _shot(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shot
