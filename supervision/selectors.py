"""Reads of supervision shared by the pages, the socket and the API."""

from __future__ import annotations

from .models import Watch


def open_watches_of(*, engagement_id: int) -> list[Watch]:
    return list(
        Watch.objects.filter(engagement_id=engagement_id, ended_at__isnull=True)
        .select_related("supervisor__operator")
        .order_by("started_at", "pk")
    )
