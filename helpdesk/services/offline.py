"""Offline messages: what a visitor leaves while their queue is closed, answered once it opens.

The message becomes a waiting engagement of kind "offline message" in the queue, with the
visitor's text as its first line, a system note naming the e-mail address to answer, and
`route_after` set to the queue's next opening: routing leaves it alone until then, and the
routing beat sweep hands it to an operator of the queue once that moment has passed. When a manager
changes the hours, the waiting messages take the new next opening (`reschedule_offline_messages`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from .. import events
from ..errors import ChatError
from ..models import Engagement, Media, Message, Note, OfflineMessage, Queue, Visitor
from .engagements import VISITOR_NAME_MAX_LENGTH, clean_text
from .hours import opening_of
from .overflow import overflow_at_for

EMAIL_MAX_LENGTH = 254


def clean_email(email: object) -> str:
    if not isinstance(email, str) or not email.strip():
        raise ChatError("email_missing", "Please give your e-mail address, so that we can answer you.")
    email = email.strip()
    if len(email) > EMAIL_MAX_LENGTH:
        raise ChatError("email_invalid", f"The e-mail address is longer than {EMAIL_MAX_LENGTH} characters.")
    try:
        validate_email(email)
    except ValidationError:
        raise ChatError("email_invalid", "That is not an e-mail address (it looks like name@example.com).") from None
    return email


def leave_offline_message(*, queue: Queue, name: object, email: object, body: object) -> Engagement:
    """Store a visitor's message for `queue` to pick up when it opens; all of it or nothing.

    Raises ChatError (`name_missing`, `too_long`, `email_missing`, `email_invalid`, `empty`,
    `wrong_media`) before anything is written.
    """
    if queue.media != Media.CHAT:
        raise ChatError("wrong_media", "That queue does not take chats.")
    name = clean_text(name, field="name", max_length=VISITOR_NAME_MAX_LENGTH) if name else ""
    if not name:
        raise ChatError("name_missing", "Please give your name.")
    email = clean_email(email)
    body = clean_text(body, field="message")
    now = timezone.now()
    opening = opening_of(queue=queue, now=now)
    with transaction.atomic():
        visitor = Visitor.objects.create(name=name)
        engagement = Engagement.objects.create(
            site_id=queue.site_id,
            queue=queue,
            visitor=visitor,
            media=queue.media,
            kind=Engagement.Kind.OFFLINE_MESSAGE,
            queued_at=now,
            route_after=opening.next_opening,
            overflow_at=overflow_at_for(queue=queue, queued_at=opening.next_opening or now),
            last_seq=1,
        )
        Message.objects.create(engagement=engagement, seq=1, sender=Message.Sender.VISITOR, body=body)
        OfflineMessage.objects.create(engagement=engagement, email=email)
        Note.objects.create(
            engagement=engagement,
            source=Note.Source.SYSTEM,
            body=f"Offline message left at {now:%Y-%m-%d %H:%M} UTC while {queue.name} was closed. "
            f"Answer {name} by e-mail: {email}",
        )
        events.queues_changed(queue.site_id)
    return engagement


def reschedule_offline_messages(*, queue: Queue, now=None) -> int:
    """The queue's hours changed (admin): offline messages still waiting for it take its new next
    opening (now, if it is open now), so none waits for an opening that no longer exists or past
    one that came earlier. Returns how many were moved."""
    now = now or timezone.now()
    opening = opening_of(queue=queue, now=now)
    waiting = Engagement.objects.filter(
        queue=queue, kind=Engagement.Kind.OFFLINE_MESSAGE, state=Engagement.State.QUEUED, route_after__isnull=False
    ).exclude(route_after=opening.next_opening)
    moved = waiting.update(
        route_after=opening.next_opening,
        overflow_at=overflow_at_for(queue=queue, queued_at=opening.next_opening or now),
    )
    if moved:
        events.queues_changed(queue.site_id)
    return moved
