"""Canned responses: replies a manager writes once, inserted by operators with "/" in the console."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class CannedResponse(models.Model):
    site = models.ForeignKey("helpdesk.Site", on_delete=models.CASCADE, related_name="canned_responses")
    queue = models.ForeignKey(
        "helpdesk.Queue",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="canned_responses",
        help_text="Only in this queue's chats; empty: in every chat of the site.",
    )
    shortcut = models.SlugField(max_length=40, help_text='Typed after "/" in the reply box, e.g. "greeting".')
    title = models.CharField(max_length=80)
    body = models.TextField(
        max_length=settings.MESSAGE_MAX_LENGTH,
        help_text="{visitor} and {operator} are replaced by the visitor's and the operator's names.",
    )
    active = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=0, help_text="Lower comes first in the list.")

    class Meta:
        ordering = ["order", "shortcut"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "queue", "shortcut"], condition=Q(queue__isnull=False), name="canned_shortcut_per_queue"
            ),
            models.UniqueConstraint(
                fields=["site", "shortcut"], condition=Q(queue__isnull=True), name="canned_shortcut_per_site"
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"

    def clean(self):
        if self.queue_id and self.site_id and self.queue.site_id != self.site_id:
            raise ValidationError({"queue": "Pick a queue of the same site."})
