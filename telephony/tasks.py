"""Celery tasks of telephony: thin wrappers around services. Take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import cleanup, services


@shared_task(acks_late=True, ignore_result=True)
def ring_timeout(leg_id: int) -> bool:
    """Countdown from a leg's ring: if it still rings at its deadline, it ends as no answer."""
    return services.expire_ringing_leg(leg_id=leg_id)


@shared_task(acks_late=True, ignore_result=True)
def clean_up_legs(batch_size: int = cleanup.BATCH_SIZE) -> dict:
    """Beat sweep (settings.CELERY_BEAT_SCHEDULE); see telephony.cleanup for what it repairs."""
    return cleanup.clean_up_legs(batch_size=batch_size)
