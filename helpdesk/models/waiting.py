"""What waiting visitors are told and where waiting work may also go: the wait estimate per
queue, a queue's overflow, and messages left while a queue was closed."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class QueueOverflow(models.Model):
    """Waiting work of `queue` is also offered to `overflow_queue` after a while or when nobody serves it.

    The engagement stays in its own line; whichever operator of either queue is routed it first
    has it (the engagement row lock decides). `Engagement.overflow_at` is the stored fact.
    """

    queue = models.OneToOneField("helpdesk.Queue", on_delete=models.CASCADE, related_name="overflow")
    overflow_queue = models.ForeignKey("helpdesk.Queue", on_delete=models.CASCADE, related_name="+")
    after_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Also offer it there after waiting this long (empty: no time limit)."
    )
    when_no_operator = models.BooleanField(
        default=True, help_text="Also offer it there at once while no operator of this queue is available."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(overflow_queue=F("queue")), name="overflow_not_to_itself"),
            models.CheckConstraint(
                condition=Q(after_seconds__isnull=True) | Q(after_seconds__gte=1), name="overflow_after_min"
            ),
        ]

    def __str__(self):
        return f"{self.queue} → {self.overflow_queue}"


class QueueWaitEstimate(models.Model):
    """The queue's exponentially weighted moving average of waits, updated on each answer
    (helpdesk/services/wait_estimate.py; defined in docs/metrics.md)."""

    queue = models.OneToOneField("helpdesk.Queue", on_delete=models.CASCADE, related_name="wait_estimate")
    average_wait_seconds = models.FloatField(default=0)
    samples = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(average_wait_seconds__gte=0), name="estimate_not_negative")]

    def __str__(self):
        return f"{self.queue}: {self.average_wait_seconds:.0f} s over {self.samples}"


class OfflineMessage(models.Model):
    """What a visitor left while the queue was closed; its engagement waits until the queue opens."""

    engagement = models.OneToOneField("helpdesk.Engagement", on_delete=models.CASCADE, related_name="offline_message")
    email = models.EmailField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"Offline message {self.engagement_id} from {self.email}"
