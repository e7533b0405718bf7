"""After-contact work (wrap-up) and the codes operators pick: dispositions and transfer reasons.

When an operator's stretch of an engagement ends (it ended, or they transferred it away) and its
queue asks for wrap-up, a `WrapUp` row opens for that stretch and the operator's availability on
the media counts it (`Availability.wrap_ups`): routing gives them no new work there until every
wrap-up of theirs on it has ended (helpdesk/services/wrapup.py). A time-boxed wrap-up stores its
deadline; a timer task and the beat sweep end it then (timers as facts).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from .presence import Media


class WrapUpMode(models.TextChoices):
    NONE = "none", "None: straight back to work"
    OPTIONAL = "optional", "Optional: the operator may skip it"
    MANDATORY = "mandatory", "Mandatory: the operator must click Done"
    TIMED = "timed", "Time-boxed: back to work after N seconds"


class DispositionCode(models.Model):
    """A code of one queue: how an engagement ended (disposition) or why it was transferred."""

    class Kind(models.TextChoices):
        DISPOSITION = "disposition", "Disposition"
        TRANSFER = "transfer", "Transfer reason"

    queue = models.ForeignKey("helpdesk.Queue", on_delete=models.CASCADE, related_name="codes")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.DISPOSITION)
    code = models.SlugField(max_length=40, help_text="Short and stable, for reports and exports (e.g. resolved).")
    name = models.CharField(max_length=80, help_text="What operators see.")
    active = models.BooleanField(
        default=True, help_text="Inactive codes stay on past engagements, but are not offered."
    )
    order = models.PositiveSmallIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        ordering = ["queue", "kind", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "kind", "code"], name="code_unique_per_queue_kind"),
            models.CheckConstraint(condition=Q(kind__in=["disposition", "transfer"]), name="code_kind_valid"),
        ]

    def __str__(self):
        return self.name


class WrapUp(models.Model):
    """An operator's after-contact work on one stretch of an engagement; `ended_at` empty while it lasts."""

    Mode = WrapUpMode

    class End(models.TextChoices):
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        TIMED_OUT = "timed_out", "Time ran out"

    ownership = models.OneToOneField("helpdesk.Ownership", on_delete=models.CASCADE, related_name="wrap_up")
    engagement = models.ForeignKey("helpdesk.Engagement", on_delete=models.CASCADE, related_name="wrap_ups")
    operator = models.ForeignKey("helpdesk.Operator", on_delete=models.PROTECT, related_name="wrap_ups")
    queue = models.ForeignKey("helpdesk.Queue", on_delete=models.PROTECT, related_name="wrap_ups")
    media = models.CharField(max_length=10, choices=Media.choices)
    mode = models.CharField(max_length=10, choices=WrapUpMode.choices)
    started_at = models.DateTimeField()
    # Time-boxed: when it ends by itself; the timer task and the sweep both read it.
    deadline = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_because = models.CharField(max_length=10, choices=End.choices, blank=True)
    disposition = models.ForeignKey(
        DispositionCode, null=True, blank=True, on_delete=models.PROTECT, related_name="wrap_ups"
    )

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["started_at"], name="wrap_up_started_at"),
            models.Index(fields=["deadline"], condition=Q(ended_at__isnull=True), name="wrap_up_open_deadline"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=["optional", "mandatory", "timed"]), name="wrap_up_mode_valid"),
            models.CheckConstraint(
                condition=~Q(mode="timed") | Q(deadline__isnull=False), name="wrap_up_timed_has_deadline"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True, ended_because="")
                | Q(ended_at__gte=F("started_at"), ended_because__in=["done", "skipped", "timed_out"]),
                name="wrap_up_end_is_complete",
            ),
        ]

    def __str__(self):
        return f"Wrap-up of {self.operator} on {self.engagement_id}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None
