"""A visitor's request to have their chat's transcript e-mailed (sent by a Celery task)."""

from django.db import models
from django.utils import timezone


class TranscriptEmail(models.Model):
    engagement = models.ForeignKey("helpdesk.Engagement", on_delete=models.CASCADE, related_name="transcript_emails")
    address = models.EmailField()
    requested_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at"]

    def __str__(self) -> str:
        return f"Transcript of #{self.engagement_id} to {self.address}"
