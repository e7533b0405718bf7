"""Calls and their legs.

A call is an `helpdesk.Engagement` on the voice media; `Call` adds what only calls have (mode,
initiator of a consult, the provider's ids) and each party's connection is a `Leg`. The
engagement's owner is the call's owner: one at a time, kept by the core's constraints and,
here, by "at most one open operator leg per call".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Call(models.Model):
    class Mode(models.TextChoices):
        NORMAL = "normal", "Normal"
        CONSULT = "consult", "Consulting"
        CONFERENCE = "conference", "Conference"
        # The owner passed the call to an outside number that answered: the helpdesk's part (the
        # engagement) has ended, but the customer and the number still talk on the provider's
        # call until one of them hangs up. Only the customer and phone legs are open.
        OUTSIDE = "outside", "With an outside number"

    engagement = models.OneToOneField("helpdesk.Engagement", on_delete=models.CASCADE, related_name="call")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.NORMAL)
    initiator = models.ForeignKey(
        "helpdesk.Operator",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="initiated_calls",
        help_text="The owner who started the current consult or conference, or handed the call to an outside number.",
    )
    provider = models.CharField(max_length=30, default="builtin")
    provider_call_id = models.CharField(max_length=64, blank=True, help_text="The provider's id (conference/call).")
    provider_ended_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider said the call ended (reconciled by the clean-up)."
    )
    # Bumped by every change; clients keep the snapshot with the highest version they saw.
    version = models.PositiveIntegerField(default=0)
    # Counted by call control as the acts happen (the mode keeps only the present), for reporting.
    # PositiveIntegerField gives each a CHECK (>= 0) in the database; db_default lets code that
    # predates these columns (a rolling deploy) still insert calls.
    conferences = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Conferences started on this call (Consulting → Conference)."
    )
    cold_transfers = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Cold transfers made from a consult on this call."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(mode__in=["normal", "consult", "conference", "outside"]), name="call_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(mode="normal") | Q(initiator__isnull=False), name="call_consult_has_initiator"
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_call_id"],
                condition=~Q(provider_call_id=""),
                name="call_provider_id_unique",
            ),
        ]

    def __str__(self):
        return f"Call {self.pk} ({self.get_mode_display()})"


class Leg(models.Model):
    """One party's connection to a call, with the time it reached each state."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        OPERATOR = "operator", "Operator (owner)"
        CONSULT = "consult", "Consult target"
        PHONE = "phone", "Phone number"
        # A supervisor on the call (issue 13.4): heard by nobody, the owner only, or everyone, as
        # `role` says (`HEARD_BY`). Take over turns it into the owner's (`operator`) leg.
        SUPERVISOR = "supervisor", "Supervisor"

    class Role(models.TextChoices):
        LISTEN = "listen", "Listening"
        COACH = "coach", "Coaching"
        BARGE = "barge", "In the call"

    class State(models.TextChoices):
        INITIATED = "initiated", "Initiated"
        RINGING = "ringing", "Ringing"
        CONNECTED = "connected", "Connected"
        HELD = "held", "On hold"
        ENDED = "ended", "Ended"

    class EndReason(models.TextChoices):
        HUNG_UP = "hung_up", "Hung up"
        NO_ANSWER = "no_answer", "No answer"
        DECLINED = "declined", "Declined"
        BUSY = "busy", "Busy"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        TRANSFERRED = "transferred", "Transferred"
        TAKEN_OVER = "taken_over", "Taken over by a supervisor"

    OPEN_STATES = (State.INITIATED, State.RINGING, State.CONNECTED, State.HELD)
    # Who hears a supervisor's leg, by its role (the supervisor hears everyone on the call): a
    # listener is muted, a coach is heard by the owner alone, a supervisor who barged in by all.
    # The built-in provider's model of the audio; Twilio does the same with muted / coaching.
    HEARD_BY = {
        Role.LISTEN: frozenset(),
        Role.COACH: frozenset({Kind.OPERATOR}),
        Role.BARGE: frozenset({Kind.CUSTOMER, Kind.OPERATOR, Kind.CONSULT, Kind.PHONE}),
    }
    # The moves a leg may make; services check this table before writing.
    TRANSITIONS = {
        State.INITIATED: {State.RINGING, State.CONNECTED, State.ENDED},
        State.RINGING: {State.CONNECTED, State.HELD, State.ENDED},
        State.CONNECTED: {State.HELD, State.ENDED},
        State.HELD: {State.CONNECTED, State.RINGING, State.ENDED},
        State.ENDED: set(),
    }

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="legs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    operator = models.ForeignKey(
        "helpdesk.Operator", null=True, blank=True, on_delete=models.PROTECT, related_name="call_legs"
    )
    queue = models.ForeignKey(
        "helpdesk.Queue",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consult_legs",
        help_text="The skill a consult was placed to, if it was.",
    )
    phone_number = models.CharField(max_length=20, blank=True, help_text="E.164")
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="supervised_call_legs",
        help_text="The supervisor of a supervisor leg (kept when a take over made it the owner's).",
    )
    role = models.CharField(
        max_length=10, choices=Role.choices, blank=True, help_text="What a supervisor leg hears and is heard by."
    )
    # Why the owner consults (a transfer reason of the call's queue, issue 14.2); shown to the target.
    reason = models.ForeignKey(
        "helpdesk.DispositionCode", null=True, blank=True, on_delete=models.PROTECT, related_name="consult_legs"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.INITIATED)
    end_reason = models.CharField(max_length=12, choices=EndReason.choices, blank=True)
    provider_leg_id = models.CharField(max_length=64, blank=True)
    initiated_at = models.DateTimeField(auto_now_add=True)
    ringing_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    held_at = models.DateTimeField(null=True, blank=True, help_text="When the current (or last) hold began.")
    ended_at = models.DateTimeField(null=True, blank=True)
    ring_deadline = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["call", "initiated_at", "pk"]
        indexes = [
            models.Index(fields=["state", "ring_deadline"]),
            models.Index(fields=["provider_leg_id"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["customer", "operator", "consult", "phone", "supervisor"]), name="leg_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["initiated", "ringing", "connected", "held", "ended"]), name="leg_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state="ended", ended_at__isnull=False) & ~Q(end_reason="")
                | ~Q(state="ended") & Q(end_reason=""),
                name="leg_ended_has_time_and_reason",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["operator", "consult"]) | Q(operator__isnull=False),
                name="leg_operator_kinds_have_operator",
            ),
            models.CheckConstraint(condition=~Q(kind="phone") | ~Q(phone_number=""), name="leg_phone_kind_has_number"),
            models.CheckConstraint(
                condition=Q(kind="supervisor", supervisor__isnull=False, role__in=["listen", "coach", "barge"])
                | ~Q(kind="supervisor") & Q(role=""),
                name="leg_supervisor_kind_has_supervisor_and_role",
            ),
            models.UniqueConstraint(
                fields=["call", "supervisor"],
                condition=Q(kind="supervisor") & ~Q(state="ended"),
                name="leg_one_open_supervisor_leg_per_supervisor",
            ),
            models.UniqueConstraint(fields=["call"], condition=Q(kind="customer"), name="leg_one_customer_per_call"),
            models.UniqueConstraint(
                fields=["call"], condition=Q(kind="operator") & ~Q(state="ended"), name="leg_one_open_owner_per_call"
            ),
            models.UniqueConstraint(
                fields=["call"],
                condition=Q(kind__in=["consult", "phone"]) & ~Q(state="ended"),
                name="leg_one_open_consult_per_call",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} leg {self.pk} of call {self.call_id}: {self.state}"

    @property
    def is_open(self) -> bool:
        return self.state != self.State.ENDED

    @property
    def party_name(self) -> str:
        if self.kind == self.Kind.CUSTOMER:
            return self.call.engagement.visitor.display_name
        if self.kind == self.Kind.PHONE:
            return self.phone_number
        if self.kind == self.Kind.SUPERVISOR:
            # As helpdesk.frames.name_of_user names a supervisor (their operator name, if any).
            operator = getattr(self.supervisor, "operator", None)
            if operator is not None:
                return operator.display_name
            return self.supervisor.get_full_name().strip() or self.supervisor.get_username()
        return self.operator.display_name if self.operator_id else ""


class ProviderEvent(models.Model):
    """A webhook event a provider sent, kept so that a repeated one is recognised and ignored."""

    provider = models.CharField(max_length=30)
    resource_id = models.CharField(max_length=64, help_text="The provider's call or conference id the event is about.")
    sequence = models.BigIntegerField()
    kind = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    applied = models.BooleanField(default=False)

    class Meta:
        ordering = ["resource_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "resource_id", "sequence"], name="provider_event_once"),
        ]

    def __str__(self):
        return f"{self.provider} {self.resource_id}#{self.sequence} {self.kind}"
