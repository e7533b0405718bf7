"""After-contact work, live: a transfer with a reason the receiver sees beside the warm note, the
initiator's and then the receiver's wrap-up (countdown, a disposition picked by keyboard, Done), and
routing giving the operator waiting work again only once their wrap-up is done."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from helpdesk.models import Availability, DispositionCode, Engagement, WrapUp, WrapUpMode
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.test_chat_transfer import console_of, open_dialog, operator_row, start_visitor
from tests.factories import DispositionCodeFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots/acw")
TRANSFER = DispositionCode.Kind.TRANSFER


@pytest.fixture
def centre():
    """General chat: time-boxed wrap-up of 90 s, a disposition required (default "No outcome"),
    transfer reasons; Alice gets the first visitor, Bob takes one chat at a time."""
    london = SiteFactory(name="London")
    support = TeamFactory(site=london, name="Support")
    general = QueueFactory(
        site=london, teams=[support], name="General chat", is_default=True,
        wrap_up_mode=WrapUpMode.TIMED, wrap_up_seconds=90, disposition_required=True,
    )  # fmt: skip
    resolved = DispositionCodeFactory(queue=general, name="Resolved", code="resolved", order=1)
    follow_up = DispositionCodeFactory(queue=general, name="Follow-up needed", code="follow-up", order=2)
    general.default_disposition = DispositionCodeFactory(queue=general, name="No outcome", code="none", order=3)
    general.save()
    DispositionCodeFactory(queue=general, kind=TRANSFER, name="Needs billing", code="billing")
    alice = OperatorFactory(
        site=london, teams=[support], display_name="Alice Archer", user=UserFactory(username="alice"),
        available=["chat"], chat_capacity=3,
    )  # fmt: skip
    bob = OperatorFactory(
        site=london, teams=[support], display_name="Bob Baker", user=UserFactory(username="bob"),
        available=["chat"], chat_capacity=1,
    )  # fmt: skip
    Availability.objects.filter(operator=alice, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    return {"alice": alice, "bob": bob, "resolved": resolved, "follow_up": follow_up}


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot(page, f"wrapup-{name}"), SHOTS / f"{name}.png")


def test_transfer_reason_then_wrap_up_by_keyboard_and_back_to_work(new_page, centre):
    alice, bob = centre["alice"], centre["bob"]
    console_a, console_b = console_of(new_page, alice), console_of(new_page, bob)
    vera = start_visitor(new_page, "Vera Visitor")
    expect(console_a.locator("#visitor-name")).to_have_text("Vera Visitor")

    # Alice transfers to Bob with a reason; Bob's prompt shows it beside the warm note.
    open_dialog(console_a)
    operator_row(console_a, "Bob Baker").click()
    console_a.fill("#transfer-warm", "Invoice 1042 charged twice")
    console_a.select_option("#transfer-reason", label="Needs billing")
    console_a.click("[data-testid=transfer-start]")
    prompt = console_b.locator("[data-testid=transfer-prompt]")
    expect(prompt.locator("[data-testid=transfer-prompt-reason]")).to_have_text("Needs billing")
    expect(prompt).to_contain_text("Invoice 1042 charged twice")
    shot(console_b, "1-prompt-with-reason")
    prompt.locator("[data-testid=transfer-accept]").click()
    console_a.click("[data-testid=transfer-now]")
    expect(console_b.locator("#visitor-name")).to_have_text("Vera Visitor")

    # Handing over puts Alice in wrap-up; she picks a disposition and is done.
    panel_a = console_a.locator("[data-testid=wrap-up-panel]")
    expect(panel_a).to_contain_text("Vera Visitor")
    expect(console_a.locator("#availability [data-media=chat] [data-role=load]")).to_contain_text("(in wrap-up)")
    panel_a.get_by_label("Resolved").check()
    panel_a.locator("[data-testid=wrap-up-done]").click()
    expect(panel_a).to_have_count(0)
    console_a.select_option("#availability select[data-media=chat]", "away")  # Alice steps away

    # Bob ends the chat: his wrap-up panel counts down; a new visitor waits meanwhile.
    console_b.once("dialog", lambda dialog: dialog.accept())
    console_b.click("#end-engagement")
    panel_b = console_b.locator("[data-testid=wrap-up-panel]")
    expect(panel_b.locator("[data-testid=wrap-up-countdown]")).to_have_text(re.compile(r"^1:[23]\d$"))
    expect(panel_b).to_contain_text("(required)")
    start_visitor(new_page, "Wendy Waiting")
    assert Engagement.objects.get(visitor__name="Wendy Waiting").state == Engagement.State.QUEUED
    assert_accessible(console_b, "console-wrap-up")

    # Done without a disposition is refused and said in the panel.
    panel_b.locator("[data-testid=wrap-up-done]").click()
    expect(panel_b.locator("[role=alert]")).to_contain_text("Pick a disposition")

    # By keyboard: into the radio group, arrow to the second code, Tab to Done, Enter.
    panel_b.get_by_label("Resolved").focus()
    console_b.keyboard.press("Space")
    console_b.keyboard.press("ArrowDown")
    expect(panel_b.get_by_label("Follow-up needed")).to_be_checked()
    shot(console_b, "2-wrap-up-panel")
    console_b.keyboard.press("Tab")
    expect(panel_b.locator("[data-testid=wrap-up-done]")).to_be_focused()
    console_b.keyboard.press("Enter")
    expect(panel_b).to_have_count(0)

    # Available again: the waiting visitor is routed to Bob at once.
    expect(console_b.locator("#engagement-list")).to_contain_text("Wendy Waiting")
    expect(console_b.locator("#availability [data-media=chat] [data-role=load]")).to_have_text("1/1")
    shot(console_b, "3-back-to-work")
    ended = WrapUp.objects.filter(ended_at__isnull=False).order_by("started_at")
    assert [(w.operator_id, w.ended_because, w.disposition_id) for w in ended] == [
        (alice.pk, "done", centre["resolved"].pk),
        (bob.pk, "done", centre["follow_up"].pk),
    ]
    assert vera.locator("#status-title").inner_text() == "Conversation ended"
