"""Publishing the frames of chat transfers (built in frames.py): who gets which, sent on commit."""

from __future__ import annotations

from helpdesk.realtime import (
    operator_group,
    publish_many,
    publish_to_engagement,
    publish_to_operator,
    send_after_commit,
)

from . import frames
from .models import Transfer, TransferState
from .selectors import history_for_accepted_target, transfer_view


def transfer_updated(transfer: Transfer) -> None:
    """The initiator's dialog follows every change of their transfer (and the new owner learns of completion)."""
    frame = frames.transfer_updated_frame(transfer_view(transfer))
    publish_to_operator(transfer.initiator_id, frame)
    if transfer.state == TransferState.COMPLETED and transfer.accepted_by_id:
        publish_to_operator(transfer.accepted_by_id, frame)
    visitor_sees_transfer(transfer)


def visitor_sees_transfer(transfer: Transfer) -> None:
    """Accepted: the visitor is told who they are being transferred to; an accepted transfer that
    ends without the hand-over takes that back. (Completion reaches them as the core's
    `engagement.state`, with the new operator's name.)"""
    if transfer.state == TransferState.ACCEPTED:
        name = transfer.accepted_by.display_name
        publish_to_engagement(transfer.engagement_id, frames.visitor_transferring_frame(to_name=name))
    elif transfer.accepted_by_id and transfer.state != TransferState.COMPLETED:
        publish_to_engagement(transfer.engagement_id, frames.visitor_transferring_frame(to_name=None))


def transfer_offered(transfer: Transfer) -> None:
    """The incoming-transfer prompt on the offered operator's console."""
    publish_to_operator(transfer.offered_to_id, frames.transfer_offered_frame(transfer_view(transfer)))


def offer_ended(transfer: Transfer, *, operator_id: int, outcome: str, reason: str = "") -> None:
    """The prompt closes on the operator's console: they answered, or it expired, moved on or was withdrawn."""
    publish_to_operator(operator_id, frames.offer_ended_frame(transfer, outcome=outcome, reason=reason))


def history_to_accepted_target(transfer: Transfer) -> None:
    """The operator who accepted gets the chat so far, read after the commit. Their console holds it
    and, at Transfer Now, shows the chat the moment `engagement.assigned` comes, without waiting
    for the `engagement.detail` read after the hand-over (that one still fills in what came since)."""
    transfer_id, operator_id = transfer.pk, transfer.accepted_by_id
    send_after_commit(
        operator_group(operator_id),
        lambda: history_for_accepted_target(transfer_id=transfer_id, operator_id=operator_id),
    )


def transfers_expired(transfers: list[Transfer]) -> None:
    """Many offers expired together (the bulk expiry): the same frames as one by one, sent as one batch."""
    pairs: list[tuple[str, dict]] = []
    for transfer in transfers:
        if transfer.offered_to_id:
            pairs.append(
                (
                    operator_group(transfer.offered_to_id),
                    frames.offer_ended_frame(transfer, outcome="expired", reason=transfer.end_reason),
                )
            )
        pairs.append((operator_group(transfer.initiator_id), frames.transfer_updated_frame(transfer_view(transfer))))
    publish_many(pairs)
