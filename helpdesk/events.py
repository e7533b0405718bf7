"""Every realtime frame of the core (chat, presence, queues): one builder per frame type.

Frame names and fields match docs/realtime.md. Each function publishes on commit.
"""

from __future__ import annotations

from .models import Availability, Engagement, Message, Note, Operator
from .realtime import publish_to_engagement, publish_to_operator, publish_to_site


def message_frame(message: Message) -> dict:
    return {
        "type": "message",
        "engagement_id": message.engagement_id,
        "seq": message.seq,
        "sender": message.sender,
        "sender_name": message.operator.display_name if message.operator_id else "",
        "body": message.body,
        "created_at": message.created_at.isoformat(),
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


def note_created(note: Note) -> None:
    """Notes go to the owner only: never to the visitor."""
    owner_id = note.engagement.owner_id
    if owner_id:
        publish_to_operator(
            owner_id,
            {
                "type": "note",
                "engagement_id": note.engagement_id,
                "id": note.pk,
                "author_name": note.author.display_name if note.author_id else "System",
                "source": note.source,
                "body": note.body,
                "created_at": note.created_at.isoformat(),
            },
        )


def engagement_assigned(engagement: Engagement, *, operator: Operator) -> None:
    """The operator got a new engagement; the visitor learns who is with them."""
    publish_to_operator(operator.pk, {"type": "engagement.assigned", "engagement": engagement_summary(engagement)})
    publish_to_engagement(
        engagement.pk, {"type": "engagement.state", "state": engagement.state, "operator_name": operator.display_name}
    )


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


def queues_changed(site_id: int) -> None:
    """Queue waiting counts moved; consoles of the site refresh their overview."""
    publish_to_site(site_id, {"type": "queues.changed"})
