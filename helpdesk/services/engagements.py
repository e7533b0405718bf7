"""Acts on an engagement: start a chat, post a message, add a note, hand over, end."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .. import events
from ..errors import ChatError, NotAllowed
from ..lock_objects import lock_availability, lock_engagement
from ..models import Engagement, Media, Message, Note, Operator, Ownership, Queue, Visitor
from ..signals import engagement_ended
from .hours import queue_taking_contacts
from .overflow import overflow_at_for
from .routing import release_ownership, route_if_available, schedule_routing, take_ownership
from .wrapup import begin_wrap_up

VISITOR_NAME_MAX_LENGTH = 100
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def clean_text(body: object, *, field: str = "message", max_length: int | None = None) -> str:
    """Text as people type it: a string, not blank once trimmed, not longer than the limit."""
    max_length = max_length or settings.MESSAGE_MAX_LENGTH
    if not isinstance(body, str):
        raise ChatError("invalid", f"The {field} must be text.")
    body = body.strip()
    if not body:
        raise ChatError("empty", f"The {field} is empty.")
    if len(body) > max_length:
        raise ChatError("too_long", f"The {field} is longer than {max_length} characters.")
    return body


def clean_client_id(client_id: object) -> str:
    """A line's client id (the sender's idempotency key): absent is "", else 1-64 of A-Z a-z 0-9 . _ : -."""
    if client_id is None:
        return ""
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise ChatError("bad_frame", "'client_id' must be 1 to 64 letters, digits or . _ : -")
    return client_id


def start_engagement(*, queue: Queue, visitor_name: str = "", phone_number: str = "") -> Engagement:
    """A visitor (or caller) enters a queue; routing runs once this is committed.

    Business hours are the caller's to check (`start_chat`, telephony's `place_call`): a
    supervisor or a transfer may put work into a closed queue on purpose.
    """
    visitor_name = (visitor_name or "").strip()
    if len(visitor_name) > VISITOR_NAME_MAX_LENGTH:
        raise ChatError("too_long", f"The name is longer than {VISITOR_NAME_MAX_LENGTH} characters.")
    now = timezone.now()
    with transaction.atomic():
        visitor = Visitor.objects.create(name=visitor_name, phone_number=phone_number)
        engagement = Engagement.objects.create(
            site_id=queue.site_id,
            queue=queue,
            visitor=visitor,
            media=queue.media,
            queued_at=now,
            overflow_at=overflow_at_for(queue=queue, queued_at=now),
        )
        events.queues_changed(queue.site_id)
        schedule_routing(engagement_id=engagement.pk)
    return engagement


def start_chat(*, queue: Queue, visitor_name: str = "") -> Engagement:
    """A visitor starts a chat: in `queue` while it is open, in its "other queue" while it is closed
    (when set so), else refused with ChatError `closed` (the page offers an offline message)."""
    if queue.media != Media.CHAT:
        raise ChatError("wrong_media", "That queue does not take chats.")
    return start_engagement(queue=queue_taking_contacts(queue=queue), visitor_name=visitor_name)


def post_message(
    *,
    engagement_id: int,
    sender: str,
    body: object,
    operator: Operator | None = None,
    client_id: str | None = None,
    supervisor=None,
    savepoint: bool = True,
) -> Message:
    """Store a message with the next sequence number, then publish it.

    An operator may write only on an engagement they own; nobody writes on an ended one. A
    supervisor's line (barge) names the supervisor; whether they may write is the supervision
    app's rule, checked before this is called.
    The next seq is taken by one UPDATE ... RETURNING, which holds the engagement's row lock
    until commit: sequence numbers are gap-free and unique, and the hot path costs two
    statements (this runs for every chat line).

    A line whose `client_id` is already stored on the engagement (the sender's outbox sent it
    again after a reconnect) is not stored twice and spends no seq: the stored one comes back
    with `duplicate` True (False on every new line), and nothing is published again.
    `savepoint=False` (a line without a client id, inside the caller's transaction) writes with no
    savepoint of its own: a refusal then undoes the caller's whole transaction.
    """
    body = clean_text(body)
    client_id = clean_client_id(client_id)
    if sender == Message.Sender.OPERATOR and operator is None:
        raise NotAllowed("not_owner", "You do not own this engagement.")
    if (sender == Message.Sender.SUPERVISOR) != (supervisor is not None):
        raise ValueError("a supervisor's line, and only one, names the supervisor")
    owner_clause = " AND owner_id = %s" if sender == Message.Sender.OPERATOR else ""
    params = [engagement_id, Engagement.State.ENDED] + ([operator.pk] if owner_clause else [])
    if client_id and not savepoint:
        raise ValueError("a line with a client id needs its savepoint: a duplicate gives its seq back")
    with transaction.atomic(savepoint=savepoint):
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Engagement._meta.db_table} SET last_seq = last_seq + 1"
                f" WHERE id = %s AND state <> %s{owner_clause} RETURNING last_seq, owner_id, site_id",
                params,
            )
            row = cursor.fetchone()
        stored = stored_line(engagement_id=engagement_id, client_id=client_id)
        if stored is not None:  # checked under the row lock the UPDATE took: a racing re-send waits here
            transaction.set_rollback(True)  # gives back the seq just taken
            return stored
        if row is None:
            raise why_not_posted(engagement_id=engagement_id, sender=sender, operator=operator)
        seq, owner_id, site_id = row
        message = Message.objects.create(
            engagement_id=engagement_id,
            seq=seq,
            sender=sender,
            operator=operator,
            supervisor=supervisor,
            body=body,
            client_id=client_id,
        )
        message.duplicate = False
        message.engagement = Engagement(pk=engagement_id, owner_id=owner_id, site_id=site_id, last_seq=seq)
        if sender == Message.Sender.OPERATOR:
            Ownership.objects.filter(engagement_id=engagement_id, ended_at__isnull=True).update(last_read_seq=seq)
        events.message_created(message)
    return message


def stored_line(*, engagement_id: int, client_id: str) -> Message | None:
    """The line already stored under this client id on the engagement (marked `duplicate`), if any."""
    if not client_id:
        return None
    message = (
        Message.objects.filter(engagement_id=engagement_id, client_id=client_id).select_related("operator").first()
    )
    if message is not None:
        message.duplicate = True
    return message


def why_not_posted(*, engagement_id: int, sender: str, operator: Operator | None) -> Exception:
    engagement = Engagement.objects.filter(pk=engagement_id).only("state", "owner_id").first()
    if engagement is None:
        return Engagement.DoesNotExist(f"No engagement {engagement_id}.")
    if sender == Message.Sender.OPERATOR and engagement.owner_id != operator.pk:
        return NotAllowed("not_owner", "You do not own this engagement.")
    return ChatError("ended", "This conversation has ended.")


def post_system_message(*, engagement: Engagement, body: str) -> Message:
    """A system line, written in the caller's transaction (a hand-over, a supervisor joining) without
    a savepoint of its own: it has no client id to de-duplicate, and a refusal (the engagement
    ended) undoes the caller's act with it. Two round trips fewer on Transfer Now's path."""
    return post_message(engagement_id=engagement.pk, sender=Message.Sender.SYSTEM, body=body, savepoint=False)


def add_note(
    *,
    engagement_id: int,
    author: Operator | None,
    body: object,
    source: str = Note.Source.MANUAL,
    supervisor=None,
) -> Note:
    """An internal note; by hand only on an engagement the author owns. A whisper names the supervisor
    (whether they may whisper is the supervision app's rule) and is never shown to the visitor."""
    body = clean_text(body, field="note")
    if (source == Note.Source.WHISPER) != (supervisor is not None):
        raise ValueError("a whisper, and only a whisper, names the supervisor")
    with transaction.atomic():
        engagement = Engagement.objects.get(pk=engagement_id)
        if engagement.state == Engagement.State.ENDED and source == Note.Source.WHISPER:
            raise ChatError("ended", "This conversation has ended.")
        if source == Note.Source.MANUAL and (author is None or engagement.owner_id != author.pk):
            raise NotAllowed("not_owner", "You do not own this engagement.")
        note = Note.objects.create(
            engagement=engagement, author=author, supervisor=supervisor, body=body, source=source
        )
        note.engagement = engagement
        events.note_created(note)
    return note


def mark_read(*, engagement_id: int, operator: Operator, seq: int) -> None:
    Ownership.objects.filter(
        engagement_id=engagement_id, operator=operator, ended_at__isnull=True, last_read_seq__lt=seq
    ).update(last_read_seq=seq)


# How the old owner's stretch ends, by how the new owner's begins.
HAND_OVER_ENDS = {
    Ownership.Start.TRANSFERRED: Ownership.End.TRANSFERRED,
    Ownership.Start.TAKEN_OVER: Ownership.End.TAKEN_OVER,
    Ownership.Start.ASSIGNED: Ownership.End.REASSIGNED,
}


def hand_over(
    *,
    engagement_id: int,
    to_operator_id: int,
    because: str = Ownership.Start.TRANSFERRED,
    announce: str = "",
    push_detail: bool = True,
) -> Engagement:
    """Move ownership to another operator atomically (Transfer Now, a call transfer, a supervisor's take-over).

    The old owner's stretch ends as 'transferred' (or 'taken_over') and their capacity frees; the
    new owner's load rises; an operator with no room left is refused (ChatError 'at_capacity').
    `announce` is a system line to the visitor ("You are now chatting with …"); its frame reaches
    the new owner just before `engagement.assigned`, so a console that holds the history (an
    accepted transfer's `transfer.history`) draws the whole chat, that line included, in one go
    (a console without it drops the line: the detail has it). `push_detail=False` (Transfer Now,
    whose new owner holds that history) sends no `engagement.detail`: their console asks for the
    few lines since, and the 200-line read stays off the hand-over's path.
    Call inside the caller's transaction if it must be atomic with more writes; a caller that holds
    the engagement's lock already calls `hand_over_locked`.
    """
    with transaction.atomic():
        return hand_over_locked(
            lock_engagement(engagement_id),
            to_operator_id=to_operator_id,
            because=because,
            announce=announce,
            push_detail=push_detail,
        )


def hand_over_locked(
    engagement: Engagement,
    *,
    to_operator_id: int,
    because: str = Ownership.Start.TRANSFERRED,
    announce: str = "",
    push_detail: bool = True,
) -> Engagement:
    """`hand_over` of an engagement whose row the caller has locked, in the caller's transaction.

    Every refusal (ended, same owner, at capacity) comes before the first write, so a caller
    that goes on after one (Transfer Now stops the transfer) needs no savepoint.
    """
    if engagement.state == Engagement.State.ENDED:
        raise ChatError("ended", "This conversation has ended.")
    if engagement.owner_id == to_operator_id:
        raise ChatError("same_owner", "That operator already owns this engagement.")
    # The new owner's room, checked under their availability's lock before anything is written
    # (the database's capacity constraint stays the last word).
    availability = lock_availability(operator_id=to_operator_id, media=engagement.media)
    if availability.load >= availability.capacity:
        raise ChatError("at_capacity", "The operator has reached their capacity.")
    if because == Ownership.Start.TRANSFERRED:
        begin_wrap_up(engagement=engagement)  # the old owner's after-contact work, if the queue asks
    freed = release_ownership(engagement=engagement, because=HAND_OVER_ENDS[because], route_freed=False)
    take_ownership(engagement=engagement, availability=availability, because=because)
    if announce:
        engagement.last_seq = post_system_message(engagement=engagement, body=announce).seq
    events.engagement_assigned(engagement, operator=availability.operator, detail_follows=push_detail)
    if push_detail:
        events.detail_to_new_owner(engagement, operator=availability.operator)
    # After commit the new owner's frames (and the history) go first; the old owner's next
    # waiting chat, a routing transaction of its own, after them (docs/performance.md).
    if freed is not None:
        route_if_available(freed)
    return engagement


def end_engagement(*, engagement_id: int, reason: str, operator: Operator | None = None) -> Engagement:
    """End a conversation (visitor left, operator ended, caller hung up). Ending twice is harmless."""
    with transaction.atomic():
        engagement = lock_engagement(engagement_id)
        if operator is not None and engagement.owner_id != operator.pk:
            raise NotAllowed("not_owner", "You do not own this engagement.")
        if engagement.state == Engagement.State.ENDED:
            return engagement
        was_queued = engagement.state == Engagement.State.QUEUED
        engagement.state = Engagement.State.ENDED
        engagement.ended_at = timezone.now()
        engagement.end_reason = Engagement.EndReason.ABANDONED if was_queued else reason
        engagement.save(update_fields=["state", "ended_at", "end_reason"])
        engagement_ended.send(sender=Engagement, engagement=engagement, reason=engagement.end_reason)
        events.engagement_ended(engagement)
        begin_wrap_up(engagement=engagement)
        release_ownership(engagement=engagement, because=Ownership.End.ENDED)
        if was_queued:
            events.queues_changed(engagement.site_id)
    return engagement


def signal_typing(*, engagement_id: int, typing: bool, operator: Operator | None = None) -> None:
    """Tell the other side someone is typing; nothing is stored.

    With `operator` it is the owner typing (refused on an engagement they do not own),
    without it the visitor; nothing is sent on an ended engagement.
    """
    engagement = Engagement.objects.only("pk", "owner_id", "state").get(pk=engagement_id)
    if operator is not None and engagement.owner_id != operator.pk:
        raise NotAllowed("not_owner", "You do not own this engagement.")
    if engagement.state == Engagement.State.ENDED:
        return
    if operator is None:
        events.visitor_typing(engagement, typing=bool(typing))
    else:
        events.operator_typing(engagement, operator=operator, typing=bool(typing))
