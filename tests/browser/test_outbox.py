"""The pages' outbox (static/js/core/outbox.js) in a real browser: a chat line is never lost silently.

A line written to a socket that looks open can still die with the server: Daphne frozen (SIGSTOP)
takes the frame into its socket buffer and never reads it, then SIGKILL throws it away. The old
pages had already cleared the input and never sent it again. With the outbox each line shows at
once as "sending", is sent again after the reconnect and is stored once, whoever wrote it; a line
the server refuses for good says "Not sent" with a Retry button.
"""

import os
import signal

import pytest
from playwright.sync_api import expect

from helpdesk.models import Media, Message
from helpdesk.services.engagements import start_chat
from helpdesk.services.routing import route_engagement
from helpdesk.visitor_tokens import make_visitor_token
from tests.browser.conftest import screenshot
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VISITOR_LINE = "My order number is 1042"
OPERATOR_LINE = "Thanks, looking it up now"


@pytest.fixture
def chat(new_page):
    """A routed chat with the operator's console and the visitor's page open and connected."""
    site = SiteFactory()
    team = TeamFactory(site=site)
    queue = QueueFactory(site=site, teams=[team], is_default=True)
    operator = OperatorFactory(site=site, teams=[team], display_name="Olga Operator", available=[Media.CHAT])
    engagement = start_chat(queue=queue, visitor_name="Vic Visitor")
    route_engagement(engagement_id=engagement.pk)
    token = make_visitor_token(engagement_id=engagement.pk, visitor_id=engagement.visitor_id)
    console = new_page(user=operator.user, path="/console/")
    visitor = new_page(path=f"/chat/{token}/")
    for page in (console, visitor):
        expect(page.locator("#conn")).to_contain_text("Connected")
    expect(console.locator("#visitor-name")).to_have_text("Vic Visitor")
    return engagement, console, visitor


def send(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def wait_for_frames(page, frames: list, count: int) -> None:
    """Until `count` frames were seen (Playwright delivers its events while the page is waited on)."""
    for _ in range(100):
        if len(frames) >= count:
            assert len(frames) == count, frames
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{len(frames)} frames sent, expected {count}")


def bubbles(page, text: str):
    return page.locator("#transcript .msg", has_text=text)


def test_lines_sent_as_daphne_dies_are_resent_after_the_restart_and_stored_once(chat, daphne_server):
    engagement, console, visitor = chat
    # Frozen, Daphne keeps both sockets open (the browsers see nothing wrong) but reads no frame.
    os.killpg(daphne_server.popen.pid, signal.SIGSTOP)
    try:
        send(visitor, VISITOR_LINE)
        send(console, OPERATOR_LINE)
        for page, line in ((visitor, VISITOR_LINE), (console, OPERATOR_LINE)):
            expect(page.locator("#composer-input")).to_have_value("")  # the line lives in the outbox now
            mark = bubbles(page, line).locator("[data-role=send-status]")
            expect(mark).to_contain_text("Sending")
            expect(bubbles(page, line)).to_have_attribute("data-send-state", "sending")
        screenshot(visitor, "outbox-01-visitor-sending")
        screenshot(console, "outbox-02-console-sending")
    finally:
        daphne_server.kill()  # the frames in its socket buffers die with it
    assert Message.objects.filter(engagement=engagement).count() == 0

    daphne_server.start()
    for page in (console, visitor):
        expect(page.locator("#conn")).to_contain_text("Connected", timeout=30_000)
    for page in (console, visitor):
        for line in (VISITOR_LINE, OPERATOR_LINE):
            expect(bubbles(page, line)).to_have_count(1, timeout=20_000)
        expect(page.locator("#transcript [data-send-state]")).to_have_count(0, timeout=20_000)
        expect(page.locator("#transcript [data-role=send-status]")).to_have_count(0)
    stored = list(Message.objects.filter(engagement=engagement).order_by("seq").values_list("body", "client_id"))
    assert sorted(body for body, _ in stored) == sorted([VISITOR_LINE, OPERATOR_LINE])  # each exactly once
    assert all(client_id for _, client_id in stored)
    # The stored copy took the place of the one that waited: same seq on both screens, shown once.
    for body in (VISITOR_LINE, OPERATOR_LINE):
        seq = str(Message.objects.get(engagement=engagement, body=body).seq)
        for page in (console, visitor):
            expect(bubbles(page, body)).to_have_attribute("data-seq", seq)
    screenshot(console, "outbox-03-console-delivered")

    # A reload shows each line once too (nothing was left in the outbox to send again).
    visitor.reload()
    expect(visitor.locator("#conn")).to_contain_text("Connected")
    expect(bubbles(visitor, VISITOR_LINE)).to_have_count(1)
    expect(bubbles(visitor, OPERATOR_LINE)).to_have_count(1)
    assert Message.objects.filter(engagement=engagement).count() == 2


def test_a_line_the_server_refuses_says_not_sent_with_a_retry_button(chat):
    engagement, console, visitor = chat
    sends = []
    visitor.on(
        "websocket",
        lambda ws: ws.on("framesent", lambda payload: sends.append(payload) if '"message.send"' in payload else None),
    )
    visitor.reload()  # the socket watched from its start
    expect(visitor.locator("#conn")).to_contain_text("Connected")
    # The textarea stops at 4,000 characters; a page that does not (an old one, a script) is
    # refused by the server with `too_long`, which no retry can cure.
    visitor.evaluate("document.querySelector('#composer-input').removeAttribute('maxlength')")
    too_long = "x" * 4001
    send(visitor, too_long)
    failed = visitor.locator("#transcript .msg[data-send-state=failed]")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("Not sent")
    retry = failed.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    expect(visitor.locator("#composer-input")).to_have_value("")
    screenshot(visitor, "outbox-04-visitor-not-sent")
    wait_for_frames(visitor, sends, 1)

    # Retry works from the keyboard and sends the same line (same client id) again.
    retry.focus()
    visitor.keyboard.press("Enter")
    wait_for_frames(visitor, sends, 2)
    assert sends[0] == sends[1]
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("Not sent")
    assert not Message.objects.filter(engagement=engagement).exists()

    # A good line afterwards goes through as usual; the refused one stays marked.
    send(visitor, "A shorter version")
    expect(console.locator("#transcript")).to_contain_text("A shorter version")
    expect(bubbles(visitor, "A shorter version")).not_to_have_attribute("data-send-state", "sending")
    expect(failed).to_have_count(1)
    assert Message.objects.filter(engagement=engagement).count() == 1
