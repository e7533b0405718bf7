"""Issue 14.3-4 in visitor contexts: the place in line and the estimate, shown and updated live; then a
closed queue: when it opens next, and the offline message form (refused input first, then sent)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from helpdesk.models import Availability, OfflineMessage, OpeningSlot
from helpdesk.services.wait_estimate import record_answer
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.test_chat import start_visitor
from tests.factories import (
    EngagementFactory,
    OpeningSlotFactory,
    OperatorFactory,
    QueueFactory,
    QueueHoursFactory,
    QueueWaitEstimateFactory,
    TeamFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_waiting_visitor_sees_place_and_estimate_then_a_closed_queue_takes_a_message(new_page):
    team = TeamFactory(site__name="London")
    general = QueueFactory(site=team.site, teams=[team], name="General chat", is_default=True)
    billing = QueueFactory(site=team.site, teams=[team], name="Billing")
    QueueWaitEstimateFactory(queue=general, average_wait_seconds=300, samples=8)  # W = 5 min
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=1)
    Availability.objects.filter(operator=operator, media="chat").update(load=1)  # busy with a chat: others wait
    QueueHoursFactory(queue=billing, time_zone="UTC")
    tomorrow = (timezone.now() + timedelta(days=1)).weekday()
    OpeningSlotFactory(queue=billing, weekday=OpeningSlot.Weekday(tomorrow), opens_at=time(9), closes_at=time(17))

    first = start_visitor(new_page, "Ann", queue_name="General chat")
    expect(first.locator("#position")).to_have_text("1")
    expect(first.locator("#estimate")).to_have_text("Estimated wait: about 5 min")
    second = start_visitor(new_page, "Ben", queue_name="General chat")
    expect(second.locator("#conn")).to_contain_text("Connected")
    expect(second.locator("#position")).to_have_text("2")
    expect(second.locator("#estimate")).to_have_text("Estimated wait: about 5 min")

    # An answer elsewhere in the queue after 0 s moves W to 0.3*0 + 0.7*300 = 210 s; then Ann leaves:
    # Ben is told, without reloading, that he is first and has about ⌈(210 - a few s) / 60⌉ = 4 min to go.
    answered = EngagementFactory(queue=general, queued_at=timezone.now())
    record_answer(engagement=answered, answered_at=answered.queued_at)
    first.once("dialog", lambda dialog: dialog.accept())
    first.click("#end-chat")
    expect(second.locator("#position")).to_have_text("1")
    expect(second.locator("#estimate")).to_have_text("Estimated wait: about 4 min")
    assert_accessible(second, "waiting-visitor-estimate")
    screenshot(second, "waiting-01-place-and-estimate")

    visitor = new_page(path="/chat/")
    expect(visitor.locator(".queue-option", has_text="Billing")).to_contain_text(
        "Closed now · opens tomorrow at 09:00 (UTC)"
    )
    visitor.get_by_label("Billing").check()
    visitor.click("button[type=submit]")
    expect(visitor.get_by_test_id("opens-next")).to_have_text("We open again tomorrow at 09:00 (UTC).")
    visitor.fill("#id_email", "vera-at-example")
    visitor.fill("#id_message", "Where is my refund?")
    visitor.click("button[type=submit]")
    errors = visitor.get_by_test_id("offline-errors")
    expect(errors).to_contain_text("Name: Please give your name.")
    expect(errors).to_contain_text("That is not an e-mail address (it looks like name@example.com).")
    expect(visitor.locator("#id_email")).to_have_attribute("aria-invalid", "true")
    expect(visitor.locator("#id_message")).to_have_value("Where is my refund?")  # what was typed is kept
    assert not OfflineMessage.objects.exists()
    assert_accessible(visitor, "offline-form-errors")
    screenshot(visitor, "waiting-02-offline-errors")
    visitor.fill("#id_name", "Vera")
    visitor.fill("#id_email", "vera@example.com")
    visitor.click("button[type=submit]")
    expect(visitor.get_by_test_id("offline-sent")).to_contain_text("your message is with us")
    assert_accessible(visitor, "offline-form-sent")
    screenshot(visitor, "waiting-03-offline-sent")
    stored = OfflineMessage.objects.select_related("engagement__visitor").get()
    assert (stored.email, stored.engagement.visitor.name, stored.engagement.queue) == (
        "vera@example.com",
        "Vera",
        billing,
    )
