"""Pages work under the Content-Security-Policy, in a real browser: no violation, no script from user text.

Every page is opened with listeners on the browser console and on `securitypolicyviolation`;
a violation means the policy blocked something the page needed (or an injected script).
"""

import pytest

from helpdesk.models import Media
from helpdesk.services.engagements import add_note, post_message, start_chat
from helpdesk.services.routing import route_engagement
from helpdesk.visitor_tokens import make_visitor_token
from tests.browser import conftest as browser_conftest
from tests.factories import ManagerFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only: a session-wide sync Playwright keeps an asyncio loop running
    in the main thread, which breaks every later test that calls asyncio.run (findings.md R7)."""
    yield from browser_conftest.browser.__wrapped__()


XSS = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script>'

WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Watch:
    """What a page reported: CSP violations, console errors, dialogs (an injected alert would be one)."""

    def __init__(self, page):
        self.page = page
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []
        page.add_init_script(WATCH_VIOLATIONS)
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def visit(self, path: str) -> None:
        response = self.page.goto(path)
        assert response.status < 400, (path, response.status)
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, f"{path} has no strict policy"
        self.page.wait_for_load_state("networkidle")

    def assert_clean(self, where: str) -> None:
        violations = self.page.evaluate("window.__csp || []")
        csp_console = [text for text in self.console_errors if "Content Security Policy" in text]
        assert violations == [] and csp_console == [], f"{where}: {violations} {csp_console}"
        assert self.dialogs == [], f"{where}: a script ran from user text: {self.dialogs}"
        assert self.page.evaluate("window.__xss || 0") == 0, f"{where}: injected script ran"


@pytest.fixture
def desk(transactional_db):
    site = SiteFactory()
    team = TeamFactory(site=site)
    queue = QueueFactory(site=site, teams=[team], is_default=True, name="Support " + XSS[:60])
    operator = OperatorFactory(site=site, teams=[team], available=[Media.CHAT])
    manager = ManagerFactory(sites=[site], is_superuser=True)
    engagement = start_chat(queue=queue, visitor_name=XSS[:100])
    route_engagement(engagement_id=engagement.pk)
    post_message(engagement_id=engagement.pk, sender="visitor", body=XSS)
    add_note(engagement_id=engagement.pk, author=operator, body=XSS)
    return site, queue, operator, manager, engagement


def test_login_page_works_under_the_policy(new_page):
    page = new_page(path=None)
    watch = Watch(page)
    watch.visit("/accounts/login/")
    watch.assert_clean("login")


def test_operator_console_works_under_the_policy_and_shows_markup_as_text(new_page, desk):
    site, queue, operator, manager, engagement = desk
    page = new_page(user=operator.user, path=None)
    watch = Watch(page)
    watch.visit("/console/")
    page.get_by_text(XSS[:30], exact=False).first.wait_for()
    page.wait_for_timeout(500)
    watch.assert_clean("console")


def test_visitor_pages_work_under_the_policy_and_show_markup_as_text(new_page, desk):
    site, queue, operator, manager, engagement = desk
    page = new_page(path=None)
    watch = Watch(page)
    watch.visit(f"/chat/?site={site.pk}")
    watch.assert_clean("visitor start")
    watch.visit(f"/chat/{make_visitor_token(engagement_id=engagement.pk, visitor_id=engagement.visitor_id)}/")
    page.get_by_text(XSS[:30], exact=False).first.wait_for()
    page.wait_for_timeout(500)
    watch.assert_clean("visitor chat")


ADMIN_PAGES = [
    "/admin/",
    "/admin/helpdesk/engagement/",
    "/admin/helpdesk/operator/add/",
    "/admin/helpdesk/queue/",
    "/admin/helpdesk/queue/add/",
    "/admin/helpdesk/team/add/",
    "/admin/auth/user/add/",
    "/admin/transfers/transfer/",
    "/admin/telephony/call/",
]


def test_admin_and_manager_pages_work_under_the_policy(new_page, desk):
    site, queue, operator, manager, engagement = desk
    page = new_page(user=manager, path=None)
    watch = Watch(page)
    pages = [
        *ADMIN_PAGES,
        f"/admin/helpdesk/engagement/{engagement.pk}/change/",
        f"/admin/helpdesk/operator/{operator.pk}/change/",
        f"/admin/helpdesk/queue/{queue.pk}/change/",
        "/reports/",
    ]
    for path in pages:
        watch.visit(path)
        watch.assert_clean(path)
    # The admin's own scripts run: the changelist's "select all" checkbox ticks every row.
    watch.visit("/admin/helpdesk/engagement/")
    page.check("#action-toggle")
    assert page.locator("input.action-select:checked").count() >= 1
    watch.assert_clean("admin actions")


def test_phone_console_and_caller_simulator_work_under_the_policy(new_page, desk):
    site, queue, operator, manager, engagement = desk
    page = new_page(user=operator.user, path=None)
    watch = Watch(page)
    for path in ("/phone/", "/phone/simulator/"):
        watch.visit(path)
        page.wait_for_timeout(300)
        watch.assert_clean(path)
