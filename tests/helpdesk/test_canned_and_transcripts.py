"""Issue 14.5 on PostgreSQL: canned responses (what the console offers, the managers' admin) and the
visitor's transcript by e-mail (the request, its limits and bad input, the send and its idempotence).
The worker that sends the mail is tested for real in tests/browser/test_canned_and_transcript.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from helpdesk.errors import DomainError
from helpdesk.models import CannedResponse, Engagement, Message, TranscriptEmail
from helpdesk.selectors import canned_responses_for
from helpdesk.services.transcripts import request_transcript_email, send_transcript_email, transcript_text
from helpdesk.visitor_tokens import make_visitor_token
from tests.factories import (
    CannedResponseFactory,
    EngagementFactory,
    ManagerFactory,
    MessageFactory,
    NoteFactory,
    OperatorFactory,
    QueueFactory,
    SiteFactory,
    TranscriptEmailFactory,
)

pytestmark = pytest.mark.django_db


# --- canned responses ------------------------------------------------------------------------------


def test_the_console_gets_its_sites_active_replies_with_the_queue_they_belong_to():
    operator = OperatorFactory()
    queue = QueueFactory(site=operator.site)
    everywhere = CannedResponseFactory(site=operator.site, shortcut="hello")
    own_queue = CannedResponseFactory(queue=queue, shortcut="billing")
    CannedResponseFactory(site=operator.site, shortcut="old", active=False)
    CannedResponseFactory(shortcut="elsewhere")  # another site
    offered = canned_responses_for(operator=operator)
    assert [(r["id"], r["queue_id"]) for r in offered] == [(own_queue.pk, queue.pk), (everywhere.pk, None)]


def test_console_page_embeds_the_replies_for_the_picker(client):
    operator = OperatorFactory(display_name="Alice Archer")
    CannedResponseFactory(site=operator.site, shortcut="hello", body="<b>Hi</b> {visitor}")
    client.force_login(operator.user)
    page = client.get(reverse("console")).content.decode()
    assert 'id="canned-responses"' in page and '"operator_name": "Alice Archer"' in page
    assert "\\u003Cb\\u003EHi" in page  # json_script escapes markup: the picker sets it as text


def canned_form(site, **fields) -> dict:
    return {"site": site.pk, "queue": "", "shortcut": "hello", "title": "Greeting", "body": "Hi", "order": 0,
            "active": "on", **fields}  # fmt: skip


def test_a_manager_writes_replies_for_their_own_site_only(client):
    own, other = SiteFactory(), SiteFactory()
    other_queue = QueueFactory(site=other)
    client.force_login(ManagerFactory(sites=[own]))
    add = reverse("admin:helpdesk_cannedresponse_add")
    response = client.post(add, canned_form(other))
    assert response.status_code == 200 and "site" in response.context["adminform"].form.errors
    response = client.post(add, canned_form(own, queue=other_queue.pk))
    assert "queue" in response.context["adminform"].form.errors
    assert not CannedResponse.objects.exists()
    assert client.post(add, canned_form(own)).status_code == 302
    duplicate = client.post(add, canned_form(own))
    assert duplicate.status_code == 200 and duplicate.context["adminform"].form.errors, "one /hello per site"
    assert CannedResponse.objects.count() == 1
    CannedResponseFactory(site=other, shortcut="theirs")
    listed = client.get(reverse("admin:helpdesk_cannedresponse_changelist")).context["cl"].result_list
    assert [r.shortcut for r in listed] == ["hello"]


def test_the_same_shortcut_may_mean_something_else_in_one_queue():
    queue = QueueFactory()
    CannedResponseFactory(site=queue.site, shortcut="hello")
    CannedResponseFactory(queue=queue, shortcut="hello")
    assert CannedResponse.objects.filter(shortcut="hello").count() == 2


# --- transcript by e-mail --------------------------------------------------------------------------


def ended_chat(**kwargs) -> Engagement:
    return EngagementFactory(state=Engagement.State.ENDED, **kwargs)


@pytest.mark.parametrize(
    ("address", "message"),
    [(None, "Enter your e-mail address."), ("  ", "Enter your e-mail address."),
     ("vera", "That does not look like an e-mail address."), (["a@b.c"], "Enter your e-mail address."),
     ("a" * 250 + "@b.co", "That does not look like an e-mail address."),
     ("vera@example.com\nBcc: x@y.z", "That does not look like an e-mail address.")],
)  # fmt: skip
def test_a_bad_address_is_refused_and_nothing_is_stored(address, message):
    with pytest.raises(DomainError) as refused:
        request_transcript_email(engagement_id=ended_chat().pk, address=address)
    assert (refused.value.code, refused.value.message) == ("invalid_email", message)
    assert not TranscriptEmail.objects.exists()


def test_only_an_ended_chat_and_only_so_often():
    with pytest.raises(DomainError) as refused:
        request_transcript_email(engagement_id=EngagementFactory(state="active").pk, address="vera@example.com")
    assert refused.value.code == "not_ended"
    engagement = ended_chat()
    with override_settings(TRANSCRIPT_EMAILS_PER_CHAT=2):
        for _ in range(2):
            request_transcript_email(engagement_id=engagement.pk, address=" vera@example.com ")
        with pytest.raises(DomainError) as refused:
            request_transcript_email(engagement_id=engagement.pk, address="vera@example.com")
    assert refused.value.code == "too_many"
    assert list(engagement.transcript_emails.values_list("address", flat=True)) == ["vera@example.com"] * 2


def test_the_mail_has_every_line_the_visitor_saw_at_the_sites_time_and_no_notes():
    operator = OperatorFactory(display_name="Alice Archer", site__name="Lisbon", site__time_zone="Europe/Lisbon")
    engagement = ended_chat(
        queue__site=operator.site, owner=operator, queued_at=datetime(2026, 7, 1, 9, 58, tzinfo=UTC)
    )
    at = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    MessageFactory(engagement=engagement, seq=1, sender=Message.Sender.VISITOR, body="Olá", created_at=at)
    MessageFactory(
        engagement=engagement, seq=2, sender=Message.Sender.OPERATOR, operator=operator, body="Hi Vera",
        created_at=at + timedelta(minutes=1),
    )  # fmt: skip
    MessageFactory(engagement=engagement, seq=3, sender=Message.Sender.SYSTEM, body="Chat ended", created_at=at)
    NoteFactory(engagement=engagement, body="internal: VIP customer")
    subject, text = transcript_text(engagement)
    assert subject == "Your chat with Lisbon"
    assert "on 01 July 2026, from 10:58 (Europe/Lisbon)" in text  # summer time: UTC+1
    assert "[11:00] You: Olá\n[11:01] Alice Archer: Hi Vera\n[11:00] Helpdesk: Chat ended" in text
    assert "VIP" not in text


def test_sending_marks_the_request_sent_and_a_redelivered_task_sends_nothing_more():
    request = TranscriptEmailFactory(address="vera@example.com")
    MessageFactory(engagement=request.engagement, seq=1, body="Where is my parcel?")
    assert send_transcript_email(transcript_id=request.pk) is True
    assert send_transcript_email(transcript_id=request.pk) is False
    assert [m.to for m in mail.outbox] == [["vera@example.com"]]
    assert "Where is my parcel?" in mail.outbox[0].body
    request.refresh_from_db()
    assert request.sent_at is not None


def transcript_url(engagement) -> str:
    token = make_visitor_token(engagement_id=engagement.pk, visitor_id=engagement.visitor_id)
    return reverse("visitor_transcript", args=[token])


def test_the_visitor_asks_over_http_with_their_chats_token(client):
    engagement = ended_chat()
    response = client.post(transcript_url(engagement), {"email": "vera@"}, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_email"
    response = client.post(transcript_url(engagement), {"email": "vera@example.com"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["transcript"]["address"] == "vera@example.com"
    assert engagement.transcript_emails.count() == 1
    forged = client.post(
        f"/chat/{engagement.pk}/transcript/", {"email": "x@example.com"}, content_type="application/json"
    )
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "not_found"
    old = ended_chat(ended_at=datetime(2020, 1, 1, tzinfo=UTC))
    expired = client.post(transcript_url(old), {"email": "x@example.com"}, content_type="application/json")
    assert expired.status_code == 403
    assert client.get(transcript_url(engagement)).status_code == 405
    assert TranscriptEmail.objects.count() == 1


def test_the_sweep_picks_up_requests_whose_task_was_lost_and_only_those():
    from django.utils import timezone

    from helpdesk.services.transcripts import unsent_transcript_ids

    now = timezone.now()
    lost = TranscriptEmailFactory(requested_at=now - timedelta(minutes=5))
    TranscriptEmailFactory(requested_at=now - timedelta(seconds=10))  # its own task is on it
    TranscriptEmailFactory(requested_at=now - timedelta(hours=7))  # given up long ago
    TranscriptEmailFactory(requested_at=now - timedelta(minutes=5), sent_at=now)
    assert unsent_transcript_ids(now=now) == [lost.pk]
