"""Celery tasks of the core: thin wrappers around services, safe to run twice."""

from celery import shared_task
from django.utils import timezone

from .models import WrapUp
from .services.overflow import overflow_due_engagements
from .services.routing import route_waiting_engagements
from .services.transcripts import send_transcript_email, unsent_transcript_ids
from .services.wrapup import expire_due_wrap_ups, expire_wrap_up


@shared_task(acks_late=True, ignore_result=True)
def route_waiting_engagements_task(limit: int = 200) -> int:
    """Beat sweep: routing normally happens on commit in-process; this catches any chat it missed."""
    return route_waiting_engagements(limit=limit)


@shared_task(acks_late=True, ignore_result=True)
def expire_wrap_up_task(wrap_up_id: int) -> bool:
    """Scheduled on commit with a time-boxed wrap-up's deadline as eta: end it if it is still open.
    Early (a redelivered task), it arms itself again for the stored deadline."""
    deadline = WrapUp.objects.filter(pk=wrap_up_id, ended_at__isnull=True).values_list("deadline", flat=True).first()
    if deadline is None:
        return False
    if deadline > timezone.now():
        expire_wrap_up_task.apply_async((wrap_up_id,), eta=deadline)
        return False
    return expire_wrap_up(wrap_up_id=wrap_up_id) is not None


@shared_task(acks_late=True, ignore_result=True)
def expire_due_wrap_ups_task(batch_size: int = 200) -> int:
    """Beat sweep: time-boxed wrap-ups past their deadline whose timer was lost end now."""
    return expire_due_wrap_ups(batch_size=batch_size)


@shared_task(acks_late=True, ignore_result=True)
def overflow_due_engagements_task(limit: int = 200) -> int:
    """Beat sweep: waiting engagements whose overflow time has come (or whose queue has nobody
    available) are offered to the overflow queue too; each once, however often this runs."""
    return overflow_due_engagements(limit=limit)


# A mail server down for a while: retried with backoff for about 45 minutes, then by the beat sweep.
@shared_task(acks_late=True, ignore_result=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=8)
def send_transcript_email_task(transcript_id: int) -> bool:
    return send_transcript_email(transcript_id=transcript_id)


@shared_task(acks_late=True, ignore_result=True)
def send_unsent_transcripts_task() -> int:
    """Beat sweep: hand each request whose own task was lost to a worker again (sending twice is
    prevented by the request's row lock and `sent_at`)."""
    ids = unsent_transcript_ids()
    for transcript_id in ids:
        send_transcript_email_task.delay(transcript_id)
    return len(ids)
