"""Reads of telephony shared by the phone console, the caller simulator, frames and the admin."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db.models import Q

from helpdesk.models import Availability, Media, Operator, Queue
from helpdesk.selectors import QueueStats, queue_stats
from helpdesk.services.routing import candidate_availabilities

from .models import Call, Leg


def operators_on_call(call: Call) -> list[int]:
    """Everyone who has or had a leg on the call, plus the current owner and initiator."""
    ids = set(call.legs.exclude(operator__isnull=True).values_list("operator_id", flat=True))
    ids.update(i for i in (call.engagement.owner_id, call.initiator_id) if i)
    return sorted(ids)


def call_with_legs(*, call_id: int) -> tuple[Call, list[Leg]] | None:
    """A call with everything its frames show (frames.call_snapshot): its engagement with queue,
    caller and owner, and its legs in pk order with operator and queue, each pointing back at
    that call. None when there is no such call."""
    call = (
        Call.objects.select_related("engagement__queue", "engagement__visitor", "engagement__owner")
        .filter(pk=call_id)
        .first()
    )
    if call is None:
        return None
    legs = list(call.legs.select_related("operator", "queue", "reason", "supervisor__operator").order_by("pk"))
    for leg in legs:
        leg.call = call
    return call, legs


def current_calls_of(*, operator: Operator) -> list[Call]:
    """Calls where the operator has an open leg (ringing, connected or held), oldest first."""
    return list(
        Call.objects.filter(legs__operator=operator, legs__state__in=Leg.OPEN_STATES)
        .select_related("engagement")
        .distinct()
        .order_by("created_at")
    )


@dataclass(frozen=True)
class OperatorTarget:
    operator: Operator
    status: str
    load: int
    capacity: int

    @property
    def can_take_call(self) -> bool:
        return self.status == Availability.Status.AVAILABLE and self.load < self.capacity


def skill_targets(*, operator: Operator) -> list[QueueStats]:
    """Voice skills of the operator's site with waiting counts and how many operators could take
    a consult from `operator` now: the ones `start_consult` would pick from (available on voice,
    under capacity), never the asking operator themself."""
    queues = Queue.objects.filter(site_id=operator.site_id, media=Media.VOICE).order_by("name")
    return [
        replace(
            stat,
            available_operators=candidate_availabilities(queue=stat.queue, exclude_operator_ids=(operator.pk,))
            .values("operator")
            .distinct()
            .count(),
        )
        for stat in queue_stats(queues=queues)
    ]


def operator_targets(*, operator: Operator, search: str = "") -> list[OperatorTarget]:
    """Operators of the same site (not the asking one) with their voice availability; searchable
    by name, e-mail or team."""
    operators = Operator.objects.filter(site_id=operator.site_id).exclude(pk=operator.pk).select_related("user")
    if search:
        operators = operators.filter(
            Q(display_name__icontains=search) | Q(user__email__icontains=search) | Q(teams__name__icontains=search)
        ).distinct()
    voice = {a.operator_id: a for a in Availability.objects.filter(operator__in=operators, media=Media.VOICE)}
    order = {Availability.Status.AVAILABLE: 0, Availability.Status.BUSY: 1, Availability.Status.AWAY: 2}
    targets = []
    for target in operators.order_by("display_name"):
        availability = voice.get(target.pk)
        targets.append(
            OperatorTarget(
                operator=target,
                status=availability.status if availability else Availability.Status.OFFLINE,
                load=availability.load if availability else 0,
                capacity=availability.capacity if availability else 0,
            )
        )
    targets.sort(key=lambda t: (order.get(t.status, 3), not t.can_take_call, t.operator.display_name))
    return targets


@dataclass(frozen=True)
class RecentCall:
    caller: str
    queue: str
    outcome: str
    ended_at: object


def recent_calls_of(*, operator: Operator, limit: int = 8) -> list[RecentCall]:
    """The operator's last finished legs, newest first, with how each ended for them."""
    legs = (
        Leg.objects.filter(operator=operator, state=Leg.State.ENDED)
        .select_related("call__engagement__visitor", "call__engagement__queue")
        .order_by("-ended_at")[:limit]
    )
    return [
        RecentCall(
            caller=leg.call.engagement.visitor.display_name,
            queue=leg.call.engagement.queue.name,
            outcome=("Consult · " if leg.kind == Leg.Kind.CONSULT else "") + leg.get_end_reason_display(),
            ended_at=leg.ended_at,
        )
        for leg in legs
    ]
