"""How supervision reacts to the core: an engagement that ends closes the watches still open on it
(a supervisor monitoring a chat the visitor left, or on a call the caller hung up)."""

from __future__ import annotations

from django.utils import timezone

from .models import Watch


def close_watches_of_ended_engagement(sender, *, engagement, **kwargs) -> None:
    Watch.objects.filter(engagement_id=engagement.pk, ended_at__isnull=True).update(ended_at=timezone.now())
