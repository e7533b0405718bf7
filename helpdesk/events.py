"""Every realtime frame of the core (chat, presence, queues): one builder per frame type.

Frame names and fields match docs/realtime.md. Each function publishes on commit.
"""

from __future__ import annotations

from django.db import transaction

from .models import Availability, Engagement, Message, Note, Operator, Ownership
from .realtime import (
    _send,
    engagement_group,
    operator_group,
    publish_to_engagement,
    publish_to_operator,
    publish_to_site,
    send_now,
    site_group,
)


def message_frame(message: Message) -> dict:
    return message_frame_of(
        engagement_id=message.engagement_id,
        seq=message.seq,
        sender=message.sender,
        sender_name=message.operator.display_name if message.operator_id else "",
        body=message.body,
        created_at=message.created_at,
    )


def message_frame_of(*, engagement_id: int, seq: int, sender: str, sender_name: str, body: str, created_at) -> dict:
    return {
        "type": "message",
        "engagement_id": engagement_id,
        "seq": seq,
        "sender": sender,
        "sender_name": sender_name,
        "body": body,
        "created_at": created_at.isoformat(),
    }


def engagement_summary(engagement: Engagement) -> dict:
    return {
        "id": engagement.pk,
        "media": engagement.media,
        "state": engagement.state,
        "queue": engagement.queue.name,
        "visitor_name": engagement.visitor.display_name,
        "owner_id": engagement.owner_id,
        "owner_name": engagement.owner.display_name if engagement.owner_id else "",
        "last_seq": engagement.last_seq,
    }


def message_created(message: Message) -> None:
    """To the visitor and to the current owner."""
    frame = message_frame(message)
    publish_to_engagement(message.engagement_id, frame)
    owner_id = message.engagement.owner_id
    if owner_id:
        publish_to_operator(owner_id, frame)


async def message_created_now(frame: dict, *, owner_id: int | None) -> None:
    """The async chat path's `message_created`: the caller has committed, so send at once."""
    await send_now(engagement_group(frame["engagement_id"]), frame)
    if owner_id:
        await send_now(operator_group(owner_id), frame)


def note_frame(note: Note) -> dict:
    return {
        "type": "note",
        "engagement_id": note.engagement_id,
        "id": note.pk,
        "author_name": note.author.display_name if note.author_id else "System",
        "source": note.source,
        "body": note.body,
        "created_at": note.created_at.isoformat(),
    }


def ownership_frame(ownership: Ownership) -> dict:
    return {
        "operator_id": ownership.operator_id,
        "operator_name": ownership.operator.display_name,
        "started_at": ownership.started_at.isoformat(),
        "started_because": ownership.started_because,
        "ended_at": ownership.ended_at.isoformat() if ownership.ended_at else None,
        "ended_because": ownership.ended_because,
        "ended_because_label": ownership.get_ended_because_display(),
    }


def note_created(note: Note) -> None:
    """Notes go to the owner only: never to the visitor."""
    owner_id = note.engagement.owner_id
    if owner_id:
        publish_to_operator(owner_id, note_frame(note))


def visitor_typing(engagement: Engagement, *, typing: bool) -> None:
    """The visitor started or stopped typing: the owner's console shows it."""
    if engagement.owner_id:
        publish_to_operator(
            engagement.owner_id, {"type": "typing", "engagement_id": engagement.pk, "who": "visitor", "typing": typing}
        )


def operator_typing(engagement: Engagement, *, operator: Operator, typing: bool) -> None:
    publish_to_engagement(
        engagement.pk, {"type": "typing", "who": "operator", "name": operator.display_name, "typing": typing}
    )


def engagement_detail_frame(engagement: Engagement) -> dict:
    """Everything a console shows of one engagement: the whole history, notes and owners."""
    from . import selectors

    return {
        "type": "engagement.detail",
        "engagement": engagement_summary(engagement),
        "queued_at": engagement.queued_at.isoformat(),
        "answered_at": engagement.answered_at.isoformat() if engagement.answered_at else None,
        "messages": selectors.message_frames_after(engagement_id=engagement.pk, after_seq=0),
        "notes": [note_frame(n) for n in selectors.notes_of(engagement_id=engagement.pk)],
        "owners": [ownership_frame(o) for o in selectors.owner_history(engagement_id=engagement.pk)],
    }


def engagement_assigned(engagement: Engagement, *, operator: Operator, detail_follows: bool = False) -> None:
    """The operator got a new engagement; the visitor learns who is with them.

    With `detail_follows` (a hand-over, whose history matters at once) the new owner's console
    also gets `engagement.detail`, read after the commit, without asking for it: one round trip
    less between Transfer Now and the history on screen (docs/performance.md).
    """
    publish_to_operator(
        operator.pk,
        {"type": "engagement.assigned", "engagement": engagement_summary(engagement), "detail_follows": detail_follows},
    )
    if detail_follows:
        engagement_id = engagement.pk
        transaction.on_commit(lambda: _send_detail(operator.pk, engagement_id), robust=True)
    publish_to_engagement(
        engagement.pk, {"type": "engagement.state", "state": engagement.state, "operator_name": operator.display_name}
    )


def _send_detail(operator_id: int, engagement_id: int) -> None:
    engagement = Engagement.objects.select_related("visitor", "queue", "owner").get(pk=engagement_id)
    if engagement.owner_id == operator_id:  # still theirs once committed
        _send(operator_group(operator_id), engagement_detail_frame(engagement))


def engagement_released(engagement: Engagement, *, operator_id: int, reason: str) -> None:
    """The engagement left this operator's active list (transferred away or ended)."""
    publish_to_operator(operator_id, {"type": "engagement.released", "engagement_id": engagement.pk, "reason": reason})


def engagement_ended(engagement: Engagement) -> None:
    publish_to_engagement(
        engagement.pk, {"type": "engagement.state", "state": engagement.state, "reason": engagement.end_reason}
    )
    if engagement.owner_id:
        publish_to_operator(
            engagement.owner_id,
            {"type": "engagement.ended", "engagement_id": engagement.pk, "reason": engagement.end_reason},
        )


def availability_changed(availability: Availability) -> None:
    operator = availability.operator
    publish_to_site(
        operator.site_id,
        {
            "type": "availability",
            "operator_id": operator.pk,
            "media": availability.media,
            "status": availability.status,
            "load": availability.load,
            "capacity": availability.capacity,
        },
    )
    if availability.load >= availability.capacity:
        # Every load change is announced here, so this is where the core says "full" (see signals.py).
        from .signals import operator_reached_capacity

        operator_reached_capacity.send(sender=Availability, operator=operator, media=availability.media)


def queues_frame(site_id: int) -> dict:
    from .selectors import site_queue_overview

    return {"type": "queues.changed", "site_id": site_id, "queues": site_queue_overview(site_id=site_id)}


def _publish_queue_state(site_id: int) -> None:
    """Built after commit, so the figures include the change that caused them."""
    from .selectors import waiting_positions

    _send(site_group(site_id), queues_frame(site_id))
    for position in waiting_positions(site_id=site_id):
        _send(engagement_group(position.pop("engagement_id")), {"type": "queue.position", **position})


def queues_changed(site_id: int) -> None:
    """Queue waiting counts moved: consoles of the site get the new overview, waiting visitors their place."""
    transaction.on_commit(lambda: _publish_queue_state(site_id), robust=True)
