"""Reassign and force offline from the supervisor console (issue 13.3), in Chromium against Daphne:
a visitor, two operators and a supervisor, each in their own context."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from helpdesk.models import Availability, Engagement
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
    alice = OperatorFactory(site=team.site, teams=[team], display_name="Alice Archer", available=["chat"])
    bob = OperatorFactory(site=team.site, teams=[team], display_name="Bob Baker", available=["chat"])
    lead = make_supervisor(
        OperatorFactory(site=team.site, display_name="Sam Lead", user=UserFactory(username="sam"), teams=[])
    )
    return alice, bob, lead


def test_supervisor_reassigns_a_chat_then_forces_its_new_owner_offline(new_page, floor):
    alice, bob, lead = floor
    console_a = new_page(user=alice.user, path="/console/")
    console_b = new_page(user=bob.user, path="/console/")
    board = new_page(user=lead.user, path="/supervisor/")
    expect(board.get_by_test_id("live-status")).to_have_attribute("data-status", "open")

    visitor = start_visitor(new_page, "Vera Visitor")
    send(visitor, "Where is my parcel?")
    engagement = Engagement.objects.get()
    first_owner, other = (alice, bob) if engagement.owner_id == alice.pk else (bob, alice)
    first_console, other_console = (console_a, console_b) if first_owner == alice else (console_b, console_a)
    live_row = board.locator("[data-role=live] tr", has_text="Vera Visitor")
    expect(live_row).to_contain_text(first_owner.display_name)

    # Reassign: choosing alone does nothing (no act on a mere change); the button does it.
    live_row.get_by_role("button", name="Monitor the chat with Vera Visitor").click()
    monitor = board.get_by_test_id("monitor")
    monitor.get_by_test_id("reassign").click()
    expect(board.locator("#toasts")).to_contain_text("Choose an operator or a queue")
    monitor.get_by_label("Reassign to").select_option(label=other.display_name)
    assert Engagement.objects.get().owner_id == first_owner.pk
    assert_accessible(board, "supervisor-reassign")
    screenshot(board, "supervisor-reassign")
    monitor.get_by_test_id("reassign").click()
    expect(board.locator("#toasts")).to_contain_text("Reassigned.")
    expect(visitor.locator("#transcript")).to_contain_text(f"You are now chatting with {other.display_name}.")
    expect(visitor.locator("#status-title")).to_have_text(other.display_name)
    expect(other_console.locator("#engagement-list")).to_contain_text("Vera Visitor")
    expect(live_row).to_contain_text(other.display_name)

    # Force the new owner offline: they are told who did it, the chat goes back to the queue and
    # routing gives it to the operator still available; the visitor is never left alone.
    board.once("dialog", lambda dialog: dialog.accept())
    board.get_by_role("button", name=f"Force {other.display_name} offline").click()
    expect(other_console.locator("#toasts")).to_contain_text("Sam Lead set you offline")
    expect(visitor.locator("#status-title")).to_have_text(first_owner.display_name)
    expect(first_console.locator("#engagement-list")).to_contain_text("Vera Visitor")
    screenshot(other_console, "supervisor-forced-offline")

    assert Engagement.objects.get().owner_id == first_owner.pk
    assert not Availability.objects.filter(operator=other, status=Availability.Status.AVAILABLE).exists()
    acts = list(SupervisorAct.objects.order_by("pk").values_list("act", "operator_id"))
    assert ("reassign", first_owner.pk) in acts and ("force_offline", other.pk) in acts
