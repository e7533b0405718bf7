"""Named row locks. Call inside transaction.atomic(); several rows are always locked in pk order."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Availability, Engagement


def lock_engagement(engagement_id: int) -> Engagement:
    return Engagement.objects.select_for_update().get(pk=engagement_id)


def lock_availabilities(availability_ids: list[int]) -> list[Availability]:
    return list(Availability.objects.select_for_update().filter(pk__in=availability_ids).order_by("pk"))


def lock_availability(*, operator_id: int, media: str) -> Availability:
    """The row of an operator's media, locked; its operator comes along (every capacity change
    announces it with the operator's site), without locking the operator's row."""
    return (
        Availability.objects.select_for_update(of=("self",))
        .select_related("operator")
        .get(operator_id=operator_id, media=media)
    )


def free_availabilities(queryset: QuerySet[Availability]) -> QuerySet[Availability]:
    """Availabilities not locked by another routing transaction right now (others skip them)."""
    return queryset.select_for_update(skip_locked=True)
