"""The interactive API docs page under its Content-Security-Policy: Swagger UI (served from our own static files)
starts, reads the schema and lists the operations, and the browser refuses nothing (the ``page`` fixture fails
a test on any refusal)."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_page_works_under_its_policy(page, csp_violations):
    response = page.goto("/api/docs/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= 25
    assert "PROST-QS API" in page.locator(".info .title").inner_text()
    page.locator(".opblock-summary").first.click()  # an operation opens (Swagger UI's own scripts run)
    page.wait_for_selector(".opblock.is-open")
    assert not csp_violations


def test_an_inline_script_on_a_console_page_would_be_refused(page, csp_violations):
    """The policy is enforced, not only sent: a script element without a file, added to a console page the way an
    injected one would be, does not run."""
    page.goto("/admin/login/")
    page.evaluate("""() => {
        window.ran = false;
        const s = document.createElement('script');
        s.textContent = 'window.ran = true';
        document.body.appendChild(s);
    }""")
    assert page.evaluate("() => window.ran") is False
    assert any("script" in v for v in csp_violations)
    csp_violations.clear()  # the refusal was the point of this test
