"""A chat transfer and each offer it made; the state machine's table lives beside the states.

requested --accept--> accepted --transfer now--> completed
    |--decline(reason)--> declined
    |--no answer in the accept timeout--> expired
    |--initiator cancels / engagement ends / target goes offline--> cancelled
accepted --no Transfer Now within the hand-over timeout / initiator cancels / ...--> cancelled

A queue transfer stays `requested` while its offers move from operator to operator; each
offer (and its outcome) is a `TransferOffer` row, so reporting sees every attempt.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class TransferState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    ACCEPTED = "accepted", "Accepted"
    COMPLETED = "completed", "Completed"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Not answered"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATES = (TransferState.REQUESTED, TransferState.ACCEPTED)

# Which state may follow which; services check it before their compare-and-set write.
TRANSITIONS: dict[str, frozenset[str]] = {
    TransferState.REQUESTED: frozenset(
        {TransferState.ACCEPTED, TransferState.DECLINED, TransferState.EXPIRED, TransferState.CANCELLED}
    ),
    TransferState.ACCEPTED: frozenset({TransferState.COMPLETED, TransferState.CANCELLED}),
    TransferState.COMPLETED: frozenset(),
    TransferState.DECLINED: frozenset(),
    TransferState.EXPIRED: frozenset(),
    TransferState.CANCELLED: frozenset(),
}


def can_move(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())


class EndReason(models.TextChoices):
    """Why a transfer (or one offer of it) did not go ahead; the initiator's popup shows the label."""

    DECLINED = "declined", "Declined"
    # A queue transfer every operator serving the queue declined (ADR 0001, "a queue nobody takes").
    ALL_DECLINED = "all_declined", "Everyone in the queue declined"
    NOT_ANSWERED = "not_answered", "Not answered in time"
    OFFLINE = "offline", "Operator went offline"
    LOGGED_OUT = "logged_out", "Operator logged out"
    AWAY = "away", "Operator went away"
    BUSY = "busy", "Operator became busy"
    AT_CAPACITY = "at_capacity", "Operator reached capacity"
    CANCELLED_BY_INITIATOR = "initiator_cancelled", "Cancelled by the initiator"
    ENGAGEMENT_ENDED = "engagement_ended", "The conversation ended"
    VISITOR_LEFT = "visitor_left", "The visitor left"
    NOT_HANDED_OVER = "not_handed_over", "Transfer Now was not clicked in time"


class Transfer(models.Model):
    """One attempt to move an engagement to an operator or a queue."""

    State = TransferState

    engagement = models.ForeignKey("helpdesk.Engagement", on_delete=models.CASCADE, related_name="transfers")
    initiator = models.ForeignKey("helpdesk.Operator", on_delete=models.PROTECT, related_name="transfers_started")
    target_operator = models.ForeignKey(
        "helpdesk.Operator", null=True, blank=True, on_delete=models.PROTECT, related_name="transfers_targeted"
    )
    target_queue = models.ForeignKey(
        "helpdesk.Queue", null=True, blank=True, on_delete=models.PROTECT, related_name="transfers_targeted"
    )
    # Who is asked right now (the target operator, or the queue's current pick); empty while it waits.
    offered_to = models.ForeignKey(
        "helpdesk.Operator", null=True, blank=True, on_delete=models.PROTECT, related_name="transfers_offered"
    )
    accepted_by = models.ForeignKey(
        "helpdesk.Operator", null=True, blank=True, on_delete=models.PROTECT, related_name="transfers_accepted"
    )
    note = models.ForeignKey(
        "helpdesk.Note", null=True, blank=True, on_delete=models.SET_NULL, help_text="The warm message."
    )
    state = models.CharField(max_length=10, choices=TransferState.choices, default=TransferState.REQUESTED)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    reason_text = models.CharField(max_length=200, blank=True, help_text="The target's own words when declining.")
    # Why the initiator transfers it: a transfer reason code of the engagement's queue (issue 14.2).
    reason = models.ForeignKey(
        "helpdesk.DispositionCode", null=True, blank=True, on_delete=models.PROTECT, related_name="transfers"
    )
    accept_timeout_seconds = models.PositiveSmallIntegerField()
    requested_at = models.DateTimeField()
    # The deadline of the current offer; the expiry task and the beat sweep both read it.
    expires_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Once accepted, Transfer Now must come by then or the transfer is cancelled (not_handed_over).
    hand_over_by = models.DateTimeField(
        null=True, blank=True, help_text="Accepted: the deadline for Transfer Now; cancelled after it."
    )
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it reached a final state.")
    expired_by = models.CharField(max_length=10, blank=True, help_text="timer or sweep, for operations.")

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            models.Index(fields=["state", "expires_at"], name="transfer_state_expires"),
            models.Index(fields=["requested_at"], name="transfer_requested_at"),
            # The sweep's look-up of accepted transfers past their hand-over deadline.
            models.Index(fields=["hand_over_by"], condition=Q(state="accepted"), name="transfer_accepted_hand_over"),
            # An initiator's recently completed transfers (the console's "Transferred recently").
            models.Index(
                fields=["initiator", "-completed_at"],
                condition=Q(state="completed"),
                name="transfer_initiator_completed",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["engagement"],
                condition=Q(state__in=["requested", "accepted"]),
                name="transfer_one_open_per_engagement",
            ),
            models.CheckConstraint(condition=Q(state__in=TransferState.values), name="transfer_state_valid"),
            models.CheckConstraint(
                condition=Q(target_operator__isnull=False, target_queue__isnull=True)
                | Q(target_operator__isnull=True, target_queue__isnull=False),
                name="transfer_one_target",
            ),
            models.CheckConstraint(
                condition=~Q(state="requested") | Q(offered_to__isnull=True) | Q(expires_at__isnull=False),
                name="transfer_offer_has_deadline",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["accepted", "completed"]) | Q(accepted_by__isnull=False),
                name="transfer_accepted_has_operator",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["requested", "accepted"]) | Q(ended_at__isnull=False),
                name="transfer_final_has_end_time",
            ),
            models.CheckConstraint(condition=Q(accept_timeout_seconds__gte=1), name="transfer_timeout_positive"),
            models.CheckConstraint(
                condition=~Q(state="accepted") | Q(hand_over_by__isnull=False), name="transfer_accepted_has_deadline"
            ),
        ]

    def __str__(self):
        return f"Transfer {self.pk} of engagement {self.engagement_id} to {self.target_name}: {self.state}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_queue_transfer(self) -> bool:
        return self.target_queue_id is not None

    @property
    def target_name(self) -> str:
        if self.target_queue_id:
            return self.target_queue.name
        return self.target_operator.display_name if self.target_operator_id else ""


class OfferOutcome(models.TextChoices):
    PENDING = "pending", "Waiting for an answer"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Not answered"
    WITHDRAWN = "withdrawn", "Withdrawn"


class TransferOffer(models.Model):
    """One operator asked to take a transfer, and how that ended."""

    Outcome = OfferOutcome

    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="offers")
    operator = models.ForeignKey("helpdesk.Operator", on_delete=models.PROTECT, related_name="transfer_offers")
    outcome = models.CharField(max_length=10, choices=OfferOutcome.choices, default=OfferOutcome.PENDING)
    reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    reason_text = models.CharField(max_length=200, blank=True)
    offered_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["transfer", "offered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["transfer"], condition=Q(outcome="pending"), name="transfer_offer_one_pending"
            ),
            models.CheckConstraint(condition=Q(outcome__in=OfferOutcome.values), name="transfer_offer_outcome_valid"),
            models.CheckConstraint(
                condition=Q(outcome="pending") | Q(answered_at__isnull=False), name="transfer_offer_answered_has_time"
            ),
        ]

    def __str__(self):
        return f"Offer of transfer {self.transfer_id} to {self.operator}: {self.outcome}"
