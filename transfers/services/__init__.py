"""Acts of a chat transfer, one function each; the state machine is `models.TRANSITIONS`.

Race-safety: every act locks the transfer row (after the engagement row when it needs both,
see lock_objects) and re-checks state under the lock, then writes. The database backs the
rules: one open transfer per engagement, one pending offer per transfer, one owner per
engagement, capacity never exceeded. Frames and the expiry task go out on commit.

- acts.py: what operators do (request, accept, decline, cancel, Transfer Now);
- timers.py: deadlines and the beat sweep;
- reactions.py: what follows from the core's signals (a target unavailable or full, a chat ended);
- steps.py: the steps those share, called with the transfer's row lock held.
"""

from .acts import (
    DECLINE_REASON_MAX_LENGTH,
    WARM_MESSAGE_MAX_LENGTH,
    accept_transfer,
    cancel_transfer,
    decline_transfer,
    request_transfer,
    transfer_now,
)
from .reactions import (
    cancel_offers_to_unavailable_operator,
    cancel_transfers_of_ended_engagement,
    withdraw_offer_at_capacity,
    withdraw_offers_from_operator_at_capacity,
)
from .steps import hand_over_timeout
from .timers import (
    expire_due_operator_transfers,
    expire_hand_over,
    expire_overdue_transfers,
    expire_transfer,
    offer_waiting_queue_transfer,
)

__all__ = [
    "DECLINE_REASON_MAX_LENGTH",
    "WARM_MESSAGE_MAX_LENGTH",
    "accept_transfer",
    "cancel_offers_to_unavailable_operator",
    "cancel_transfer",
    "cancel_transfers_of_ended_engagement",
    "decline_transfer",
    "expire_due_operator_transfers",
    "expire_hand_over",
    "expire_overdue_transfers",
    "expire_transfer",
    "hand_over_timeout",
    "offer_waiting_queue_transfer",
    "request_transfer",
    "transfer_now",
    "withdraw_offer_at_capacity",
    "withdraw_offers_from_operator_at_capacity",
]
