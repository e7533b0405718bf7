"""Business hours of a queue: its time zone, opening slots per weekday, and holidays.

A queue without slots is open around the clock (what every queue was before hours existed); a
holiday closes it for the whole local day. Slots are local wall-clock times in the queue's time
zone, so a 09:00 opening stays 09:00 across daylight-saving changes (helpdesk/services/hours.py).
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q


def default_time_zone() -> str:
    return settings.TIME_ZONE


def validate_time_zone(name: str) -> None:
    if name not in zoneinfo.available_timezones():
        raise ValidationError("“%(name)s” is not a time zone name (e.g. Europe/London).", params={"name": name})


class QueueHours(models.Model):
    """How a queue keeps time, and what happens to a contact that arrives while it is closed."""

    class ClosedAction(models.TextChoices):
        MESSAGE = "message", "Say it is closed (chat: offer an offline message)"
        QUEUE = "queue", "Send it to another queue"

    queue = models.OneToOneField("helpdesk.Queue", on_delete=models.CASCADE, related_name="hours")
    time_zone = models.CharField(
        max_length=64, default=default_time_zone, validators=[validate_time_zone], help_text="e.g. Europe/London"
    )
    closed_action = models.CharField(max_length=10, choices=ClosedAction.choices, default=ClosedAction.MESSAGE)
    closed_queue = models.ForeignKey(
        "helpdesk.Queue",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Where contacts go while this queue is closed (with “Send it to another queue”).",
    )
    closed_message = models.CharField(
        max_length=300, blank=True, help_text="Said to callers (and shown to visitors) while the queue is closed."
    )

    class Meta:
        verbose_name = "business hours"
        verbose_name_plural = "business hours"
        constraints = [
            models.CheckConstraint(condition=Q(closed_action__in=["message", "queue"]), name="hours_action_valid"),
            models.CheckConstraint(
                condition=~Q(closed_action="queue") | Q(closed_queue__isnull=False), name="hours_queue_action_has_queue"
            ),
            models.CheckConstraint(condition=~Q(closed_queue=F("queue")), name="hours_closed_queue_not_itself"),
        ]

    def __str__(self):
        return f"Hours of {self.queue}"


class OpeningSlot(models.Model):
    """One stretch of a weekday when the queue is open: [opens_at, closes_at) in local time."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    queue = models.ForeignKey("helpdesk.Queue", on_delete=models.CASCADE, related_name="opening_slots")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens_at = models.TimeField()
    closes_at = models.TimeField()

    class Meta:
        ordering = ["queue", "weekday", "opens_at"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="slot_weekday_valid"),
            models.CheckConstraint(condition=Q(closes_at__gt=F("opens_at")), name="slot_ends_after_start"),
        ]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.opens_at:%H:%M}–{self.closes_at:%H:%M}"


class Holiday(models.Model):
    """A local date on which the queue stays closed all day."""

    queue = models.ForeignKey("helpdesk.Queue", on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["queue", "date"]
        constraints = [models.UniqueConstraint(fields=["queue", "date"], name="holiday_once_per_queue_date")]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.name}".strip()
