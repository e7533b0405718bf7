"""Celery tasks of the core: thin wrappers around services, safe to run twice."""

from celery import shared_task

from .services.routing import route_waiting_engagements


@shared_task(acks_late=True, ignore_result=True)
def route_waiting_engagements_task(limit: int = 200) -> int:
    """Beat sweep: routing normally happens on commit in-process; this catches any chat it missed."""
    return route_waiting_engagements(limit=limit)
