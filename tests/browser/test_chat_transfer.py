"""The chat transfer seed, live, with three Chromium contexts: the visitor, operator A and operator B."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from helpdesk.models import Availability, Engagement, Note
from tests.browser.conftest import screenshot
from tests.browser.instruments import OFFER_CHIME, notifications, open_instrumented, sounds
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory, UserFactory
from transfers.models import Transfer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def company():
    """London (Support and Billing teams) and Lisbon; Alice gets the visitor first."""
    london = SiteFactory(name="London")
    support = TeamFactory(site=london, name="Support")
    billing = TeamFactory(site=london, name="Billing")
    general = QueueFactory(site=london, teams=[support], name="General chat", is_default=True)
    billing_queue = QueueFactory(site=london, teams=[billing], name="Billing chat", accept_timeout_seconds=20)
    alice = OperatorFactory(
        site=london, teams=[support], display_name="Alice Archer", user=UserFactory(username="alice"),
        available=["chat"], chat_capacity=3,
    )  # fmt: skip
    bob = OperatorFactory(
        site=london, teams=[support], display_name="Bob Baker", user=UserFactory(username="bob"),
        available=["chat", "voice"], chat_capacity=3,
    )  # fmt: skip
    carol = OperatorFactory(
        site=london, teams=[billing], display_name="Carol Chen", user=UserFactory(username="carol"),
        available=["chat"], chat_capacity=3,
    )  # fmt: skip
    OperatorFactory(
        site=london, teams=[support], display_name="Eve Evans", user=UserFactory(username="eve"), available=["chat"]
    )
    Availability.objects.filter(operator__display_name="Eve Evans", media="chat").update(status="away")
    lisbon = SiteFactory(name="Lisbon")
    OperatorFactory(
        site=lisbon, teams=[TeamFactory(site=lisbon, name="Suporte")], display_name="Diogo Dias",
        user=UserFactory(username="diogo"),
    )  # fmt: skip
    # Routing gives the visitor to the longest idle: Alice.
    Availability.objects.filter(operator=alice, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    return {"general": general, "billing": billing_queue, "alice": alice, "bob": bob, "carol": carol}


def run_off_the_page_thread(act):
    """Run a service as a worker would: in its own thread and connection, off Playwright's event loop."""
    outcome = []

    def run():
        try:
            outcome.append(act())
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)
    assert outcome, "the act did not finish"
    return outcome[0]


def start_visitor(new_page, name: str):
    page = new_page(path="/chat/")
    page.get_by_label("General chat").check()
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/chat/.+/"))
    return page


def send(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def console_of(new_page, operator):
    page = open_instrumented(new_page, user=operator.user, path="/console/")
    expect(page.locator("#conn")).to_contain_text("Connected")
    return page


def operator_row(console, name):
    return console.locator("#transfer-operators [role=option]", has_text=name)


def open_dialog(console):
    console.click("[data-testid=transfer-button]")
    dialog = console.locator("#transfer-dialog")
    expect(dialog).to_be_visible()
    expect(operator_row(console, "Bob Baker")).to_be_visible()
    return dialog


def test_seed_flow_decline_back_retry_accept_transfer_now(new_page, company):
    """Bob declines; Back; the retry goes to another operator, Carol, with the same warm note."""
    alice, bob, carol = company["alice"], company["bob"], company["carol"]
    console_a = console_of(new_page, alice)
    console_b = console_of(new_page, bob)
    console_c = console_of(new_page, carol)
    visitor = start_visitor(new_page, "Vera Visitor")
    expect(visitor.locator("#status-title")).to_have_text("Alice Archer")
    expect(console_a.locator("#visitor-name")).to_have_text("Vera Visitor")
    send(visitor, "Hi, I need a refund for order 1042")
    expect(console_a.locator("#transcript")).to_contain_text("refund for order 1042")
    send(console_a, "Sure, let me get our refunds specialist")
    expect(visitor.locator("#transcript")).to_contain_text("refunds specialist")

    # 1-2. The Transfer button in the header opens the dialog: operators with availability per media.
    dialog = open_dialog(console_a)
    expect(console_a.locator("#transfer-search")).to_be_focused()
    rows = console_a.locator("#transfer-operators [role=option]")
    expect(rows).to_have_count(4)  # everyone but Alice herself
    expect(console_a.locator("#transfer-operators")).not_to_contain_text("Alice Archer")
    bob_row = operator_row(console_a, "Bob Baker")
    expect(bob_row.locator("[data-media=chat]")).to_have_attribute("data-status", "available")
    expect(bob_row.locator("[data-media=voice]")).to_have_attribute("data-status", "available")
    expect(bob_row.locator("[data-media=video]")).to_have_attribute("data-status", "offline")
    eve = operator_row(console_a, "Eve Evans")
    expect(eve).to_have_attribute("aria-disabled", "true")
    expect(eve).to_contain_text("Away")
    expect(operator_row(console_a, "Diogo Dias")).to_contain_text("Offline")
    eve.click(force=True)
    expect(eve).to_have_attribute("aria-selected", "false")
    expect(console_a.locator("[data-testid=transfer-start]")).to_be_disabled()
    screenshot(console_a, "transfer-01-dialog-operators")

    # Search by team, by email; the site selector narrows to Lisbon.
    console_a.fill("#transfer-search", "billing")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Carol Chen")
    console_a.fill("#transfer-search", "bob@")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Bob Baker")
    console_a.fill("#transfer-search", "")
    expect(rows).to_have_count(4)
    console_a.select_option("#transfer-site", label="Lisbon")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Diogo Dias")
    console_a.select_option("#transfer-site", label="All sites")
    expect(rows).to_have_count(4)

    # 2.1 Queues: how many wait and for how long.
    console_a.click("#transfer-tab-queues")
    queues = console_a.locator("#transfer-queues [role=option]")
    expect(queues).to_have_count(2)
    expect(queues.filter(has_text="General chat").locator("[data-role=waiting]")).to_have_text("0")
    expect(console_a.locator("[data-testid=transfer-start]")).to_have_text("Send to Queue")
    screenshot(console_a, "transfer-02-dialog-queues")
    console_a.click("#transfer-tab-operators")

    # 3. Pick Bob and write the warm message.
    operator_row(console_a, "Bob Baker").click()
    console_a.fill("#transfer-warm", "Refund for order 1042, identity verified")
    start = console_a.locator("[data-testid=transfer-start]")
    expect(start).to_have_text("Start Transfer to Operator")
    screenshot(console_a, "transfer-03-warm-message")

    # Esc closes the dialog; the draft is kept.
    console_a.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    open_dialog(console_a)
    expect(console_a.locator("#transfer-warm")).to_have_value("Refund for order 1042, identity verified")
    operator_row(console_a, "Bob Baker").click()

    # 4. Start: A waits with a countdown, B is asked.
    start.click()
    expect(dialog).to_be_hidden()
    banner = console_a.locator("[data-testid=transfer-banner]")
    expect(banner).to_contain_text("Waiting for Bob Baker to answer")
    expect(banner.locator("[data-testid=transfer-countdown]")).to_have_text(re.compile(r"0:(2\d|30)"))
    expect(console_a.locator("[data-testid=transfer-button]")).to_be_disabled()

    # 5. B's incoming prompt: who asks, the visitor, the warm message, a countdown.
    prompt = console_b.locator("[data-testid=transfer-prompt]")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text("Alice Archer wants to transfer Vera Visitor to you")
    expect(prompt).to_contain_text("Refund for order 1042, identity verified")
    expect(prompt.locator("[data-role=countdown]")).to_have_text(re.compile(r"0:[0-3]\d"))
    assert sounds(console_b, OFFER_CHIME) == 1  # the chime played
    screenshot(console_a, "transfer-04-waiting")
    screenshot(console_b, "transfer-05-incoming")

    # The initiator keeps chatting meanwhile.
    send(console_a, "One moment while I find the right person")
    expect(visitor.locator("#transcript")).to_contain_text("One moment while I find the right person")

    # Decline with a reason: A sees why, in a popup.
    prompt.locator("[data-testid=transfer-decline]").click()
    console_b.fill("[data-testid=transfer-decline-reason]", "Going on my break in 2 minutes")
    prompt.locator("[data-testid=transfer-decline]").click()
    expect(prompt).to_have_count(0)
    result = console_a.locator("[data-testid=transfer-result]")
    expect(result).to_be_visible()
    expect(result).to_contain_text("Transfer declined")
    expect(result).to_contain_text("Bob Baker declined the transfer.")
    expect(result).to_contain_text("Going on my break in 2 minutes")
    expect(console_a.locator("[data-testid=transfer-back]")).to_be_focused()
    screenshot(console_a, "transfer-06-declined")

    # Back: the dialog again, with the warm message still there.
    console_a.click("[data-testid=transfer-back]")
    expect(dialog).to_be_visible()
    expect(console_a.locator("#transfer-warm")).to_have_value("Refund for order 1042, identity verified")

    # Retry with another operator, Carol, while her tab is in the background: sound and a browser notification.
    console_c.evaluate("Object.defineProperty(document, 'hidden', {configurable: true, get: () => true})")
    operator_row(console_a, "Carol Chen").click()
    start.click()
    expect(dialog).to_be_hidden()
    expect(banner).to_contain_text("Waiting for Carol Chen to answer")
    prompt_c = console_c.locator("[data-testid=transfer-prompt]")
    expect(prompt_c).to_be_visible()
    expect(prompt_c).to_contain_text("Alice Archer wants to transfer Vera Visitor to you")
    expect(prompt_c).to_contain_text("Refund for order 1042, identity verified")  # the same warm message
    assert sounds(console_c, OFFER_CHIME) == 1
    assert notifications(console_c, "Incoming transfer") == 1
    assert sounds(console_b, OFFER_CHIME) == 1  # Bob is not asked again
    expect(prompt).to_have_count(0)
    console_c.evaluate("Object.defineProperty(document, 'hidden', {configurable: true, get: () => false})")
    prompt_c.locator("[data-testid=transfer-accept]").click()
    expect(prompt_c).to_have_count(0)

    # 6. Accepted: A says goodbye and clicks Transfer Now.
    expect(banner).to_contain_text("Carol Chen accepted the transfer")
    # The visitor is told where they are going (issue 14.3), and then who joined.
    expect(visitor.locator("#transferring")).to_have_text("Transferring you to Carol Chen…")
    screenshot(visitor, "transfer-07b-visitor-transferring")
    visitor.reload()  # a reconnect is told again (hello's transferring_to)
    expect(visitor.locator("#transferring")).to_have_text("Transferring you to Carol Chen…")
    expect(visitor.locator("#transcript")).to_contain_text("One moment while I find the right person")
    now_button = console_a.locator("[data-testid=transfer-now]")
    expect(now_button).to_be_visible()
    screenshot(console_a, "transfer-07-accepted")
    send(console_a, "Carol will take it from here. Goodbye!")
    expect(visitor.locator("#transcript")).to_contain_text("Carol will take it from here. Goodbye!")
    now_button.click()

    # 7. The visitor is with Carol; Carol has the whole history and the warm message in the notes, once.
    expect(visitor.locator("#status-title")).to_have_text("Carol Chen")
    expect(visitor.locator("#transcript")).to_contain_text("You are now chatting with Carol Chen.")
    expect(visitor.locator("#transferring")).to_be_hidden()
    expect(console_c.locator("#visitor-name")).to_have_text("Vera Visitor")
    transcript_c = console_c.locator("#transcript")
    for line in (
        "Hi, I need a refund for order 1042",
        "Sure, let me get our refunds specialist",
        "One moment while I find the right person",
        "Carol will take it from here. Goodbye!",
    ):
        expect(transcript_c).to_contain_text(line)
    transfer_notes = console_c.locator("#notes .note.transfer")
    expect(transfer_notes).to_have_count(1)  # kept from the first attempt, not written twice
    expect(transfer_notes).to_contain_text("Refund for order 1042, identity verified")
    history = console_c.locator("[data-testid=transfer-history]")
    expect(history.locator(".transfer-history-item")).to_have_count(2)
    expect(history.locator(".transfer-history-item").first).to_contain_text("Bob Baker")
    expect(history).to_contain_text("Going on my break in 2 minutes")
    expect(history.locator(".transfer-history-item").last).to_contain_text("Carol Chen")
    expect(history.locator(".transfer-history-item").last).to_contain_text("Completed")
    expect(history).to_contain_text("Transfer note by Alice Archer")
    expect(console_c.locator("[data-testid=transfer-banner]")).to_be_hidden()
    expect(console_c.locator("[data-testid=transfer-button]")).to_be_enabled()  # C may transfer it on
    screenshot(console_c, "transfer-09-new-owner")
    screenshot(visitor, "transfer-10-visitor-with-carol")

    # The initiator's copy is read-only and left the active list.
    readonly = console_a.locator("[data-testid=transfer-readonly]")
    expect(readonly).to_be_visible()
    expect(readonly).to_contain_text("Transferred to Carol Chen")
    expect(readonly).to_contain_text("Carol will take it from here. Goodbye!")
    expect(console_a.locator("#engagement-list")).not_to_contain_text("Vera Visitor")
    expect(console_a.locator("#composer")).to_be_hidden()
    screenshot(console_a, "transfer-08-initiator-read-only")

    send(console_c, "Hi Vera, Carol here. I can do that refund now.")
    expect(visitor.locator("#transcript")).to_contain_text("Carol here")
    expect(console_b.locator("#engagement-list")).not_to_contain_text("Vera Visitor")
    engagement = Engagement.objects.get()
    assert engagement.owner == carol
    transfers = list(Transfer.objects.order_by("requested_at"))
    assert [(t.state, t.target_operator) for t in transfers] == [("declined", bob), ("completed", carol)]
    note = Note.objects.get(source="transfer")  # one transfer note for both attempts
    assert (note.author, note.body) == (alice, "Refund for order 1042, identity verified")
    assert {t.note_id for t in transfers} == {note.pk}


def test_unanswered_transfer_expires_and_back_keeps_the_note(
    new_page, company, celery_worker_process, celery_beat_process
):
    alice, bob = company["alice"], company["bob"]
    company["general"].accept_timeout_seconds = 5
    company["general"].save()
    console_a = console_of(new_page, alice)
    console_b = console_of(new_page, bob)
    visitor = start_visitor(new_page, "Nora Noanswer")
    expect(console_a.locator("#visitor-name")).to_have_text("Nora Noanswer")

    open_dialog(console_a)
    operator_row(console_a, "Bob Baker").click()
    console_a.fill("#transfer-warm", "Billing question")
    console_a.click("[data-testid=transfer-start]")
    prompt = console_b.locator("[data-testid=transfer-prompt]")
    expect(prompt).to_be_visible()
    expect(console_a.locator("[data-testid=transfer-countdown]")).to_have_text(re.compile(r"0:0[1-5]"))

    result = console_a.locator("[data-testid=transfer-result]")
    expect(result).to_be_visible(timeout=12_000)
    expect(result).to_contain_text("Transfer not answered")
    expect(result).to_contain_text("Bob Baker did not answer within 5 seconds.")
    expect(prompt).to_have_count(0)
    screenshot(console_a, "transfer-11-not-answered")
    transfer = Transfer.objects.get()
    assert (transfer.state, transfer.end_reason) == ("expired", "not_answered")

    console_a.click("[data-testid=transfer-back]")
    expect(console_a.locator("#transfer-warm")).to_have_value("Billing question")
    expect(visitor.locator("#status-title")).to_have_text("Alice Archer")


def test_queue_transfer_waits_then_goes_to_the_queue_operator(
    new_page, company, celery_worker_process, celery_beat_process
):
    from helpdesk.services.engagements import end_engagement
    from tests.factories import EngagementFactory

    alice, carol = company["alice"], company["carol"]
    Availability.objects.filter(operator=carol, media="chat").update(status="offline")
    # A visitor already waits in Billing chat: the transfer queues behind them.
    ahead = EngagementFactory(queue=company["billing"], visitor__name="Early Bird")
    console_a = console_of(new_page, alice)
    console_c = console_of(new_page, carol)
    visitor = start_visitor(new_page, "Quentin Queue")
    expect(console_a.locator("#visitor-name")).to_have_text("Quentin Queue")

    open_dialog(console_a)
    console_a.click("#transfer-tab-queues")
    console_a.locator("#transfer-queues [role=option]", has_text="Billing chat").click()
    console_a.fill("#transfer-warm", 'Invoice 77 is wrong <img src=x onerror="window.pwned=1">')
    console_a.click("[data-testid=transfer-start]")

    # Nobody of the Billing team is free: it waits, A sees the position and the wait.
    banner = console_a.locator("[data-testid=transfer-banner]")
    expect(banner).to_contain_text("Waiting in Billing chat")
    expect(banner).to_contain_text("position 2")
    expect(banner.locator("[data-testid=transfer-countdown]")).to_have_text(re.compile(r"0:0[1-9]"), timeout=5000)
    screenshot(console_a, "transfer-12-queue-waiting")

    # The visitor ahead gives up: the queue moves (queues.changed) and A's position follows, live.
    rereads = []  # the initiator re-reads its waiting transfer from the server
    console_a.on("request", lambda request: rereads.append(1) if request.url.endswith("/transfers/mine/") else None)
    run_off_the_page_thread(lambda: end_engagement(engagement_id=ahead.pk, reason="visitor_left"))
    expect(banner).to_contain_text("position 1", timeout=5000)  # well before the 15 s fallback poll
    assert rereads
    expect(banner.locator("[data-testid=transfer-countdown]")).to_have_text(re.compile(r"0:\d\d"))

    # Carol becomes available: the sweep offers it to her.
    console_c.select_option("select[data-media=chat]", "available")
    prompt = console_c.locator("[data-testid=transfer-prompt]")
    expect(prompt).to_be_visible(timeout=10_000)
    expect(prompt).to_contain_text("Alice Archer wants to transfer Quentin Queue to you (queue Billing chat)")
    expect(prompt).to_contain_text('Invoice 77 is wrong <img src=x onerror="window.pwned=1">')  # text, not markup
    assert console_c.evaluate("window.pwned") is None
    expect(banner).to_contain_text("Offered to Carol Chen (Billing chat)")
    prompt.locator("[data-testid=transfer-accept]").click()
    expect(banner).to_contain_text("Carol Chen accepted the transfer")
    console_a.click("[data-testid=transfer-now]")

    expect(visitor.locator("#status-title")).to_have_text("Carol Chen")
    expect(console_c.locator("#visitor-name")).to_have_text("Quentin Queue")
    expect(console_c.locator("#notes")).to_contain_text("Invoice 77 is wrong <img")
    assert console_c.evaluate("window.pwned") is None
    assert Engagement.objects.exclude(pk=ahead.pk).get().owner == carol


def test_target_going_offline_stops_it_with_that_reason_and_cancel_withdraws_the_prompt(new_page, company):
    alice, bob = company["alice"], company["bob"]
    console_a = console_of(new_page, alice)
    console_b = console_of(new_page, bob)
    start_visitor(new_page, "Olga Offline")
    expect(console_a.locator("#visitor-name")).to_have_text("Olga Offline")

    # The initiator cancels: the target's prompt goes away.
    open_dialog(console_a)
    operator_row(console_a, "Bob Baker").click()
    console_a.click("[data-testid=transfer-start]")
    prompt = console_b.locator("[data-testid=transfer-prompt]")
    expect(prompt).to_be_visible()
    console_a.click("[data-testid=transfer-cancel]")
    expect(prompt).to_have_count(0)
    expect(console_a.locator("[data-testid=transfer-banner]")).to_be_hidden()
    expect(console_a.locator("[data-testid=transfer-button]")).to_be_enabled()

    # The target goes offline while asked: the initiator is told why.
    open_dialog(console_a)
    operator_row(console_a, "Bob Baker").click()
    console_a.click("[data-testid=transfer-start]")
    expect(prompt).to_be_visible()
    console_b.select_option("select[data-media=chat]", "offline")
    result = console_a.locator("[data-testid=transfer-result]")
    expect(result).to_be_visible()
    expect(result).to_contain_text("Bob Baker went offline.")
    expect(prompt).to_have_count(0)
    assert [(t.state, t.end_reason) for t in Transfer.objects.order_by("requested_at")] == [
        ("cancelled", "initiator_cancelled"),
        ("cancelled", "offline"),
    ]
    # Bob is now offline: not pickable any more.
    console_a.click("[data-testid=transfer-back]")
    expect(operator_row(console_a, "Bob Baker")).to_have_attribute("aria-disabled", "true")
    expect(operator_row(console_a, "Bob Baker")).to_contain_text("Offline")
    console_a.keyboard.press("Escape")
    expect(console_a.locator("#transfer-dialog")).to_be_hidden()


def test_target_filling_up_and_a_queue_where_everyone_declines_each_say_why(new_page, company):
    """Two of the popup's reasons: the operator reached capacity while asked, and everyone in a queue declined."""
    from tests.transfers.conftest import give_engagement

    alice, bob, carol = company["alice"], company["bob"], company["carol"]
    Availability.objects.filter(operator=bob, media="chat").update(capacity=1)
    console_a = console_of(new_page, alice)
    console_b = console_of(new_page, bob)
    console_c = console_of(new_page, carol)
    start_visitor(new_page, "Cora Capacity")
    expect(console_a.locator("#visitor-name")).to_have_text("Cora Capacity")

    # Bob is asked; routing gives him a chat meanwhile and he is full: the offer stops, A is told why.
    open_dialog(console_a)
    operator_row(console_a, "Bob Baker").click()
    console_a.fill("#transfer-warm", "Wants a callback tomorrow")
    console_a.click("[data-testid=transfer-start]")
    prompt_b = console_b.locator("[data-testid=transfer-prompt]")
    expect(prompt_b).to_be_visible()
    run_off_the_page_thread(lambda: give_engagement(owner=bob, queue=company["general"], visitor_name="Walk In"))
    result = console_a.locator("[data-testid=transfer-result]")
    expect(result).to_be_visible()
    expect(result).to_contain_text("Transfer stopped")
    expect(result).to_contain_text("Bob Baker has reached their capacity and cannot take it now.")
    expect(prompt_b).to_have_count(0)
    expect(console_b.locator("#toasts")).to_contain_text("The transfer was withdrawn.")
    screenshot(console_a, "transfer-16-at-capacity")

    # Back, then the Billing queue: Carol, its only operator, declines, so everyone there has declined.
    console_a.click("[data-testid=transfer-back]")
    expect(console_a.locator("#transfer-warm")).to_have_value("Wants a callback tomorrow")
    console_a.click("#transfer-tab-queues")
    console_a.locator("#transfer-queues [role=option]", has_text="Billing chat").click()
    console_a.click("[data-testid=transfer-start]")
    prompt_c = console_c.locator("[data-testid=transfer-prompt]")
    expect(prompt_c).to_be_visible()
    prompt_c.locator("[data-testid=transfer-decline]").click()
    console_c.fill("[data-testid=transfer-decline-reason]", "Billing only")
    prompt_c.locator("[data-testid=transfer-decline]").click()
    expect(prompt_c).to_have_count(0)
    expect(result).to_be_visible()
    expect(result).to_contain_text("Transfer declined")
    expect(result).to_contain_text("Everyone in Billing chat declined the transfer.")
    screenshot(console_a, "transfer-17-everyone-declined")
    console_a.click("[data-testid=transfer-back]")
    expect(console_a.locator("#transfer-dialog")).to_be_visible()
    expect(console_a.locator("#transfer-warm")).to_have_value("Wants a callback tomorrow")
    assert [(t.state, t.end_reason) for t in Transfer.objects.order_by("requested_at")] == [
        ("cancelled", "at_capacity"),
        ("declined", "all_declined"),
    ]


def test_dialog_lists_follow_availability_live(new_page, company):
    alice, carol = company["alice"], company["carol"]
    console_a = console_of(new_page, alice)
    console_c = console_of(new_page, carol)
    start_visitor(new_page, "Lena Live")
    expect(console_a.locator("#visitor-name")).to_have_text("Lena Live")
    open_dialog(console_a)
    carol_row = operator_row(console_a, "Carol Chen")
    carol_row.click()
    expect(carol_row).to_have_attribute("aria-selected", "true")
    console_c.select_option("select[data-media=chat]", "away")
    expect(carol_row).to_have_attribute("aria-disabled", "true")
    expect(carol_row).to_contain_text("Away")
    expect(console_a.locator("[data-testid=transfer-start]")).to_be_disabled()
    console_c.select_option("select[data-media=chat]", "available")
    expect(carol_row).not_to_have_attribute("aria-disabled", "true")
    # Keyboard: arrows move between rows, Space picks, Escape closes.
    carol_row.focus()
    console_a.keyboard.press("ArrowUp")
    console_a.keyboard.press("Space")
    expect(operator_row(console_a, "Bob Baker")).to_have_attribute("aria-selected", "true")
    expect(console_a.locator("[data-testid=transfer-start]")).to_be_enabled()
    console_a.keyboard.press("Escape")
    expect(console_a.locator("#transfer-dialog")).to_be_hidden()
    expect(console_a.locator("[data-testid=transfer-button]")).to_be_focused()


def transfer_to_bob_and_accept(console_a, console_b):
    open_dialog(console_a)
    operator_row(console_a, "Bob Baker").click()
    console_a.click("[data-testid=transfer-start]")
    prompt = console_b.locator("[data-testid=transfer-prompt]")
    expect(prompt).to_be_visible()
    prompt.locator("[data-testid=transfer-accept]").click()
    expect(prompt).to_have_count(0)
    expect(console_a.locator("[data-testid=transfer-banner]")).to_contain_text("Bob Baker accepted the transfer")


def test_initiator_reopens_the_read_only_copy_after_a_reload(new_page, company):
    alice, bob = company["alice"], company["bob"]
    console_a = console_of(new_page, alice)
    console_b = console_of(new_page, bob)
    visitor = start_visitor(new_page, "Rita Reload")
    expect(console_a.locator("#visitor-name")).to_have_text("Rita Reload")
    send(visitor, "My parcel never arrived")
    expect(console_a.locator("#transcript")).to_contain_text("My parcel never arrived")
    send(console_a, "Bob handles deliveries, he will take over. Bye!")
    expect(visitor.locator("#transcript")).to_contain_text("he will take over")

    transfer_to_bob_and_accept(console_a, console_b)
    # The banner counts down the time left to click Transfer Now.
    expect(console_a.locator("[data-testid=transfer-countdown]")).to_have_text(re.compile(r"[23]:\d\d"))
    console_a.click("[data-testid=transfer-now]")
    expect(console_a.locator("[data-testid=transfer-readonly]")).to_be_visible()
    recent = console_a.locator("[data-testid=transfer-recent]")
    expect(recent.locator("button")).to_have_count(1)
    expect(recent.locator("button").first).to_have_attribute("aria-current", "true")
    expect(console_b.locator("#visitor-name")).to_have_text("Rita Reload")
    send(console_b, "Hi Rita, Bob here")  # after the hand-over: not in Alice's copy
    expect(visitor.locator("#transcript")).to_contain_text("Bob here")

    # Reload: the copy is no longer on screen, but "Transferred recently" has it.
    console_a.reload()
    expect(console_a.locator("#conn")).to_contain_text("Connected")
    readonly = console_a.locator("[data-testid=transfer-readonly]")
    expect(readonly).to_be_hidden()
    expect(console_a.locator("#engagement-list")).not_to_contain_text("Rita Reload")
    item = recent.locator("button", has_text="Rita Reload")
    expect(item).to_be_visible()
    expect(item).to_contain_text("Bob Baker")
    screenshot(console_a, "transfer-13-transferred-recently")

    # Keyboard: focus the row, Enter opens the read-only copy; Escape closes it and focus returns.
    item.focus()
    console_a.keyboard.press("Enter")
    expect(readonly).to_be_visible()
    expect(readonly.locator("[data-role=visitor]")).to_be_focused()
    expect(readonly).to_contain_text("Rita Reload")
    expect(readonly).to_contain_text("Transferred to Bob Baker")
    expect(readonly).to_contain_text("My parcel never arrived")
    expect(readonly).to_contain_text("Bob handles deliveries, he will take over. Bye!")
    expect(readonly).not_to_contain_text("Bob here")
    expect(readonly.locator("textarea, input, [contenteditable]")).to_have_count(0)
    expect(console_a.locator("#composer")).to_be_hidden()
    expect(item).to_have_attribute("aria-current", "true")
    screenshot(console_a, "transfer-14-read-only-after-reload")
    console_a.keyboard.press("Escape")
    expect(readonly).to_be_hidden()
    expect(item).to_be_focused()

    # Only the initiator may read it: Bob (or anyone else) asking for it by id is refused.
    transfer = Transfer.objects.get()
    status = console_b.evaluate(f"fetch('/transfers/{transfer.pk}/transcript/').then((r) => r.status)")
    assert status == 403
    assert console_b.locator("[data-testid=transfer-recent]").is_hidden()


def test_accepted_transfer_not_handed_over_in_time_is_cancelled_and_both_are_told(new_page, company):
    from transfers import services

    alice, bob = company["alice"], company["bob"]
    console_a = console_of(new_page, alice)
    console_b = console_of(new_page, bob)
    visitor = start_visitor(new_page, "Tess Timeout")
    expect(console_a.locator("#visitor-name")).to_have_text("Tess Timeout")
    transfer_to_bob_and_accept(console_a, console_b)

    # The deadline passes, and the sweep finds it (run off Playwright's event-loop thread, as a worker would).
    transfer = Transfer.objects.get()
    now = timezone.now()
    Transfer.objects.filter(pk=transfer.pk).update(
        answered_at=now - timedelta(seconds=181), hand_over_by=now - timedelta(seconds=1)
    )
    outcome = []

    def sweep():
        try:
            outcome.append(services.expire_hand_over(transfer_id=transfer.pk, by="sweep"))
        finally:
            connection.close()

    worker = threading.Thread(target=sweep)
    worker.start()
    worker.join(10)
    assert outcome and outcome[0] is not None

    result = console_a.locator("[data-testid=transfer-result]")
    expect(result).to_be_visible()
    expect(result).to_contain_text("Transfer cancelled")
    expect(result).to_contain_text("Transfer Now was not clicked within 3 minutes")
    expect(result).to_contain_text("You still have the chat.")
    expect(console_b.locator("#toasts")).to_contain_text("Alice Archer did not click Transfer Now in time")
    screenshot(console_a, "transfer-15-not-handed-over")
    console_a.click("[data-testid=transfer-back]")
    expect(console_a.locator("#transfer-dialog")).to_be_visible()
    expect(console_a.locator("[data-testid=transfer-banner]")).to_be_hidden()
    expect(visitor.locator("#status-title")).to_have_text("Alice Archer")


def holding_back(matches, *, once: bool = False):
    """A WebSocket route handler that keeps back the server's frames that `matches` (only the first,
    with `once`) and passes the others on; the test sends the kept ones itself with `routes[0].send`."""
    held, routes = [], []

    def handler(route):
        server = route.connect_to_server()
        routes.append(route)

        def from_server(message):
            if matches(message) and not (once and held):
                held.append(message)
            else:
                route.send(message)

        server.on_message(from_server)

    return handler, held, routes


def wait_for_held(page, held: list, seconds: float = 10) -> None:
    """Until the route kept a frame back: Playwright runs the route handler only while the page waits."""
    for _ in range(int(seconds * 20)):
        if held:
            return
        page.wait_for_timeout(50)
    raise AssertionError("no frame was kept back at the socket route")


def test_the_result_popup_opens_even_when_the_history_panel_read_the_outcome_first(new_page, company):
    """The console learns a transfer's end from its frame, but the history panel may read the ended
    transfer first (its request was answered before the frame came). The popup must open anyway:
    here Alice's socket holds the `declined` frame back until the panel has shown "Declined"."""
    from transfers import services as transfer_services

    alice, bob = company["alice"], company["bob"]
    hold_the_decline, held, routes = holding_back(
        lambda message: '"transfer.updated"' in message and '"state": "declined"' in message
    )
    console_a = new_page(user=alice.user, path=None)
    console_a.route_web_socket(re.compile(r"/ws/operator/"), hold_the_decline)
    console_a.goto("/console/")
    expect(console_a.locator("#conn")).to_contain_text("Connected")
    start_visitor(new_page, "Rita Race")
    expect(console_a.locator("#visitor-name")).to_have_text("Rita Race")
    open_dialog(console_a)
    operator_row(console_a, "Bob Baker").click()
    console_a.click("[data-testid=transfer-start]")
    expect(console_a.locator("#transfer-dialog")).to_be_hidden()
    transfer = Transfer.objects.get()
    run_off_the_page_thread(
        lambda: transfer_services.decline_transfer(transfer_id=transfer.pk, operator=bob, reason="Busy")
    )
    wait_for_held(console_a, held)

    with console_a.expect_response(lambda r: f"/transfers/engagements/{transfer.engagement_id}/" in r.url):
        console_a.click(f"[data-engagement-id='{transfer.engagement_id}']")  # reselecting refreshes the history
    expect(console_a.locator(".transfer-history-item[data-state=declined]")).to_be_visible()
    result = console_a.locator("[data-testid=transfer-result]")
    expect(result).to_be_hidden()

    routes[0].send(held[0])
    expect(result).to_be_visible()
    expect(result).to_contain_text("Transfer declined")
    expect(result).to_contain_text("Bob Baker declined the transfer.")


def test_transfer_now_shows_the_history_accepting_brought_and_fills_in_what_came_since(new_page, company):
    """Accepting brings Bob the chat so far; at Transfer Now his console shows it at once, before the
    `engagement.detail` read after the hand-over (held back here at his socket). The line the visitor
    wrote between accept and Transfer Now comes with that detail, in its place, each line once."""
    alice, bob = company["alice"], company["bob"]
    hold_the_detail, held, routes = holding_back(lambda message: '"type": "engagement.detail"' in message, once=True)
    console_a = console_of(new_page, alice)
    console_b = new_page(user=bob.user, path=None)
    console_b.route_web_socket(re.compile(r"/ws/operator/"), hold_the_detail)
    console_b.goto("/console/")
    expect(console_b.locator("#conn")).to_contain_text("Connected")
    visitor = start_visitor(new_page, "Hana Held")
    expect(console_a.locator("#visitor-name")).to_have_text("Hana Held")
    send(visitor, "My card was charged twice")
    # Alice answers what she has read: sent at once, the two lines raced for the first seq.
    expect(console_a.locator("#transcript")).to_contain_text("My card was charged twice")
    send(console_a, "Let me get Bob from billing")
    expect(visitor.locator("#transcript")).to_contain_text("Let me get Bob")

    transfer_to_bob_and_accept(console_a, console_b)
    send(visitor, "Is anyone there?")  # after the accept: only Alice sees it until the hand-over
    expect(console_a.locator("#transcript")).to_contain_text("Is anyone there?")
    console_a.click("[data-testid=transfer-now]")

    transcript_b = console_b.locator("#transcript")
    expect(console_b.locator("#visitor-name")).to_have_text("Hana Held")
    expect(transcript_b.locator(".msg")).to_have_text(
        [re.compile("My card was charged twice"), re.compile("Let me get Bob"), "You are now chatting with Bob Baker."]
    )
    wait_for_held(console_b, held)
    routes[0].send(held[0])
    expect(transcript_b.locator(".msg")).to_have_text(
        [
            re.compile("My card was charged twice"),
            re.compile("Let me get Bob"),
            re.compile("Is anyone there\\?"),
            "You are now chatting with Bob Baker.",
        ]
    )
    expect(console_b.locator("#owners")).to_contain_text("Alice Archer")  # the panels come with the detail
    send(console_b, "Hi Hana, Bob here")
    expect(visitor.locator("#transcript")).to_contain_text("Bob here")
    expect(transcript_b.locator(".msg")).to_have_count(5)


def test_the_new_owners_history_panel_reads_once_per_burst_of_frames_and_shows_it_completed(new_page, company):
    """A hand-over gives Bob's console three reasons to re-read the transfer history: the chat
    selected and `transfer.updated` in the same few ms, `engagement.detail` a round trip later. It
    read three times, the first while it drew the chat, the server's work and the answer competing
    with the drawing (issue 16). Reasons that come together now make one read, sent once the frame
    is painted; the detail may make a second. The panel still ends current."""
    alice, bob = company["alice"], company["bob"]
    console_a = console_of(new_page, alice)
    console_b = console_of(new_page, bob)
    visitor = start_visitor(new_page, "Rita Reads")
    expect(console_a.locator("#visitor-name")).to_have_text("Rita Reads")
    send(visitor, "Hello, billing question")
    transfer_to_bob_and_accept(console_a, console_b)
    engagement = Engagement.objects.get(visitor__name="Rita Reads")
    # Each read of the history, with how many lines Bob's transcript showed as it was sent.
    console_b.evaluate(
        """(url) => {
          window.__historyReads = [];
          const native = window.fetch;
          window.fetch = (resource, ...rest) => {
            if (String(resource).endsWith(url)) {
              window.__historyReads.push(document.querySelectorAll('#transcript .msg').length);
            }
            return native(resource, ...rest);
          };
        }""",
        f"/transfers/engagements/{engagement.pk}/",
    )
    console_a.click("[data-testid=transfer-now]")

    expect(console_b.locator("#transcript .msg")).to_have_count(2)  # the visitor's line and the hand-over's
    item = console_b.locator("[data-testid=transfer-history] .transfer-history-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Completed")
    console_b.wait_for_timeout(500)  # whatever else the burst of frames asks for
    reads = console_b.evaluate("window.__historyReads")
    assert reads and all(lines == 2 for lines in reads), reads  # none before the chat was in the page
    assert len(reads) <= 2, reads  # three before
