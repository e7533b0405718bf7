"""A visitor and an operator chat live in two Chromium contexts against a real Daphne."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from helpdesk.models import Engagement, Note
from tests.browser.conftest import screenshot
from tests.browser.instruments import (
    BEEP,
    notifications,
    open_instrumented,
    sounds,
    wait_for_notifications_above,
    wait_for_sounds_above,
)
from tests.factories import OperatorFactory, QueueFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS_NAME = '<img src=x onerror="window.pwned=1">Eve'
XSS_BODY = '<script>window.pwned=2</script><b onmouseover="window.pwned=3">bold</b> & "quotes"'
# The test's own handle on the page's sockets, to cut them as a dropped network would.
KEEP_SOCKETS = """
window.__sockets = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""


@pytest.fixture
def chat_site():
    team = TeamFactory(site__name="London")
    queue = QueueFactory(site=team.site, teams=[team], name="General chat", is_default=True)
    QueueFactory(site=team.site, teams=[team], name="Billing chat")
    operator = OperatorFactory(
        site=team.site, teams=[team], display_name="Alice Archer", available=["chat"], chat_capacity=3
    )
    return queue, operator


def start_visitor(new_page, name: str, queue_name: str = "General chat", init_script: str | None = None):
    page = new_page(path="/chat/")
    if init_script:
        page.add_init_script(init_script)
    page.get_by_label(queue_name).check()
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/chat/.+/"))
    return page


def send(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def test_visitor_and_operator_chat_live(new_page, chat_site):
    queue, operator = chat_site
    console = new_page(user=operator.user, path="/console/")
    expect(console.locator("#conn")).to_contain_text("Connected")
    screenshot(console, "chat-01-console-empty")

    visitor_start = new_page(path="/chat/")
    screenshot(visitor_start, "chat-02-visitor-start")
    visitor_start.close()
    visitor = start_visitor(new_page, "Vera Visitor")
    expect(visitor.locator("#status-title")).to_have_text("Alice Archer")
    expect(visitor.locator("#conn")).to_contain_text("Connected")

    # The new engagement appears in the console and opens by itself.
    expect(console.locator("#engagement-list")).to_contain_text("Vera Visitor")
    expect(console.locator("#visitor-name")).to_have_text("Vera Visitor")

    send(visitor, "Hello, my parcel is late")
    expect(console.locator("#transcript")).to_contain_text("Hello, my parcel is late")
    visitor.fill("#composer-input", "It was due on Monday")
    expect(console.locator("#typing")).to_contain_text("Vera Visitor is typing")
    visitor.press("#composer-input", "Enter")
    expect(console.locator("#transcript")).to_contain_text("It was due on Monday")

    console.fill("#composer-input", "Let me check that for you")
    expect(visitor.locator("#typing")).to_contain_text("Alice Archer is typing")
    console.press("#composer-input", "Enter")
    expect(visitor.locator("#transcript")).to_contain_text("Let me check that for you")
    expect(console.locator("#composer-input")).to_have_value("")

    # Notes stay internal; the owner history shows who has had it.
    console.fill("#note-input", "Customer is a VIP")
    console.click("#note-form button")
    expect(console.locator("#notes")).to_contain_text("Customer is a VIP")
    expect(console.locator("#owners")).to_contain_text("Alice Archer")
    screenshot(console, "chat-03-console-conversation")
    screenshot(visitor, "chat-04-visitor-conversation")

    # A reload restores the whole conversation, and it keeps flowing.
    visitor.reload()
    expect(visitor.locator("#transcript .msg")).to_have_count(3)
    expect(visitor.locator("#transcript")).not_to_contain_text("Customer is a VIP")
    send(console, "Found it: it ships today")
    expect(visitor.locator("#transcript .msg")).to_have_count(4)
    expect(visitor.locator("#transcript .msg").last).to_contain_text("Found it: it ships today")

    # The operator ends it; the visitor sees that it ended.
    console.once("dialog", lambda dialog: dialog.accept())
    console.click("#end-engagement")
    expect(console.locator("#ended-banner")).to_be_visible()
    expect(visitor.locator("#status-title")).to_have_text("Conversation ended")
    expect(visitor.locator("#composer")).to_be_hidden()
    screenshot(visitor, "chat-05-visitor-ended")
    assert Engagement.objects.get().state == Engagement.State.ENDED
    assert Note.objects.get().body == "Customer is a VIP"


def test_waiting_visitor_sees_position_then_the_operator(new_page, chat_site):
    queue, operator = chat_site
    operator.availabilities.filter(media="chat").update(status="offline")
    visitor = start_visitor(new_page, "Walter Waiting")
    expect(visitor.locator("#status-line")).to_contain_text("number 1 in line")
    expect(visitor.locator("#wait")).to_have_text(re.compile(r"0:0[1-9]"), timeout=5000)
    send(visitor, "Anyone there?")
    screenshot(visitor, "chat-06-visitor-waiting")

    console = new_page(user=operator.user, path="/console/")
    expect(console.locator("#queue-overview tr", has_text="General chat")).to_contain_text("1")
    screenshot(console, "chat-07-console-queue-waiting")
    console.select_option("select[data-media=chat]", "available")
    expect(visitor.locator("#status-title")).to_have_text("Alice Archer")
    expect(console.locator("#transcript")).to_contain_text("Anyone there?")
    expect(console.locator("#queue-overview tr", has_text="General chat").locator("[data-role=waiting]")).to_have_text(
        "0"
    )


def test_unread_counts_title_and_notification_for_background_work(new_page, chat_site):
    queue, operator = chat_site
    console = open_instrumented(new_page, user=operator.user, path="/console/")
    expect(console.locator("#conn")).to_contain_text("Connected")
    first = start_visitor(new_page, "First Visitor")
    expect(console.locator("#visitor-name")).to_have_text("First Visitor")

    second = start_visitor(new_page, "Second Visitor")
    expect(console.locator("#engagement-list")).to_contain_text("Second Visitor")
    send(second, "one")
    send(second, "two")
    item = console.locator("[data-engagement-id]", has_text="Second Visitor")
    expect(item.locator(".unread")).to_have_text("2")
    expect(console).to_have_title("(2) Console · Helpdesk")

    # In a background tab a new engagement rings and shows a browser notification. The engagements
    # that arrived while the tab was visible already beeped: compare with then.
    alerts_before = sounds(console, BEEP)
    notifications_before = notifications(console)
    console.evaluate(
        """() => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    )
    third = start_visitor(new_page, "Third Visitor")
    expect(console.locator("#engagement-list")).to_contain_text("Third Visitor")
    wait_for_sounds_above(console, BEEP, alerts_before)
    wait_for_notifications_above(console, notifications_before)
    alerts_before, notifications_before = sounds(console, BEEP), notifications(console)
    # Its first message rings again and counts in the title, as does one on the open engagement.
    send(third, "hello from the background")
    expect(console).to_have_title("(3) Console · Helpdesk")
    wait_for_sounds_above(console, BEEP, alerts_before)
    wait_for_notifications_above(console, notifications_before)
    send(first, "while you were away")
    expect(console).to_have_title("(4) Console · Helpdesk")
    console.evaluate(
        """() => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    )
    expect(console).to_have_title("(3) Console · Helpdesk")

    item.click()
    expect(console.locator("#transcript")).to_contain_text("two")
    expect(item.locator(".unread")).to_be_hidden()
    expect(console).to_have_title("(1) Console · Helpdesk")
    console.locator("[data-engagement-id]", has_text="Third Visitor").click()
    expect(console.locator("#transcript")).to_contain_text("hello from the background")
    expect(console).to_have_title("Console · Helpdesk")
    screenshot(console, "chat-08-console-three-engagements")


def test_script_and_markup_payloads_render_as_text_in_both_pages(new_page, chat_site):
    queue, operator = chat_site
    console = new_page(user=operator.user, path="/console/")
    expect(console.locator("#conn")).to_contain_text("Connected")
    visitor = start_visitor(new_page, XSS_NAME)
    send(visitor, XSS_BODY)
    expect(console.locator("#transcript")).to_contain_text(XSS_BODY)
    expect(console.locator("#visitor-name")).to_have_text(XSS_NAME)
    send(console, XSS_BODY)
    console.fill("#note-input", XSS_BODY)
    console.click("#note-form button")
    expect(console.locator("#notes")).to_contain_text(XSS_BODY)
    expect(visitor.locator("#transcript .msg")).to_have_count(2)
    visitor.reload()
    expect(visitor.locator("#transcript .msg")).to_have_count(2)
    console.reload()
    expect(console.locator("#transcript")).to_contain_text(XSS_BODY)
    for page in (console, visitor):
        page.locator("#transcript .msg").last.hover()
        assert page.evaluate("window.pwned") is None
        assert page.locator("#transcript script, #transcript img, #transcript b").count() == 0
    screenshot(console, "chat-09-console-xss-as-text")


def test_socket_reconnects_and_catches_up_in_order(new_page, chat_site):
    queue, operator = chat_site
    console = new_page(user=operator.user, path="/console/")
    visitor = start_visitor(new_page, "Rita Reconnect", init_script=KEEP_SOCKETS)
    expect(console.locator("#visitor-name")).to_have_text("Rita Reconnect")
    send(visitor, "before the drop")
    expect(console.locator("#transcript")).to_contain_text("before the drop")

    # Cut the visitor's network: its socket drops; the operator writes meanwhile.
    visitor.context.set_offline(True)
    visitor.evaluate("window.__sockets.forEach((socket) => socket.close())")
    expect(visitor.locator("#conn")).to_contain_text("Reconnecting")
    for i in range(3):
        send(console, f"while offline {i}")
    expect(console.locator("#transcript .msg")).to_have_count(4)
    visitor.context.set_offline(False)
    expect(visitor.locator("#conn")).to_contain_text("Connected", timeout=20_000)
    expect(visitor.locator("#transcript .msg")).to_have_count(4)
    texts = visitor.locator("#transcript .msg").all_inner_texts()
    assert [t.splitlines()[-1] for t in texts] == [
        "before the drop",
        "while offline 0",
        "while offline 1",
        "while offline 2",
    ]


def test_live_socket_backs_off_exponentially_with_jitter(new_page, chat_site):
    """LiveSocket retries a dead server ever more slowly (capped), each wait randomised below its ceiling."""
    page = new_page(path="/chat/")
    delays = page.evaluate(
        """async () => {
        const { LiveSocket } = await import("/static/js/core/socket.js");
        const attempts = [];
        class DeadSocket {
            constructor(url) {
                attempts.push({ t: performance.now(), url });
                setTimeout(() => this.onclose && this.onclose(), 0);
            }
            close() {}
        }
        const options = { WebSocketImpl: DeadSocket, minDelay: 100, maxDelay: 800, heartbeat: 0 };
        const socket = new LiveSocket("/ws/nowhere/", options);
        socket.noteSeq(12, 5);
        await new Promise((resolve) => setTimeout(resolve, 6000));
        socket.close();
        return { gaps: attempts.slice(1).map((a, i) => a.t - attempts[i].t), url: attempts.at(-1).url };
    }"""
    )
    gaps = delays["gaps"]
    ceilings = [min(800, 100 * 2**i) for i in range(len(gaps))]
    assert len(gaps) >= 6
    assert all(gap <= ceiling + 150 for gap, ceiling in zip(gaps, ceilings, strict=True)), (gaps, ceilings)
    assert len({round(g, -1) for g in gaps[3:]}) > 1, "waits are randomised"
    assert delays["url"].endswith("/ws/nowhere/?resume=12:5")


def test_a_long_history_opens_at_its_newest_line_and_the_oldest_render_when_scrolled_to(new_page):
    """The console lays out only the bubbles in view (content-visibility, for a 200-line hand-over):
    opening the chat must still land on the newest line, and scrolling up shows the oldest."""
    from helpdesk.services.engagements import post_message
    from tests.factories import SiteFactory, UserFactory
    from tests.transfers.conftest import give_engagement

    site = SiteFactory(name="London")
    team = TeamFactory(site=site)
    queue = QueueFactory(site=site, teams=[team], is_default=True)
    alice = OperatorFactory(
        site=site, teams=[team], display_name="Alice Archer", user=UserFactory(username="alice"), available=["chat"]
    )
    engagement = give_engagement(owner=alice, queue=queue, visitor_name="Lena Long")
    for n in range(200):
        # Lines of different lengths, so a bubble's real height differs from the placeholder's.
        post_message(engagement_id=engagement.pk, sender="visitor", body=f"Line {n}: " + "words " * (n % 23))
    page = new_page(user=alice.user, path="/console/")
    transcript = page.locator("#transcript")
    expect(transcript.locator(".msg")).to_have_count(200)
    newest, oldest = transcript.locator(".msg").last, transcript.locator(".msg").first

    def in_view(bubble) -> bool:
        box, frame = bubble.bounding_box(), transcript.bounding_box()
        return (
            box["height"] > 20
            and frame["y"] - 1 <= box["y"]
            and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1
        )

    page.wait_for_timeout(200)  # a frame or two: whatever was laid out late has its size
    assert in_view(newest), "the newest line is on screen"
    screenshot(page, "console-long-history-newest")
    transcript.evaluate("node => { node.scrollTop = 0; }")
    page.wait_for_timeout(200)
    expect(oldest).to_contain_text("Line 0:")
    assert in_view(oldest), "the oldest line, scrolled to, is laid out and on screen"
