"""Publishing the core's realtime frames: who gets which frame, sent once the change commits.

Frames are built in frames.py (pure) from what the caller holds or, for frames that must show
the committed state, from a read made after the commit (selectors.py). Delivery is realtime.py.
"""

from __future__ import annotations

from django.db import transaction

from . import frames, selectors
from .models import Availability, Engagement, Message, Note, Operator, WrapUp
from .realtime import (
    engagement_group,
    operator_group,
    publish_to_engagement,
    publish_to_operator,
    publish_to_site,
    send,
    send_after_commit,
    send_soon,
    site_group,
)


def message_created(message: Message) -> None:
    """To the visitor and to the current owner."""
    frame = frames.message_frame(message)
    publish_to_engagement(message.engagement_id, frame)
    owner_id = message.engagement.owner_id
    if owner_id:
        publish_to_operator(owner_id, frame)


def message_created_soon(frame: dict, *, owner_id: int | None) -> None:
    """The async chat path's `message_created`: the caller has committed; send in the background, in
    order per engagement, so the socket that posted answers its sender at once whatever Redis does."""
    sends = [(engagement_group(frame["engagement_id"]), frame)]
    if owner_id:
        sends.append((operator_group(owner_id), frame))
    send_soon(sends, order_key=frame["engagement_id"])


def note_created(note: Note) -> None:
    """Notes go to the owner only: never to the visitor."""
    owner_id = note.engagement.owner_id
    if owner_id:
        publish_to_operator(owner_id, frames.note_frame(note))


def visitor_typing(engagement: Engagement, *, typing: bool) -> None:
    """The visitor started or stopped typing: the owner's console shows it."""
    if engagement.owner_id:
        publish_to_operator(engagement.owner_id, frames.typing_of_visitor_frame(engagement.pk, typing=typing))


def operator_typing(engagement: Engagement, *, operator: Operator, typing: bool) -> None:
    publish_to_engagement(engagement.pk, frames.typing_of_operator_frame(operator, typing=typing))


def engagement_assigned(engagement: Engagement, *, operator: Operator, detail_follows: bool = False) -> None:
    """The operator got a new engagement; the visitor learns who is with them.

    `detail_follows` (a hand-over, whose history matters at once) tells the new owner's console
    not to ask for the history: the caller sends it with `detail_to_new_owner`.
    """
    publish_to_operator(operator.pk, frames.engagement_assigned_frame(engagement, detail_follows=detail_follows))
    publish_to_engagement(engagement.pk, frames.engagement_state_frame(engagement, operator_name=operator.display_name))


def detail_to_new_owner(engagement: Engagement, *, operator: Operator) -> None:
    """After `engagement_assigned(detail_follows=True)`: `engagement.detail`, read after the commit,
    without the console asking for it: one round trip less between a hand-over and the history on
    screen (docs/performance.md). Call it after the act's other frames: the read delays what follows."""
    engagement_id, operator_id = engagement.pk, operator.pk
    send_after_commit(operator_group(operator_id), lambda: _detail_if_still_owner(operator_id, engagement_id))


def _detail_if_still_owner(operator_id: int, engagement_id: int) -> dict | None:
    engagement = Engagement.objects.select_related("visitor", "queue", "owner").get(pk=engagement_id)
    if engagement.owner_id != operator_id:  # moved on again before this ran
        return None
    return selectors.engagement_detail(engagement)


def engagement_waiting_again(engagement: Engagement) -> None:
    """Back in line (a supervisor reassigned it to a queue, or its operator was taken offline)."""
    publish_to_engagement(engagement.pk, frames.engagement_state_frame(engagement))


def engagement_released(engagement: Engagement, *, operator_id: int, reason: str) -> None:
    """The engagement left this operator's active list (transferred away or ended)."""
    publish_to_operator(operator_id, frames.engagement_released_frame(engagement.pk, reason=reason))


def engagement_ended(engagement: Engagement) -> None:
    publish_to_engagement(engagement.pk, frames.engagement_state_frame(engagement))
    if engagement.owner_id:
        publish_to_operator(engagement.owner_id, frames.engagement_ended_frame(engagement))


def availability_changed(availability: Availability) -> None:
    """Consoles of the operator's site redraw their status and load."""
    operator = availability.operator
    publish_to_site(operator.site_id, frames.availability_frame(availability, operator_id=operator.pk))


def wrap_up_started(wrap_up: WrapUp) -> None:
    """The operator's console opens the wrap-up panel; built after commit (the codes as they are then)."""
    wrap_up_id = wrap_up.pk
    send_after_commit(
        operator_group(wrap_up.operator_id),
        lambda: frames.wrap_up_started_frame(selectors.wrap_up_view(WrapUp(pk=wrap_up_id))),
    )


def wrap_up_ended(wrap_up: WrapUp) -> None:
    """The panel closes (Done, skipped, or the time ran out)."""
    publish_to_operator(wrap_up.operator_id, frames.wrap_up_ended_frame(wrap_up))


def _publish_queue_state(site_id: int) -> None:
    """Built after commit, so the figures include the change that caused them."""
    send(site_group(site_id), selectors.queues_frame(site_id))
    _publish_waiting_positions(site_id)


def _publish_waiting_positions(site_id: int) -> None:
    for position in selectors.waiting_positions(site_id=site_id):
        send(
            engagement_group(position["engagement_id"]),
            frames.queue_position_frame(
                position=position["position"],
                queued_at=position["queued_at"],
                estimated_wait_minutes=position["estimated_wait_minutes"],
            ),
        )


def queues_changed(site_id: int) -> None:
    """Queue waiting counts moved: consoles of the site get the new overview, waiting visitors their place."""
    transaction.on_commit(lambda: _publish_queue_state(site_id), robust=True)


def waiting_visitors_changed(site_ids: list[int]) -> None:
    """Something an estimate depends on moved (an operator became available or stopped being so):
    waiting visitors of those sites get their place and estimate again, after commit."""
    for site_id in sorted(set(site_ids)):
        transaction.on_commit(lambda site_id=site_id: _publish_waiting_positions(site_id), robust=True)
