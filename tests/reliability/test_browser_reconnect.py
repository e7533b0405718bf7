"""The pages' own sockets (static/js/core/socket.js) survive a Daphne restart, in a real browser.

The server goes down under an open console and an open visitor page: both say
"Reconnecting…", a message typed meanwhile waits in the page's outbox, and when Daphne is
back both reconnect by themselves (back-off with jitter), the message is stored once and
shown on both sides.
"""

import pytest

from helpdesk.models import Media, Message
from helpdesk.services.engagements import post_message, start_chat
from helpdesk.services.routing import route_engagement
from helpdesk.visitor_tokens import make_visitor_token
from tests.browser import conftest as browser_conftest
from tests.browser.conftest import new_page  # noqa: F401 (a fixture, used by name)
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module only: a session-wide sync Playwright keeps an asyncio loop running
    in the main thread, which breaks every later test that calls asyncio.run (findings.md R7)."""
    yield from browser_conftest.browser.__wrapped__()


def wait_connected(page, state: str = "Connected", timeout: float = 40_000) -> None:
    page.locator("#conn [data-role=text]").filter(has_text=state).wait_for(timeout=timeout)


def test_console_and_visitor_page_reconnect_after_a_daphne_restart_and_deliver_the_outbox(new_page, daphne_server):  # noqa: F811
    site = SiteFactory()
    team = TeamFactory(site=site)
    queue = QueueFactory(site=site, teams=[team], is_default=True)
    operator = OperatorFactory(site=site, teams=[team], available=[Media.CHAT])
    engagement = start_chat(queue=queue, visitor_name="Vera")
    route_engagement(engagement_id=engagement.pk)
    post_message(engagement_id=engagement.pk, sender="visitor", body="Hello before the restart")
    token = make_visitor_token(engagement_id=engagement.pk, visitor_id=engagement.visitor_id)

    console = new_page(user=operator.user, path="/console/")
    visitor = new_page(path=f"/chat/{token}/")
    wait_connected(console)
    wait_connected(visitor)

    daphne_server.stop()
    wait_connected(console, "Reconnecting", timeout=15_000)
    wait_connected(visitor, "Reconnecting", timeout=15_000)
    visitor.fill("#composer-input", "Typed while the server was down")
    visitor.press("#composer-input", "Enter")

    daphne_server.start()
    wait_connected(visitor)
    wait_connected(console)
    visitor.locator("#transcript").get_by_text("Typed while the server was down").wait_for(timeout=20_000)
    console.get_by_text("Typed while the server was down").first.wait_for(timeout=20_000)
    assert Message.objects.filter(engagement=engagement, body="Typed while the server was down").count() == 1
    assert visitor.locator("#transcript").get_by_text("Typed while the server was down").count() == 1
