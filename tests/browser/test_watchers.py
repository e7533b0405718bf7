"""Who is watching, on the operator's console (issue 13.2), in Chromium against Daphne: visitor,
operator and supervisor each in their own context. The operator sees "Watched by Sam Lead
(supervisor)" on the chat's header and an eye in the chat list as soon as monitoring starts, still
after a reload, and no longer once it stops; the visitor's page never mentions it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.test_chat import send, start_visitor
from tests.factories import OperatorFactory, QueueFactory, TeamFactory, UserFactory
from tests.supervision.conftest import make_supervisor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCHED = "Watched by Sam Lead (supervisor)"


@pytest.fixture
def floor():
    team = TeamFactory(site__name="Lyon")
    QueueFactory(site=team.site, teams=[team], name="General chat", is_default=True)
    alice = OperatorFactory(site=team.site, teams=[team], display_name="Alice Archer", available=["chat"])
    lead = make_supervisor(
        OperatorFactory(site=team.site, display_name="Sam Lead", user=UserFactory(username="sam"), teams=[])
    )
    return alice, lead


def test_operator_sees_who_watches_live_and_after_a_reload(new_page, floor):
    alice, lead = floor
    console = new_page(user=alice.user, path="/console/")
    visitor = start_visitor(new_page, "Vera Visitor")
    send(visitor, "Where is my parcel?")
    expect(console.locator("#transcript")).to_contain_text("Where is my parcel?")
    header = console.get_by_test_id("watchers")
    list_row = console.locator("#engagement-list [data-engagement-id]", has_text="Vera Visitor")
    expect(header).to_be_empty()

    board = new_page(user=lead.user, path="/supervisor/")
    board.locator("[data-role=live] tr", has_text="Vera Visitor").get_by_role(
        "button", name="Monitor the chat with Vera Visitor"
    ).click()
    expect(board.get_by_test_id("monitor")).to_be_visible()

    # Live: the header's status region and the list row's eye, its words there for screen readers.
    expect(header).to_have_attribute("role", "status")
    expect(header.get_by_test_id("watchers-badge")).to_have_text(WATCHED)
    expect(header.locator(".watch-eye")).to_have_attribute("aria-hidden", "true")
    expect(list_row.get_by_test_id("watch-badge")).to_have_attribute("title", WATCHED)
    expect(console.locator("#details")).to_contain_text(WATCHED)
    assert_accessible(console, "console-watched")
    screenshot(console, "console-watched")

    # After a reload (a fresh hello), the console asks who watches and shows it again.
    console.reload()
    expect(console.locator("#conn")).to_contain_text("Connected")
    console.locator("#engagement-list [data-engagement-id]", has_text="Vera Visitor").click()
    expect(console.get_by_test_id("watchers-badge")).to_contain_text(WATCHED)
    expect(console.get_by_test_id("watch-badge")).to_have_count(1)

    board.get_by_test_id("monitor").get_by_role("button", name="Stop monitoring").click()
    expect(console.get_by_test_id("watchers-badge")).to_have_count(0)
    expect(console.get_by_test_id("watch-badge")).to_have_count(0)
    expect(console.get_by_test_id("watchers")).to_have_text("No supervisor is watching now.")  # read out, not seen
    expect(console.locator("#details")).not_to_contain_text("Supervision")

    # The visitor was never told: no word of supervision on their page, only their own line.
    send(visitor, "Thanks")
    expect(console.locator("#transcript")).to_contain_text("Thanks")
    page_text = visitor.locator("body").inner_text().lower()
    for word in ("watch", "supervis", "sam lead", "monitor"):
        assert word not in page_text
