"""Supervision: what supervisors did (the audit trail) and who is watching which engagement."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Act(models.TextChoices):
    MONITOR_START = "monitor_start", "Started monitoring"
    MONITOR_STOP = "monitor_stop", "Stopped monitoring"
    WHISPER = "whisper", "Whispered to the operator"
    BARGE = "barge", "Joined the conversation"
    TAKE_OVER = "take_over", "Took over"
    REASSIGN = "reassign", "Reassigned"
    FORCE_OFFLINE = "force_offline", "Took an operator offline"
    LISTEN = "listen", "Listened to a call"
    COACH = "coach", "Coached on a call"


class SupervisorAct(models.Model):
    """One act of a supervisor: who did what, on which engagement or operator, when. Never edited."""

    Act = Act

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="supervisor_acts")
    site = models.ForeignKey("helpdesk.Site", on_delete=models.PROTECT, related_name="supervisor_acts")
    act = models.CharField(max_length=20, choices=Act.choices)
    engagement = models.ForeignKey(
        "helpdesk.Engagement", null=True, blank=True, on_delete=models.PROTECT, related_name="supervisor_acts"
    )
    operator = models.ForeignKey(
        "helpdesk.Operator",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supervisor_acts_on",
        help_text="The operator the act concerned (whose chat, who was taken offline).",
    )
    detail = models.CharField(max_length=300, blank=True, help_text="What else the act named (a target, a mode).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["site", "created_at"])]
        constraints = [models.CheckConstraint(condition=Q(act__in=Act.values), name="supervisor_act_valid")]
        permissions = [("supervise", "Can supervise their own site (wallboard, monitor, whisper, barge, take over)")]

    def __str__(self):
        return f"{self.actor} {self.get_act_display().lower()} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class WatchMode(models.TextChoices):
    WATCH = "watch", "Watching"
    BARGE = "barge", "In the conversation"
    LISTEN = "listen", "Listening"
    COACH = "coach", "Coaching"


class Watch(models.Model):
    """A supervisor watching one engagement (read-only), or in it (barge), or on its call (listen, coach).

    Open while `ended_at` is empty; one open watch per supervisor and engagement. Several
    supervisors may watch the same engagement at once.
    """

    Mode = WatchMode

    supervisor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watches")
    engagement = models.ForeignKey("helpdesk.Engagement", on_delete=models.CASCADE, related_name="watches")
    mode = models.CharField(max_length=10, choices=WatchMode.choices, default=WatchMode.WATCH)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["supervisor", "engagement"], condition=Q(ended_at__isnull=True), name="watch_one_open"
            ),
            models.CheckConstraint(condition=Q(mode__in=WatchMode.values), name="watch_mode_valid"),
        ]

    def __str__(self):
        return f"{self.supervisor} {self.get_mode_display().lower()} #{self.engagement_id}"
