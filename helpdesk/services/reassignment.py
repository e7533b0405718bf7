"""Moving an engagement by decision instead of by routing: a supervisor reassigns it, or takes an
operator offline and their chats go back to waiting.

Race-safety as for routing: the engagement row is locked and its state re-checked under the lock,
so a reassignment and routing (or two reassignments) racing for one engagement have one winner;
the loser is told it moved on. The capacity constraint refuses an overfill.
"""

from __future__ import annotations

from django.db import transaction

from .. import events
from ..errors import ChatError
from ..lock_objects import lock_availability, lock_engagement
from ..models import Engagement, Ownership, Queue
from .overflow import overflow_at_for
from .routing import release_ownership, schedule_routing, take_ownership


def _target_queue(engagement: Engagement, queue_id: int | None) -> Queue:
    if queue_id is None:
        return engagement.queue
    queue = Queue.objects.filter(pk=queue_id).first()
    if queue is None:
        raise ChatError("not_found", "That queue does not exist.")
    if queue.media != engagement.media:
        raise ChatError("wrong_media", "That queue does not take this kind of engagement.")
    return queue


def requeue_engagement(*, engagement_id: int, queue_id: int | None = None) -> Engagement:
    """Put an engagement back in line (its own queue, or `queue_id` of the same media).

    An active one leaves its owner (their stretch ends as `requeued`, their capacity frees); a
    waiting one just changes queue. It keeps the time it first queued, so it is served before
    everyone who came after it, and it is answered only once in the figures. Routing runs on commit.
    """
    with transaction.atomic():
        engagement = lock_engagement(engagement_id)
        if engagement.state == Engagement.State.ENDED:
            raise ChatError("ended", "This conversation has ended.")
        queue = _target_queue(engagement, queue_id)
        old_site_id = engagement.site_id
        if engagement.state == Engagement.State.ACTIVE:
            release_ownership(engagement=engagement, because=Ownership.End.REQUEUED)
        if queue.pk != engagement.queue_id:  # the old queue's overflow no longer applies; the new one's does
            engagement.overflow_queue = None
            engagement.overflow_at = overflow_at_for(queue=queue, queued_at=engagement.queued_at)
        engagement.owner_id = None
        engagement.state = Engagement.State.QUEUED
        engagement.queue = queue
        engagement.site_id = queue.site_id
        engagement.save(update_fields=["owner", "state", "queue", "site", "overflow_queue", "overflow_at"])
        events.engagement_waiting_again(engagement)
        events.queues_changed(engagement.site_id)
        if old_site_id != engagement.site_id:
            events.queues_changed(old_site_id)
        schedule_routing(engagement_id=engagement.pk)
    return engagement


def assign_waiting_engagement(*, engagement_id: int, operator_id: int) -> Engagement:
    """Give a waiting engagement to a chosen operator now. Exactly one of this and routing (or another
    assignment) wins: the engagement must still be waiting under its row lock. The operator must be
    available on its media with room."""
    with transaction.atomic():
        engagement = lock_engagement(engagement_id)
        if engagement.state != Engagement.State.QUEUED:
            raise ChatError("not_waiting", "It is no longer waiting: someone answered it, or it ended.")
        availability = lock_availability(operator_id=operator_id, media=engagement.media)
        if not availability.has_room:
            name = availability.operator.display_name
            raise ChatError("target_unavailable", f"{name} is not available with room for it right now.")
        take_ownership(engagement=engagement, availability=availability, because=Ownership.Start.ASSIGNED)
        events.engagement_assigned(engagement, operator=availability.operator, detail_follows=True)
        events.queues_changed(engagement.site_id)
        events.detail_to_new_owner(engagement, operator=availability.operator)
    return engagement
