"""Presence: an operator's status per media, and what follows from a change of it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .. import events
from ..models import Availability, AvailabilityLog, Media, Operator, Queue
from ..models.presence import DEFAULT_CAPACITY
from ..signals import operator_became_unavailable
from .routing import schedule_routing_for_operator


def ensure_availabilities(*, operator: Operator) -> list[Availability]:
    """Every operator has one availability row per media (offline until they say otherwise)."""
    rows = []
    for media in Media:
        availability, _ = Availability.objects.get_or_create(
            operator=operator, media=media, defaults={"capacity": DEFAULT_CAPACITY[media]}
        )
        rows.append(availability)
    return rows


def set_availability(*, operator: Operator, media: str, status: str, reason: str = "") -> Availability:
    """Change an operator's status on one media, log the stretch that ended, and react.

    Becoming available routes waiting engagements to them; leaving `available` tells
    transfers and telephony (signal) so offers to them are withdrawn with `reason`.
    """
    if media not in Media.values:
        raise ValueError(f"unknown media {media!r}")
    if status not in Availability.Status.values:
        raise ValueError(f"unknown status {status!r}")
    now = timezone.now()
    with transaction.atomic():
        ensure_availabilities(operator=operator)
        availability = Availability.objects.select_for_update().get(operator=operator, media=media)
        if availability.status == status:
            return availability
        was_available = availability.status == Availability.Status.AVAILABLE
        AvailabilityLog.objects.filter(operator=operator, media=media, ended_at__isnull=True).update(ended_at=now)
        AvailabilityLog.objects.create(operator=operator, media=media, status=status, started_at=now)
        availability.status = status
        availability.changed_at = now
        if status == Availability.Status.AVAILABLE and availability.load == 0:
            availability.idle_since = now
        availability.save(update_fields=["status", "changed_at", "idle_since"])
        events.availability_changed(availability)
        if was_available and status != Availability.Status.AVAILABLE:
            operator_became_unavailable.send(
                sender=Availability, operator=operator, media=media, reason=reason or status
            )
        if status == Availability.Status.AVAILABLE:
            schedule_routing_for_operator(operator_id=operator.pk, media=media)
        if was_available or status == Availability.Status.AVAILABLE:  # the wait estimate may (dis)appear
            served = Queue.objects.filter(teams__operators=operator, media=media)
            events.waiting_visitors_changed(list(served.values_list("site_id", flat=True)))
    return availability


def set_offline_everywhere(*, operator: Operator, reason: str = "offline") -> None:
    """On logout: every media goes offline, which withdraws pending offers."""
    for media in Media:
        set_availability(operator=operator, media=media, status=Availability.Status.OFFLINE, reason=reason)
