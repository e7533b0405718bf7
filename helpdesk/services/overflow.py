"""Overflow: waiting work of a queue is also offered to its overflow queue.

Per queue (`QueueOverflow`): after `after_seconds` of waiting, or at once while no operator
serving the queue is available on its media (`when_no_operator`), a waiting engagement becomes
routable to the operators of `overflow_queue` too. It stays in its own line (its place and the
visitor's position do not change); whoever is routed it first has it: routing locks the
engagement row, so of an operator of each queue taking it at once exactly one wins.

Timers are facts: `Engagement.overflow_at` is written when the engagement joins the queue
(queued_at + after_seconds), the beat sweep (`overflow_due_engagements`, every
`OVERFLOW_SWEEP_SECONDS`) sets `overflow_queue` on every engagement whose time has come or whose
queue has nobody available, with a compare-and-set update (only while still waiting and not
overflowed yet), then routes it. Running the sweep twice, or two sweeps at once, overflows each
engagement once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .. import events
from ..models import Availability, Engagement, Operator, Queue, QueueOverflow
from .routing import schedule_routing


def overflow_at_for(*, queue: Queue, queued_at: datetime) -> datetime | None:
    """When an engagement joining `queue` at `queued_at` is due to overflow (None: not by time)."""
    after = QueueOverflow.objects.filter(queue=queue, after_seconds__isnull=False).values_list(
        "after_seconds", flat=True
    )
    seconds = after.first()
    return queued_at + timedelta(seconds=seconds) if seconds else None


def unstaffed_queue_ids() -> list[int]:
    """Queues with overflow `when_no_operator` whose serving operators are none of them available."""
    available = Availability.objects.filter(
        operator__in=Operator.objects.filter(teams__queues=OuterRef(OuterRef("queue"))).values("pk"),
        media=OuterRef("queue__media"),
        status=Availability.Status.AVAILABLE,
    )
    return list(
        QueueOverflow.objects.filter(when_no_operator=True)
        .annotate(staffed=Exists(available))
        .filter(staffed=False)
        .values_list("queue_id", flat=True)
    )


def due_for_overflow(*, now: datetime) -> Q:
    return Q(overflow_at__lte=now) | Q(queue_id__in=unstaffed_queue_ids())


def overflow_due_engagements(*, limit: int = 200, now: datetime | None = None) -> int:
    """Beat sweep: offer every due waiting engagement to its queue's overflow queue. Returns how many.

    Bounded: at most `limit` engagements per run, oldest first (the next run takes the rest).
    """
    now = now or timezone.now()
    due = (
        Engagement.objects.filter(state=Engagement.State.QUEUED, overflow_queue__isnull=True)
        .filter(queue__overflow__isnull=False)
        .filter(Q(route_after__isnull=True) | Q(route_after__lte=now))
        .filter(due_for_overflow(now=now))
        .order_by("queued_at", "pk")
        .values_list("pk", "queue__overflow__overflow_queue_id", "overflow_at")[:limit]
    )
    overflowed = 0
    for engagement_id, overflow_queue_id, overflow_at in due:
        if overflow_engagement(
            engagement_id=engagement_id,
            overflow_queue_id=overflow_queue_id,
            at=overflow_at if overflow_at and overflow_at <= now else now,
        ):
            overflowed += 1
    return overflowed


def overflow_engagement(*, engagement_id: int, overflow_queue_id: int, at: datetime) -> bool:
    """Offer one waiting engagement to `overflow_queue_id` too; False if it moved on or already was.

    A compare-and-set update: only a still waiting engagement without an overflow queue changes,
    so a second run (or a racing sweep) does nothing. Routing is tried once this commits.
    """
    with transaction.atomic():
        changed = Engagement.objects.filter(
            pk=engagement_id, state=Engagement.State.QUEUED, overflow_queue__isnull=True
        ).update(overflow_queue_id=overflow_queue_id, overflow_at=at)
        if not changed:
            return False
        site_id = Engagement.objects.values_list("site_id", flat=True).get(pk=engagement_id)
        overflow_site_id = Queue.objects.values_list("site_id", flat=True).get(pk=overflow_queue_id)
        events.queues_changed(site_id)
        if overflow_site_id != site_id:
            events.queues_changed(overflow_site_id)
        schedule_routing(engagement_id=engagement_id)
    return True
