"""Reads shared by pages, the API and reports."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Concat, NullIf, Trim
from django.utils import timezone

from . import frames
from .models import Availability, CannedResponse, Engagement, Media, Message, Note, Operator, Ownership, Queue, Site
from .models.waiting import QueueWaitEstimate
from .models.wrapup import DispositionCode, WrapUp


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


def site_queue_overview(*, site_id: int) -> list[dict]:
    """Every queue of a site with its waiting count and oldest waiting time (for the live console overview)."""
    queues = (
        Queue.objects.filter(site_id=site_id)
        .annotate(
            waiting=Count("engagements", filter=Q(engagements__state=Engagement.State.QUEUED)),
            oldest=Min("engagements__queued_at", filter=Q(engagements__state=Engagement.State.QUEUED)),
        )
        .order_by("name")
    )
    return [
        {
            "id": queue.pk,
            "name": queue.name,
            "media": queue.media,
            "waiting": queue.waiting,
            "oldest_queued_at": queue.oldest.isoformat() if queue.oldest else None,
        }
        for queue in queues
    ]


def queues_frame(site_id: int) -> dict:
    """The `queues.changed` frame of a site, read now."""
    return frames.queues_frame(site_id, queues=site_queue_overview(site_id=site_id))


def waiting_positions(*, site_id: int) -> list[dict]:
    """The place in line of every engagement waiting on a site, in one query."""
    waiting = list(
        Engagement.objects.filter(site_id=site_id, state=Engagement.State.QUEUED)
        .order_by("queue_id", "queued_at", "pk")
        .values_list("pk", "queue_id", "queued_at")
    )
    averages = wait_averages([queue_id for _, queue_id, _ in waiting]) if waiting else {}
    now = timezone.now()
    positions = []
    place_in_queue: dict[int, int] = {}
    for engagement_id, queue_id, queued_at in waiting:
        place_in_queue[queue_id] = place_in_queue.get(queue_id, 0) + 1
        positions.append(
            {
                "engagement_id": engagement_id,
                "position": place_in_queue[queue_id],
                "queued_at": queued_at.isoformat(),
                "estimated_wait_minutes": estimated_minutes(average=averages[queue_id], queued_at=queued_at, now=now),
            }
        )
    return positions


def console_engagements_of(*, operator: Operator) -> list[Engagement]:
    """The operator's active engagements, each with `unread`: visitor messages after what they have read."""
    current = Ownership.objects.filter(engagement=OuterRef("pk"), operator=operator, ended_at__isnull=True)
    return list(
        active_engagements_of(operator=operator)
        .select_related("owner")
        .annotate(last_read_seq=Subquery(current.values("last_read_seq")[:1]))
        .annotate(
            unread=Count(
                "messages",
                filter=Q(messages__sender=Message.Sender.VISITOR, messages__seq__gt=F("last_read_seq")),
            )
        )
    )


def messages_after(
    *, engagement_id: int, after_seq: int, before_seq: int | None = None, limit: int = 1000
) -> list[Message]:
    """An engagement's messages with after_seq < seq (< before_seq), in seq order."""
    messages = Message.objects.filter(engagement_id=engagement_id, seq__gt=after_seq)
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    return list(messages.select_related("operator").order_by("seq")[:limit])


def visitor_over_message_limit(*, engagement_id: int, now: datetime | None = None) -> bool:
    """Has the engagement's visitor sent VISITOR_MESSAGES_PER_MINUTE lines in the last 60 s? (The
    socket's async path asks the same in its INSERT: services/messages_async.py.)"""
    limit = settings.VISITOR_MESSAGES_PER_MINUTE
    latest = Message.objects.filter(engagement_id=engagement_id, sender=Message.Sender.VISITOR).order_by("-seq")
    nth = list(latest.values_list("created_at", flat=True)[limit - 1 : limit])
    return bool(nth) and nth[0] > (now or timezone.now()) - timedelta(seconds=60)


def message_rows(*, engagement_id: int, after_seq: int, before_seq: int | None = None, limit: int = 1000):
    """An engagement's messages after `after_seq` (and before `before_seq`), in order, as plain rows:
    (seq, sender, sender_name, body, created_at, client_id). A 200-message history in a few
    milliseconds instead of ~20 ms of model instances (Transfer Now, docs/performance.md)."""
    rows = Message.objects.filter(engagement_id=engagement_id, seq__gt=after_seq)
    if before_seq is not None:
        rows = rows.filter(seq__lt=before_seq)
    return (
        rows.order_by("seq")
        .annotate(sender_name=sender_name_expression())
        .values_list("seq", "sender", "sender_name", "body", "created_at", "client_id")[:limit]
    )


def message_frames_of_rows(engagement_id: int, rows) -> list[dict]:
    """`message` frames of rows shaped as `message_rows` reads them."""
    return [
        frames.message_frame_of(
            engagement_id=engagement_id,
            seq=seq,
            sender=sender,
            sender_name=name or "",
            body=body,
            created_at=created,
            client_id=client_id,
        )
        for seq, sender, name, body, created, client_id in rows
    ]


def message_frames_after(
    *, engagement_id: int, after_seq: int, before_seq: int | None = None, limit: int = 1000
) -> list[dict]:
    """`message_rows` as ready `message` frames."""
    rows = message_rows(engagement_id=engagement_id, after_seq=after_seq, before_seq=before_seq, limit=limit)
    return message_frames_of_rows(engagement_id, rows)


def user_name_expression(prefix: str):
    """`frames.name_of_user` in SQL, for the user at `prefix` (e.g. "supervisor")."""
    full_name = Trim(Concat(f"{prefix}__first_name", Value(" "), f"{prefix}__last_name"))
    return Coalesce(f"{prefix}__operator__display_name", NullIf(full_name, Value("")), f"{prefix}__username")


def sender_name_expression():
    """A message's `sender_name` (see frames.message_frame): the operator's, a supervisor's, else ""."""
    return Coalesce("operator__display_name", user_name_expression("supervisor"), Value(""))


def codes_of(*, queue_id: int, kind: str) -> list[DispositionCode]:
    """The active codes of a queue that operators may pick, in the manager's order."""
    return list(DispositionCode.objects.filter(queue_id=queue_id, kind=kind, active=True).order_by("order", "name"))


def wrap_up_view(wrap_up: WrapUp) -> dict:
    """Everything the wrap-up panel draws of one wrap-up, read now (its queue's codes included)."""
    wrap_up = WrapUp.objects.select_related("queue", "engagement__visitor", "disposition").get(pk=wrap_up.pk)
    codes = codes_of(queue_id=wrap_up.queue_id, kind=DispositionCode.Kind.DISPOSITION)
    return frames.wrap_up_payload(wrap_up, codes=codes, now=timezone.now())


def open_wrap_ups_of(*, operator: Operator) -> list[dict]:
    """The operator's wrap-ups still open, oldest first (the console draws them after a reconnect)."""
    wrap_ups = WrapUp.objects.filter(operator=operator, ended_at__isnull=True).order_by("started_at", "pk")
    return [wrap_up_view(wrap_up) for wrap_up in wrap_ups]


def owner_history(*, engagement_id: int) -> list[Ownership]:
    return list(Ownership.objects.filter(engagement_id=engagement_id).select_related("operator").order_by("started_at"))


def notes_of(*, engagement_id: int) -> list[Note]:
    return list(
        Note.objects.filter(engagement_id=engagement_id)
        .select_related("author", "supervisor__operator")
        .order_by("created_at")
    )


def engagement_detail(engagement: Engagement, *, after_seq: int = 0) -> dict:
    """The `engagement.detail` frame of an engagement: its history (after `after_seq`, for a console
    that holds the lines before), notes and owners, read now."""
    return frames.engagement_detail_frame(
        engagement,
        messages=message_frames_after(engagement_id=engagement.pk, after_seq=after_seq),
        notes=notes_of(engagement_id=engagement.pk),
        owners=owner_history(engagement_id=engagement.pk),
    )


def chat_queues_for_visitors(*, site_id: int | None = None):
    """Chat queues a visitor may pick, default queues first."""
    queues = Queue.objects.filter(media=Media.CHAT).select_related("site")
    if site_id is not None:
        queues = queues.filter(site_id=site_id)
    return queues.order_by("site__name", "-is_default", "name")


def canned_responses_for(*, operator: Operator) -> list[dict]:
    """The active canned responses of the operator's site, as the console's "/" picker needs them
    (it offers a queue's own only in that queue's chats)."""
    rows = CannedResponse.objects.filter(site_id=operator.site_id, active=True)
    return list(rows.values("id", "shortcut", "title", "body", "queue_id"))


# --- the wait estimate (definition: helpdesk/services/wait_estimate.py, docs/metrics.md) ---


def minutes_left(*, average_wait_seconds: float, waited_seconds: float) -> int:
    """ "about N min" (pure): what is left of the average wait, in whole minutes, at least one."""
    return max(1, math.ceil((average_wait_seconds - max(waited_seconds, 0.0)) / 60))


def wait_averages(queue_ids: list[int]) -> dict[int, float | None]:
    """The average wait of each queue, or None where it cannot be estimated (no history, or no
    operator serving it available on its media). Two queries whatever the number of queues."""
    queue_ids = list(set(queue_ids))
    known = dict(
        QueueWaitEstimate.objects.filter(queue_id__in=queue_ids, samples__gt=0).values_list(
            "queue_id", "average_wait_seconds"
        )
    )
    staffed = set(
        Queue.objects.filter(
            pk__in=list(known),
            teams__operators__availabilities__status=Availability.Status.AVAILABLE,
            teams__operators__availabilities__media=F("media"),
        ).values_list("pk", flat=True)
    )
    return {queue_id: known[queue_id] if queue_id in staffed else None for queue_id in queue_ids}


def estimated_minutes(
    *, average: float | None, queued_at: datetime | None = None, now: datetime | None = None
) -> int | None:
    """The "about N min" of one visitor (waiting since `queued_at`) or of a newcomer (no `queued_at`)."""
    if average is None:
        return None
    waited = ((now or timezone.now()) - queued_at).total_seconds() if queued_at else 0.0
    return minutes_left(average_wait_seconds=average, waited_seconds=waited)


def wait_estimate_of(*, engagement: Engagement) -> int | None:
    """The estimate a waiting visitor is shown now (None when not waiting or not estimable)."""
    if engagement.state != Engagement.State.QUEUED:
        return None
    average = wait_averages([engagement.queue_id])[engagement.queue_id]
    return estimated_minutes(average=average, queued_at=engagement.queued_at)
