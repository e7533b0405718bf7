"""A visitor's chat transcript by e-mail: asked for on the chat page once it has ended, sent by a task.

The request is a row first (`TranscriptEmail`), committed, then the task sends it: a slow or failing
mail server never holds the visitor's page, a failed send is retried, and a request counts towards
the per-chat limit (the form must not become a way to mail strangers).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from ..errors import BadRequest, ChatError
from ..models import Engagement, Message, TranscriptEmail
from ..selectors import messages_after

ADDRESS_MAX_LENGTH = 254


def request_transcript_email(*, engagement_id: int, address: object) -> TranscriptEmail:
    """Queue one e-mail of the ended chat's transcript to `address`."""
    if not isinstance(address, str) or not address.strip():
        raise BadRequest("invalid_email", "Enter your e-mail address.")
    address = address.strip()
    try:
        if len(address) > ADDRESS_MAX_LENGTH:
            raise ValidationError("too long")
        validate_email(address)
    except ValidationError:
        raise BadRequest("invalid_email", "That does not look like an e-mail address.") from None
    with transaction.atomic():
        engagement = Engagement.objects.select_for_update().get(pk=engagement_id)  # counts requests one at a time
        if engagement.state != Engagement.State.ENDED:
            raise ChatError("not_ended", "The transcript can be sent once the chat has ended.")
        if engagement.transcript_emails.count() >= settings.TRANSCRIPT_EMAILS_PER_CHAT:
            raise ChatError("too_many", "The transcript of this chat has been sent as often as it can be.")
        request = TranscriptEmail.objects.create(engagement=engagement, address=address)
        # robust: with the broker down the request stays stored (the visitor is told it is on its
        # way) and the beat sweep sends it; the failure is logged, not raised after the commit.
        transaction.on_commit(lambda: _schedule(request.pk), robust=True)
    return request


def _schedule(transcript_id: int) -> None:
    from ..tasks import send_transcript_email_task  # the accepted services ↔ tasks loop (ARCHITECTURE.md)

    send_transcript_email_task.delay(transcript_id)


# The sweep's window: older than this, a request's own task should have sent it; younger than the
# upper bound, retrying still makes sense (its task retries for about 45 minutes on its own).
SWEEP_AFTER = timedelta(minutes=1)
SWEEP_UNTIL = timedelta(hours=6)


def unsent_transcript_ids(*, now=None) -> list[int]:
    """Requests whose task never ran (the broker was down when they were asked) or gave up."""
    now = now or timezone.now()
    unsent = TranscriptEmail.objects.filter(
        sent_at__isnull=True, requested_at__range=(now - SWEEP_UNTIL, now - SWEEP_AFTER)
    )
    return list(unsent.values_list("pk", flat=True)[:500])


def send_transcript_email(*, transcript_id: int) -> bool:
    """Send one request (the task's body). False when it was sent already: a redelivered task is a no-op."""
    with transaction.atomic():
        request = (
            TranscriptEmail.objects.select_for_update()
            .select_related("engagement__site")
            .filter(pk=transcript_id, sent_at__isnull=True)
            .first()
        )
        if request is None:
            return False
        engagement = request.engagement
        subject, text = transcript_text(engagement)
        send_mail(subject, text, None, [request.address])  # a failure rolls back: the task retries
        request.sent_at = timezone.now()
        request.save(update_fields=["sent_at"])
    return True


def transcript_text(engagement: Engagement) -> tuple[str, str]:
    """The e-mail's subject and plain-text body: every line the visitor saw, at the site's local time."""
    zone = ZoneInfo(engagement.site.time_zone or "UTC")
    started = timezone.localtime(engagement.queued_at, zone)
    lines = [f"Your chat with {engagement.site.name} on {started:%d %B %Y}, from {started:%H:%M} ({zone.key}).", ""]
    for message in messages_after(engagement_id=engagement.pk, after_seq=0, limit=10_000):
        lines.append(f"[{timezone.localtime(message.created_at, zone):%H:%M}] {speaker(message)}: {message.body}")
    lines += ["", "Internal notes are never part of a transcript.", "Thank you for chatting with us."]
    return f"Your chat with {engagement.site.name}", "\n".join(lines)


def speaker(message: Message) -> str:
    if message.sender == Message.Sender.VISITOR:
        return "You"
    if message.sender == Message.Sender.OPERATOR and message.operator_id:
        return message.operator.display_name
    if message.sender == Message.Sender.SUPERVISOR:
        return "Supervisor"
    return "Helpdesk"
