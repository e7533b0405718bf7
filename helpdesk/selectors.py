"""Reads shared by pages, the API and reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from .models import Availability, Engagement, Operator, Queue, Site


@dataclass(frozen=True)
class QueueStats:
    queue: Queue
    waiting: int
    longest_wait: timedelta
    available_operators: int

    @property
    def longest_wait_seconds(self) -> int:
        return int(self.longest_wait.total_seconds())


def queue_stats(*, queues) -> list[QueueStats]:
    """Waiting count, current (longest) wait and available operators for each queue."""
    now = timezone.now()
    queues = list(
        Queue.objects.filter(pk__in=[q.pk for q in queues])
        .select_related("site")
        .annotate(
            waiting=Count("engagements", filter=Q(engagements__state=Engagement.State.QUEUED)),
            oldest=Min("engagements__queued_at", filter=Q(engagements__state=Engagement.State.QUEUED)),
        )
    )
    stats = []
    for queue in queues:
        available = (
            Availability.objects.filter(
                operator__teams__queues=queue, media=queue.media, status=Availability.Status.AVAILABLE
            )
            .values("operator")
            .distinct()
            .count()
        )
        stats.append(
            QueueStats(
                queue=queue,
                waiting=queue.waiting,
                longest_wait=(now - queue.oldest) if queue.oldest else timedelta(0),
                available_operators=available,
            )
        )
    return stats


def queue_position(*, engagement: Engagement) -> int:
    """1-based place of a waiting engagement in its queue (0 if it is not waiting)."""
    if engagement.state != Engagement.State.QUEUED:
        return 0
    return (
        Engagement.objects.filter(
            queue_id=engagement.queue_id, state=Engagement.State.QUEUED, queued_at__lte=engagement.queued_at
        )
        .exclude(queued_at=engagement.queued_at, pk__gt=engagement.pk)
        .count()
    )


def queues_served_by(*, operator: Operator):
    return Queue.objects.filter(teams__operators=operator).distinct().order_by("name")


def sites_managed_by(user) -> list[Site] | object:
    """The sites a staff user may see: all for a superuser, else the sites they manage."""
    if user.is_superuser:
        return Site.objects.all()
    return Site.objects.filter(managers=user)


def active_engagements_of(*, operator: Operator):
    return (
        Engagement.objects.filter(owner=operator, state=Engagement.State.ACTIVE)
        .select_related("visitor", "queue")
        .order_by("answered_at")
    )
