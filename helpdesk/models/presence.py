from django.db import models
from django.db.models import F, Q


class Media(models.TextChoices):
    CHAT = "chat", "Chat"
    VOICE = "voice", "Voice"
    VIDEO = "video", "Video"


DEFAULT_CAPACITY = {Media.CHAT: 3, Media.VOICE: 1, Media.VIDEO: 1}


class Availability(models.Model):
    """An operator's availability on one media, with their capacity and current load there.

    `load` counts the engagements they hold on this media; the database refuses a load above
    capacity, so routing can never overfill an operator even if two processes race.
    """

    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        BUSY = "busy", "Busy"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    operator = models.ForeignKey("helpdesk.Operator", on_delete=models.CASCADE, related_name="availabilities")
    media = models.CharField(max_length=10, choices=Media.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OFFLINE)
    changed_at = models.DateTimeField(auto_now_add=True)
    capacity = models.PositiveSmallIntegerField(default=1)
    load = models.PositiveSmallIntegerField(default=0)
    # When the operator last had nothing to do on this media: routing picks the longest idle.
    idle_since = models.DateTimeField(null=True, blank=True)
    # Open wrap-ups on this media (helpdesk/services/wrapup.py): routing skips them while above 0.
    # On this row, under its lock, so routing's SKIP LOCKED pick and a wrap-up beginning serialise.
    wrap_ups = models.PositiveSmallIntegerField(default=0, db_default=0)

    class Meta:
        ordering = ["operator", "media"]
        verbose_name_plural = "availabilities"
        constraints = [
            models.UniqueConstraint(fields=["operator", "media"], name="availability_one_per_media"),
            models.CheckConstraint(condition=Q(media__in=Media.values), name="availability_media_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["available", "busy", "away", "offline"]), name="availability_status_valid"
            ),
            models.CheckConstraint(condition=Q(capacity__gte=0), name="availability_capacity_non_negative"),
            models.CheckConstraint(condition=Q(load__gte=0), name="availability_load_non_negative"),
            models.CheckConstraint(condition=Q(load__lte=F("capacity")), name="availability_load_within_capacity"),
        ]

    def __str__(self):
        return f"{self.operator} {self.media}: {self.status}"

    @property
    def has_room(self) -> bool:
        return self.status == self.Status.AVAILABLE and self.load < self.capacity and not self.wrap_ups

    @property
    def in_wrap_up(self) -> bool:
        return bool(self.wrap_ups)


class AvailabilityLog(models.Model):
    """One stretch of time an operator spent in one status on one media (for reporting)."""

    operator = models.ForeignKey("helpdesk.Operator", on_delete=models.CASCADE, related_name="availability_log")
    media = models.CharField(max_length=10, choices=Media.choices)
    status = models.CharField(max_length=10, choices=Availability.Status.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["started_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["operator", "media"], condition=Q(ended_at__isnull=True), name="availability_log_one_open"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="availability_log_ends_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.operator} {self.media} {self.status} from {self.started_at:%Y-%m-%d %H:%M:%S}"
