"""Browser fixtures: Debian's Chromium driven by Playwright's Python package against pytest-django's live server.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``.ci/run`` installs it with apt
when missing). Without it the tests are skipped locally and fail in CI. Set ``UPDATE_SCREENSHOTS=1`` to write the
documentation's screenshots to ``docs/screenshots/``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it with apt-get install chromium")
        pytest.skip(f"needs {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test are still
    # synchronous and safe, so allow them.
    # (Only while these tests run: `check --deploy` rightly refuses the variable in a deployment.)
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture
def csp_violations() -> list[str]:
    """What the browser refused under the Content-Security-Policy during the test (Chromium reports each refusal
    on the page's console)."""
    return []


@pytest.fixture
def page(chromium, live_server, csp_violations):
    context = chromium.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True,
                                   base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda message: csp_violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    yield page
    context.close()
    # Every browser test is also a test of the policy: the console's own scripts, styles and charts work under it.
    assert not csp_violations, csp_violations


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    return SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
