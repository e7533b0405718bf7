"""The supervisor console in Chromium against Daphne: visitor, operator and two supervisors, each in
their own context. The wallboard moves live; monitoring sees new lines; whisper reaches the operator
only; barge puts the supervisor's line on the visitor's screen; take over leaves one winner."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from helpdesk.models import Engagement, Message, Note
from supervision.models import SupervisorAct
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.test_chat import send, start_visitor
from tests.factories import OperatorFactory, QueueFactory, TeamFactory, UserFactory
from tests.supervision.conftest import make_supervisor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def floor():
    team = TeamFactory(site__name="Lyon")
    QueueFactory(site=team.site, teams=[team], name="General chat", is_default=True)
    alice = OperatorFactory(
        site=team.site, teams=[team], display_name="Alice Archer", available=["chat"], chat_capacity=3
    )
    OperatorFactory(site=team.site, teams=[team], display_name="Bob Baker", available=["chat"], chat_capacity=3)
    lead = make_supervisor(
        OperatorFactory(site=team.site, display_name="Sam Lead", user=UserFactory(username="sam"), teams=[])
    )
    lead2 = make_supervisor(
        OperatorFactory(site=team.site, display_name="Tess Lead", user=UserFactory(username="tess"), teams=[])
    )
    return alice, lead, lead2


def test_supervisor_monitors_whispers_barges_and_takes_over(new_page, floor):
    alice, lead, lead2 = floor
    board = new_page(user=lead.user, path="/console/")
    board.get_by_role("link", name="Supervisor").click()  # the top bar offers it to supervisors only
    expect(board.get_by_test_id("live-status")).to_have_attribute("data-status", "open")
    expect(board.locator("[data-role=live]")).to_contain_text("No live engagements")

    operator = new_page(user=alice.user, path="/console/")
    visitor = start_visitor(new_page, "Vera Visitor")
    send(visitor, "My parcel never came")
    # The wallboard moves without a reload: the chat appears, Alice is busy 1/3.
    live_row = board.locator("[data-role=live] tr", has_text="Vera Visitor")
    expect(live_row).to_contain_text("Alice Archer")
    expect(board.locator(f"[data-operator-id='{alice.pk}']")).to_contain_text("Busy 1/3")
    expect(board.locator("[data-kpi=answered]").first).to_have_text("1")

    live_row.get_by_role("button", name="Monitor the chat with Vera Visitor").click()
    monitor = board.get_by_test_id("monitor")
    expect(monitor).to_be_visible()
    expect(monitor.locator("[data-role=transcript]")).to_contain_text("My parcel never came")
    send(visitor, "It was due Monday")
    expect(monitor.locator("[data-role=transcript]")).to_contain_text("It was due Monday")  # live

    monitor.locator("[data-role=compose]").fill("Offer the express resend")
    monitor.locator("[data-role=compose]").press("Enter")
    expect(monitor.locator("[data-role=transcript]")).to_contain_text("Offer the express resend")
    screenshot(board, "supervisor-monitor")
    assert_accessible(board, "supervisor-monitor")

    # A second supervisor watches too, and then both try to take over.
    board2 = new_page(user=lead2.user, path="/supervisor/")
    board2.locator("[data-role=live] tr", has_text="Vera Visitor").get_by_role("button").click()
    expect(board2.get_by_test_id("monitor")).to_be_visible()
    expect(live_row).to_contain_text("Tess Lead")  # watched by, on the other supervisor's board

    monitor.get_by_role("button", name="Join conversation").click()
    expect(monitor.locator("[data-role=compose-send]")).to_have_text("Send")
    monitor.locator("[data-role=compose]").fill("Hello Vera, I am Alice's team lead")
    monitor.locator("[data-role=compose]").press("Enter")
    expect(visitor.locator("#transcript")).to_contain_text("Hello Vera, I am Alice's team lead")

    monitor.get_by_role("button", name="Take over").click()
    expect(board.locator("#toasts")).to_contain_text("The chat is yours now")
    board2.get_by_test_id("monitor").get_by_role("button", name="Take over").click()
    expect(board2.locator("#toasts")).to_contain_text("Sam Lead has this conversation now")
    expect(visitor.locator("#transcript")).to_contain_text("You are now talking to Sam Lead")
    expect(operator.locator("#toasts")).to_contain_text("Sam Lead took over this conversation.")
    screenshot(board, "supervisor-wallboard")
    screenshot(operator, "supervisor-operator-after-take-over")

    engagement = Engagement.objects.get()
    assert engagement.owner == lead
    assert Note.objects.filter(engagement=engagement, source="whisper", body="Offer the express resend").count() == 1
    assert not Message.objects.filter(body="Offer the express resend").exists()  # never shown to the visitor
    assert SupervisorAct.objects.filter(act="take_over").count() == 1


def test_a_supervisor_tabbed_to_a_wallboard_button_keeps_it_while_the_board_moves(new_page, floor):
    """The live and operator tables are redrawn on every wallboard frame: keyboard focus stays on
    the same button (it used to fall back to the page), and Enter then does what it says."""
    alice, lead, _ = floor
    board = new_page(user=lead.user, path="/supervisor/")
    expect(board.get_by_test_id("live-status")).to_have_attribute("data-status", "open")
    send(start_visitor(new_page, "Vera Visitor"), "My parcel never came")
    live = board.locator("[data-role=live]")
    monitor_vera = live.get_by_role("button", name="Monitor the chat with Vera Visitor")
    expect(monitor_vera).to_be_visible()

    monitor_vera.focus()
    send(start_visitor(new_page, "Walt Visitor"), "Where is my refund?")  # a new row: both tables redrawn
    expect(live.locator("tr", has_text="Walt Visitor")).to_be_visible()
    expect(board.locator("[data-role=operators] li", has_text="Bob Baker")).to_contain_text("Busy 1/3")
    expect(monitor_vera).to_be_focused()
    board.keyboard.press("Enter")
    expect(board.get_by_test_id("monitor").locator("[data-role=transcript]")).to_contain_text("My parcel never came")

    force_alice = board.get_by_role("button", name="Force Alice Archer offline")
    force_alice.focus()
    send(start_visitor(new_page, "Xena Visitor"), "Hello?")
    expect(live.locator("tr", has_text="Xena Visitor")).to_be_visible()
    expect(force_alice).to_be_focused()


def test_an_operator_is_refused_the_supervisor_console(new_page, floor):
    alice, _, _ = floor
    page = new_page(user=alice.user, path="/console/")
    assert page.get_by_role("link", name="Supervisor").count() == 0
    response = page.goto("/supervisor/")
    assert response.status == 403
