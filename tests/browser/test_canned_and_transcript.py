"""Issue 14.5 in two Chromium contexts: the operator answers with a canned reply picked by keyboard
("/" in the reply box), ends the chat, and the visitor has the transcript e-mailed: a refused
address first, then one a real Celery worker mails (Django's file backend, read here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from helpdesk.models import TranscriptEmail
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import screenshot
from tests.browser.test_chat import send, start_visitor
from tests.factories import CannedResponseFactory, OperatorFactory, QueueFactory, TeamFactory
from tests.processes import CeleryWorker, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_canned_reply_by_keyboard_then_the_transcript_by_email(new_page, tmp_path):
    team = TeamFactory(site__name="London", site__time_zone="Europe/London")
    general = QueueFactory(site=team.site, teams=[team], name="General chat", is_default=True)
    billing = QueueFactory(site=team.site, teams=[team], name="Billing chat")
    operator = OperatorFactory(site=team.site, teams=[team], display_name="Alice Archer", available=["chat"])
    CannedResponseFactory(site=team.site, shortcut="hello", title="Greeting", body="Hello {visitor}, I'm {operator}.")
    CannedResponseFactory(site=team.site, shortcut="help", title="Anything else", body="Anything else, {visitor}?")
    CannedResponseFactory(queue=billing, shortcut="hello-billing", title="Billing hello", body="Billing here.")
    CannedResponseFactory(site=team.site, shortcut="hidden", title="Retired", active=False)
    mail_dir = tmp_path / "mail"
    worker = CeleryWorker(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend", EMAIL_FILE_PATH=str(mail_dir)
    )
    worker.start()  # boots while the browsers work
    try:
        console = new_page(user=operator.user, path="/console/")
        expect(console.locator("#conn")).to_contain_text("Connected")
        visitor = start_visitor(new_page, "Vera", queue_name=general.name)
        expect(console.locator("#visitor-name")).to_have_text("Vera")
        send(visitor, "Hi, a question about my order")
        expect(console.locator("#transcript")).to_contain_text("a question about my order")

        # "/he": the site's two "he…" replies, not the billing queue's own nor the inactive one.
        console.fill("#composer-input", "/he")
        options = console.locator("#canned-list [role=option]")
        expect(options).to_have_count(2)
        expect(options.nth(0)).to_contain_text("/hello")
        expect(options.nth(0)).to_contain_text("Hello Vera, I'm Alice Archer.")
        expect(options.nth(0)).to_have_attribute("aria-selected", "true")
        expect(console.locator("#canned-announce")).to_contain_text("2 canned replies")
        assert_accessible(console, "canned-list-open")
        screenshot(console, "canned-01-list")
        console.press("#composer-input", "ArrowDown")
        expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        console.press("#composer-input", "ArrowUp")
        console.press("#composer-input", "Enter")  # inserts, does not send
        expect(console.locator("#canned-list")).to_be_hidden()
        expect(console.locator("#composer-input")).to_have_value("Hello Vera, I'm Alice Archer.")
        console.press("#composer-input", "Enter")  # now it sends
        expect(visitor.locator("#transcript")).to_contain_text("Hello Vera, I'm Alice Archer.")
        console.fill("#composer-input", "/zz")
        expect(console.locator("#canned-list")).to_contain_text("No canned reply")
        console.press("#composer-input", "Escape")
        expect(console.locator("#canned-list")).to_be_hidden()
        console.fill("#composer-input", "")

        console.once("dialog", lambda dialog: dialog.accept())
        console.click("#end-engagement")
        expect(visitor.locator("#ended-panel")).to_be_visible()
        visitor.fill("#transcript-email", "not an address")
        visitor.click("#transcript-form button[type=submit]")
        expect(visitor.locator("#transcript-status")).to_have_text("That does not look like an e-mail address.")
        expect(visitor.locator("#transcript-email")).to_have_attribute("aria-invalid", "true")
        assert not TranscriptEmail.objects.exists()
        visitor.fill("#transcript-email", "vera@example.com")
        visitor.press("#transcript-email", "Enter")
        expect(visitor.locator("#transcript-status")).to_contain_text("On its way to vera@example.com")
        assert_accessible(visitor, "visitor-transcript-sent")
        screenshot(visitor, "canned-02-transcript-sent")

        request = TranscriptEmail.objects.get()
        wait_until(lambda: mail_dir.exists() and any(mail_dir.iterdir()), timeout=30, message="the mail written")
        mail = "\n".join(path.read_text() for path in Path(mail_dir).iterdir())
        wait_until(lambda: TranscriptEmail.objects.get(pk=request.pk).sent_at is not None, timeout=10, message="sent")
    finally:
        worker.stop()
    assert "To: vera@example.com" in mail
    assert "Subject: Your chat with London" in mail
    assert "You: Hi, a question about my order" in mail
    assert "Alice Archer: Hello Vera, I'm Alice Archer." in mail
