"""The wait estimate: one number per queue, told to waiting visitors and to operators transferring.

Definition (docs/metrics.md, "Estimated wait"): the queue keeps an exponentially weighted moving
average W of the waits of its answered live engagements (queued → first answer), updated on
every answer: W₁ = the first wait, Wₙ = α·waitₙ + (1 − α)·Wₙ₋₁ with α = `WAIT_ESTIMATE_ALPHA`
(default 0.3: the last answer weighs 30 %, the one before 21 %, …). A visitor who has waited w
is told "about N min" with N = max(1, ⌈(W − w) / 60⌉); someone joining now (the transfer dialog)
N = max(1, ⌈W / 60⌉). There is no estimate (nothing is shown) while the queue has no answered
engagement yet or while no operator serving it is available on its media (then nobody knows).

The reads (`helpdesk.selectors.wait_averages`, `estimated_minutes`) are in selectors.py, because
the frames that carry the estimate are built there.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Case, F, Value, When

from ..models import Engagement, QueueWaitEstimate


def alpha() -> float:
    return float(getattr(settings, "WAIT_ESTIMATE_ALPHA", 0.3))


def next_average(*, previous: float, samples: int, wait_seconds: float, weight: float) -> float:
    """One EWMA step (pure): the first sample is taken as it is."""
    if samples == 0:
        return wait_seconds
    return weight * wait_seconds + (1 - weight) * previous


def record_answer(*, engagement: Engagement, answered_at: datetime) -> None:
    """An engagement was answered for the first time: fold its wait into its queue's average.

    One UPDATE computes the step in the database, so concurrent answers of one queue serialise on
    its row and none is lost; the row is created first if missing (ignoring a racing creator).
    Offline messages are not waits anybody sat through and are left out.
    """
    if engagement.kind != Engagement.Kind.LIVE:
        return
    wait = max((answered_at - engagement.queued_at).total_seconds(), 0.0)
    weight = alpha()
    QueueWaitEstimate.objects.bulk_create([QueueWaitEstimate(queue_id=engagement.queue_id)], ignore_conflicts=True)
    QueueWaitEstimate.objects.filter(queue_id=engagement.queue_id).update(
        average_wait_seconds=Case(
            When(samples=0, then=Value(wait)),
            default=Value(weight) * Value(wait) + Value(1 - weight) * F("average_wait_seconds"),
        ),
        samples=F("samples") + 1,
        updated_at=answered_at,
    )
