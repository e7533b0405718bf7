"""Routing: a waiting engagement goes to the least-loaded, then longest-idle, available operator.

The rule ("available for chat, under their chat capacity, longest idle first"), exactly:
an operator is a candidate for an engagement of a queue when they are in one of the queue's
serving teams, their availability on the queue's media is `available` and their load there
is under their capacity. Candidates are ordered by

1. load, fewest engagements first: someone with nothing to do is more idle than someone
   already holding chats, however long ago either last became free;
2. `idle_since`, oldest first (never idle yet, NULL, first): when they last had no engagement
   on this media (set when they become available with nothing to do, and when their last
   engagement there ends);
3. pk, so that the order is total and every router sees the same one.

Transfers to a queue and calls offered from a queue pick with the same `pick_free_availability`.

Overflow (helpdesk/services/overflow.py): an engagement whose `overflow_queue` is set may also go
to an operator of that queue (its own queue's operators are tried first); it keeps its place in
its own line. An engagement with `route_after` in the future (an offline message left while its
queue was closed) is not routed before then; the beat sweep picks it up once the time has come.

Race-safety: the engagement row is locked (waiting), candidate operator availabilities are
locked with SKIP LOCKED (never waiting), and the database refuses a load above capacity.
Two routers therefore never give one engagement two owners nor overfill an operator.
"""

from __future__ import annotations

import random
import time

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .. import events
from ..lock_objects import free_availabilities, lock_availability, lock_engagement
from ..models import Availability, Engagement, Operator, Ownership, Queue
from .capacity import free_capacity, occupy_capacity
from .wait_estimate import record_answer


def candidate_availabilities(*, queue: Queue, exclude_operator_ids: tuple[int, ...] = ()) -> QuerySet[Availability]:
    """Availabilities that could take an engagement of `queue` now, in routing order (module docstring):
    fewest engagements first, then longest idle, then pk."""
    serving = Operator.objects.filter(teams__queues=queue).values("pk")
    return (
        Availability.objects.filter(
            operator__in=serving,
            media=queue.media,
            status=Availability.Status.AVAILABLE,
            load__lt=F("capacity"),
            wrap_ups=0,  # in after-contact work: no new work (helpdesk/services/wrapup.py)
        )
        .exclude(operator_id__in=exclude_operator_ids)
        .order_by("load", F("idle_since").asc(nulls_first=True), "pk")
    )


def pick_free_availability(*, queue: Queue, exclude_operator_ids: tuple[int, ...] = ()) -> Availability | None:
    """Lock and return the first candidate no other transaction is routing to. Call inside atomic()."""
    return free_availabilities(candidate_availabilities(queue=queue, exclude_operator_ids=exclude_operator_ids)).first()


HANDED_OVER = (Ownership.Start.TRANSFERRED, Ownership.Start.TAKEN_OVER)


def take_ownership(*, engagement: Engagement, availability: Availability, because: str) -> Ownership:
    """Give a locked engagement to the operator of a locked availability; caller holds both locks.

    Raises IntegrityError (from the capacity constraint) if the operator is full.
    """
    now = timezone.now()
    occupy_capacity(availability=availability)
    ownership = Ownership.objects.create(
        engagement=engagement,
        operator_id=availability.operator_id,
        started_at=now,
        started_because=because,
        # A hand-over's new owner has the history in front of them; a newly answered one has read nothing.
        last_read_seq=engagement.last_seq if because in HANDED_OVER else 0,
    )
    engagement.owner = availability.operator  # kept on the instance: the frames name the new owner
    engagement.state = Engagement.State.ACTIVE
    if engagement.answered_at is None:
        engagement.answered_at = now
        record_answer(engagement=engagement, answered_at=now)
    engagement.save(update_fields=["owner", "state", "answered_at"])
    return ownership


def release_ownership(*, engagement: Engagement, because: str, route_freed: bool = True) -> Availability | None:
    """End the current owner's stretch and free their capacity; caller holds the engagement lock.

    The freed operator is given waiting work after commit; with `route_freed` False the caller does
    that (`route_if_available` on the returned availability) once its own frames are queued.
    """
    if not engagement.owner_id:
        return None
    now = timezone.now()
    Ownership.objects.filter(engagement=engagement, ended_at__isnull=True).update(ended_at=now, ended_because=because)
    availability = free_capacity(operator_id=engagement.owner_id, media=engagement.media)
    events.engagement_released(engagement, operator_id=engagement.owner_id, reason=because)
    if route_freed:
        route_if_available(availability)
    return availability


def route_if_available(availability: Availability) -> None:
    """An operator who just got room: if they are available, give them waiting work after commit."""
    if availability.status == Availability.Status.AVAILABLE:
        schedule_routing_for_operator(operator_id=availability.operator_id, media=availability.media)


# SKIP LOCKED never waits, so a router may pass over a row that another transaction holds only
# for a moment (another router, or a message being posted on a waiting engagement). When that
# is the only reason nothing was routed, try again shortly, a bounded number of times.
ROUTING_ATTEMPTS = 6
ROUTING_RETRY_SECONDS = 0.02


def pause_before_retry(attempt: int) -> None:
    """Wait a growing, randomised while before routing attempt `attempt + 1`.

    The randomness matters: an engagement's router (holding the engagement, skipping the operator)
    and an operator's router (holding the operator, skipping the engagement) that start together
    would, on the same fixed schedule, meet again at every retry and both give up, leaving the
    engagement waiting with its operator free (a third of such meetings did, before).
    """
    time.sleep(ROUTING_RETRY_SECONDS * attempt * random.uniform(0.5, 1.5))


def routable_now() -> Q:
    """Waiting engagements routing may hand out now: not held back until a later time."""
    return Q(route_after__isnull=True) | Q(route_after__lte=timezone.now())


def queues_to_route_from(engagement: Engagement) -> list[Queue]:
    """Its own queue, then its overflow queue once it has overflowed there."""
    return [engagement.queue] + ([engagement.overflow_queue] if engagement.overflow_queue_id else [])


def route_engagement(*, engagement_id: int) -> Operator | None:
    """Give a waiting engagement to the first free operator of its queue (then of its overflow
    queue, once it overflowed); None if nobody can take it or it is held back (`route_after`).

    The engagement row is locked (one router at a time per engagement), operators are picked
    with SKIP LOCKED in routing order (fewest engagements, then longest idle), and the capacity
    constraint refuses an overfill.
    """
    for attempt in range(ROUTING_ATTEMPTS):
        with transaction.atomic():
            engagement = lock_engagement(engagement_id)
            if engagement.state != Engagement.State.QUEUED:
                return None
            if engagement.route_after and engagement.route_after > timezone.now():
                return None
            queues = queues_to_route_from(engagement)
            availability = next(filter(None, (pick_free_availability(queue=queue) for queue in queues)), None)
            if availability is not None:
                take_ownership(engagement=engagement, availability=availability, because=Ownership.Start.ROUTED)
                operator = availability.operator
                events.engagement_assigned(engagement, operator=operator)
                events.queues_changed(engagement.site_id)
                return operator
            # Candidates that exist but were skipped are held by another transaction right now.
            held_elsewhere = any(candidate_availabilities(queue=queue).exists() for queue in queues)
        if not held_elsewhere:
            return None
        pause_before_retry(attempt + 1)
    return None


def waiting_for_operator(*, operator_id: int, media: str) -> QuerySet[Engagement]:
    """Waiting engagements an operator could take on `media` (of the queues they serve, or
    overflowed to one of them), oldest first."""
    served = Queue.objects.filter(teams__operators=operator_id).values("pk")
    return (
        Engagement.objects.filter(state=Engagement.State.QUEUED, media=media)
        .filter(Q(queue__in=served) | Q(overflow_queue__in=served))
        .filter(routable_now())
        .order_by("queued_at", "pk")
    )


def route_waiting_for_operator(*, operator_id: int, media: str) -> int:
    """Fill a newly free operator with the oldest waiting engagements they serve. Returns how many.

    The operator's availability row is locked for each pick; engagements are taken with
    SKIP LOCKED so two operators filling up at once never wait for each other.
    """
    # Nothing waiting on this media at all (the usual case with someone free): one indexed read
    # instead of a transaction, a lock and two joins. Safe without the lock: this runs after the
    # commit that gave the operator room, so anything queued later sees that room when it routes.
    if not Engagement.objects.filter(state=Engagement.State.QUEUED, media=media).exists():
        return 0
    routed = 0
    attempts = 0
    while True:
        with transaction.atomic():
            availability = lock_availability(operator_id=operator_id, media=media)
            if not availability.has_room:
                return routed
            engagement = (
                waiting_for_operator(operator_id=operator_id, media=media).select_for_update(skip_locked=True).first()
            )
            if engagement is not None:
                take_ownership(engagement=engagement, availability=availability, because=Ownership.Start.ROUTED)
                events.engagement_assigned(engagement, operator=availability.operator)
                events.queues_changed(engagement.site_id)
                routed += 1
                continue
            held_elsewhere = waiting_for_operator(operator_id=operator_id, media=media).exists()
        attempts += 1
        if not held_elsewhere or attempts >= ROUTING_ATTEMPTS:
            return routed
        pause_before_retry(attempts)


def route_waiting_engagements(*, limit: int = 200) -> int:
    """Safety net (beat): route engagements still waiting although someone may be free. Returns how many."""
    routed = 0
    waiting = Engagement.objects.filter(routable_now(), state=Engagement.State.QUEUED).order_by("queued_at", "pk")
    for engagement_id in waiting.values_list("pk", flat=True)[:limit]:
        if route_engagement(engagement_id=engagement_id) is not None:
            routed += 1
    return routed


def schedule_routing_for_operator(*, operator_id: int, media: str) -> None:
    """After commit, try to give the operator waiting work (in-process: it is short and local)."""
    transaction.on_commit(lambda: route_waiting_for_operator(operator_id=operator_id, media=media), robust=True)


def schedule_routing(*, engagement_id: int) -> None:
    transaction.on_commit(lambda: route_engagement(engagement_id=engagement_id), robust=True)
