from django.conf import settings
from django.db import models
from django.db.models import Q

from .presence import Media
from .wrapup import WrapUpMode


def default_accept_timeout() -> int:
    return settings.TRANSFER_ACCEPT_TIMEOUT_SECONDS


class Queue(models.Model):
    """A skill: engagements wait here until an operator of a serving team takes them."""

    site = models.ForeignKey("helpdesk.Site", on_delete=models.CASCADE, related_name="queues")
    name = models.CharField(max_length=100)
    media = models.CharField(max_length=10, choices=Media.choices, default=Media.CHAT)
    teams = models.ManyToManyField("helpdesk.Team", related_name="queues", help_text="Teams whose operators serve it.")
    is_default = models.BooleanField(default=False, help_text="Where visitors go when they pick no queue.")
    accept_timeout_seconds = models.PositiveSmallIntegerField(
        default=default_accept_timeout, help_text="How long an offered transfer may ring before it expires."
    )
    cold_transfer_allowed = models.BooleanField(
        default=False, help_text="Let operators cold-transfer calls from this queue (discouraged)."
    )
    service_level_seconds = models.PositiveSmallIntegerField(
        default=20, help_text="Answered within this many seconds counts toward the service level."
    )
    service_level_target_percent = models.PositiveSmallIntegerField(default=80)
    # After-contact work (helpdesk/models/wrapup.py) and the codes operators pick.
    wrap_up_mode = models.CharField(
        max_length=10, choices=WrapUpMode.choices, default=WrapUpMode.NONE, db_default=WrapUpMode.NONE
    )
    wrap_up_seconds = models.PositiveSmallIntegerField(
        default=60, db_default=60, help_text="Time-boxed wrap-up: back to work after this many seconds."
    )
    disposition_required = models.BooleanField(
        default=False, db_default=False, help_text="Operators must pick a disposition to finish their wrap-up."
    )
    default_disposition = models.ForeignKey(
        "helpdesk.DispositionCode",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Stored when a time-boxed wrap-up ends without a choice.",
    )
    transfer_reason_required = models.BooleanField(
        default=False, db_default=False, help_text="Operators must give a reason code to transfer a chat."
    )

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="queue_name_unique_per_site"),
            models.UniqueConstraint(
                fields=["site", "media"], condition=Q(is_default=True), name="queue_one_default_per_site_media"
            ),
            models.CheckConstraint(condition=Q(accept_timeout_seconds__gte=5), name="queue_accept_timeout_min"),
            models.CheckConstraint(condition=Q(service_level_target_percent__lte=100), name="queue_sl_percent_max"),
            models.CheckConstraint(condition=Q(media__in=Media.values), name="queue_media_valid"),
            models.CheckConstraint(condition=Q(wrap_up_mode__in=WrapUpMode.values), name="queue_wrap_up_mode_valid"),
            models.CheckConstraint(condition=Q(wrap_up_seconds__gte=1), name="queue_wrap_up_seconds_min"),
        ]

    def __str__(self):
        return f"{self.name} ({self.site})"
