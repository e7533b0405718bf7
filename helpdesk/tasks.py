"""Celery tasks of the core: thin wrappers around services, safe to run twice."""

from celery import shared_task

from .services.overflow import overflow_due_engagements
from .services.routing import route_waiting_engagements


@shared_task(acks_late=True, ignore_result=True)
def route_waiting_engagements_task(limit: int = 200) -> int:
    """Beat sweep: routing normally happens on commit in-process; this catches any chat it missed."""
    return route_waiting_engagements(limit=limit)


@shared_task(acks_late=True, ignore_result=True)
def overflow_due_engagements_task(limit: int = 200) -> int:
    """Beat sweep: waiting engagements whose overflow time has come (or whose queue has nobody
    available) are offered to the overflow queue too; each once, however often this runs."""
    return overflow_due_engagements(limit=limit)
