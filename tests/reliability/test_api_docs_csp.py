"""The API's pages work under a Content-Security-Policy, in a real browser (Chromium, real Daphne).

The Swagger UI of /api/docs/ (drf-spectacular, served from drf-spectacular-sidecar's static
files) must render and list the endpoints with the policy header present, and the browser must
report no violation: listeners on `securitypolicyviolation` and on the console, as in
tests/browser/test_security.py.
"""

import pytest

from tests.browser import conftest as browser_conftest
from tests.browser.conftest import new_page  # noqa: F401 (a fixture, used by name)
from tests.factories import ManagerFactory, SiteFactory

pytestmark = [pytest.mark.browser]

WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only (see tests/browser/test_security.py, findings R7)."""
    yield from browser_conftest.browser.__wrapped__()


@pytest.fixture
def manager(transactional_db):
    return ManagerFactory(sites=[SiteFactory()], is_superuser=True)


def watched(page) -> list[str]:
    console_errors: list[str] = []
    page.add_init_script(WATCH_VIOLATIONS)
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    return console_errors


def violations(page, console_errors: list[str]) -> list[str]:
    found = list(page.evaluate("window.__csp || []"))
    return found + [text for text in console_errors if "Content Security Policy" in text]


def test_swagger_docs_render_and_list_the_endpoints_under_the_policy(new_page, manager):  # noqa: F811
    page = new_page(user=manager, path=None)
    console_errors = watched(page)
    response = page.goto("/api/docs/")
    assert response.status == 200
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self' 'sha256-" in policy, policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, policy

    page.locator(".swagger-ui .info .title").filter(has_text="Helpdesk API").wait_for()
    page.locator(".opblock-summary-path").first.wait_for()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) >= 5 and any("/api/engagements" in path for path in paths), paths
    page.locator(".opblock-summary").first.click()  # expand an operation: more of the UI renders
    page.locator(".opblock-body").first.wait_for()
    page.wait_for_load_state("networkidle")
    assert violations(page, console_errors) == []


def test_browsable_api_and_schema_get_a_policy_with_strict_scripts(new_page, manager):  # noqa: F811
    page = new_page(user=manager, path=None)
    console_errors = watched(page)
    response = page.goto("/api/engagements/")
    assert response.status == 200 and "text/html" in response.headers["content-type"]
    policy = response.headers.get("content-security-policy", "")
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src"))
    assert script_src == "script-src 'self'", policy
    page.locator(".response-info").wait_for()
    page.wait_for_load_state("networkidle")
    assert [v for v in violations(page, console_errors) if "script" in v] == []

    schema = page.request.get("/api/schema/")
    assert schema.status == 200
    assert "script-src 'self'" in schema.headers.get("content-security-policy", "")
