"""Every realtime frame of chat transfers, built from rows already read (pure: no reads, no sends).

Frame names and fields match the "Transfer frames" section of docs/realtime.md; events.py
publishes them.
"""

from __future__ import annotations

from datetime import datetime

from helpdesk.frames import iso

from .models import EndReason, Transfer, TransferState


def transfer_payload(transfer: Transfer, *, queue_position: int | None, now: datetime) -> dict:
    """Everything a console needs to draw a transfer: the dialog's states, the prompt, the history row.

    `queue_position`: its place among transfers waiting in the target queue (when it waits there).
    """
    engagement = transfer.engagement
    waiting = transfer.state == TransferState.REQUESTED and transfer.offered_to_id is None
    accepted = transfer.state == TransferState.ACCEPTED and transfer.hand_over_by is not None
    return {
        "id": transfer.pk,
        "engagement_id": transfer.engagement_id,
        "state": transfer.state,
        # The enums' labels, not get_FOO_display(): that rebuilds the choices dict on every call,
        # a tenth of a 300-transfer bulk expiry's time (docs/performance.md).
        "state_label": TransferState(transfer.state).label,
        "target_kind": "queue" if transfer.is_queue_transfer else "operator",
        "target_id": transfer.target_queue_id or transfer.target_operator_id,
        "target_name": transfer.target_name,
        "initiator_id": transfer.initiator_id,
        "initiator_name": transfer.initiator.display_name,
        "offered_to_id": transfer.offered_to_id,
        "offered_to_name": transfer.offered_to.display_name if transfer.offered_to_id else "",
        "accepted_by_id": transfer.accepted_by_id,
        "accepted_by_name": transfer.accepted_by.display_name if transfer.accepted_by_id else "",
        "visitor_name": engagement.visitor.display_name,
        "warm_message": transfer.note.body if transfer.note_id else "",
        "reason_id": transfer.reason_id,
        "reason_name": transfer.reason.name if transfer.reason_id else "",
        "end_reason": transfer.end_reason,
        "end_reason_label": EndReason(transfer.end_reason).label if transfer.end_reason else "",
        "reason_text": transfer.reason_text,
        "accept_timeout_seconds": transfer.accept_timeout_seconds,
        "expires_at": iso(transfer.expires_at) if transfer.state == TransferState.REQUESTED else None,
        "seconds_left": (
            max(0.0, (transfer.expires_at - now).total_seconds())
            if transfer.state == TransferState.REQUESTED and transfer.expires_at
            else None
        ),
        # Accepted: Transfer Now must come by `hand_over_by`, or the transfer is cancelled (not_handed_over).
        "hand_over_by": iso(transfer.hand_over_by) if accepted else None,
        "hand_over_seconds_left": (max(0.0, (transfer.hand_over_by - now).total_seconds()) if accepted else None),
        "hand_over_timeout_seconds": (
            round((transfer.hand_over_by - transfer.answered_at).total_seconds())
            if transfer.hand_over_by and transfer.answered_at
            else None
        ),
        "waiting_in_queue": waiting,
        "queue_position": queue_position if waiting else None,
        "waiting_seconds": int((now - transfer.requested_at).total_seconds()) if waiting else None,
        "requested_at": iso(transfer.requested_at),
        "answered_at": iso(transfer.answered_at),
        "completed_at": iso(transfer.completed_at),
        "ended_at": iso(transfer.ended_at),
    }


def transfer_updated_frame(payload: dict) -> dict:
    return {"type": "transfer.updated", "transfer": payload}


def transfer_offered_frame(payload: dict) -> dict:
    return {"type": "transfer.offered", "transfer": payload}


def offer_ended_frame(transfer: Transfer, *, outcome: str, reason: str = "") -> dict:
    return {
        "type": "transfer.offer_ended",
        "transfer_id": transfer.pk,
        "engagement_id": transfer.engagement_id,
        "outcome": outcome,
        "reason": reason,
        "initiator_name": transfer.initiator.display_name,
        "visitor_name": transfer.engagement.visitor.display_name,
    }


def transfer_history_frame(*, transfer_id: int, engagement_id: int, messages: list[dict]) -> dict:
    """To the operator who accepted: the chat so far, which their console holds until Transfer Now."""
    return {
        "type": "transfer.history",
        "transfer_id": transfer_id,
        "engagement_id": engagement_id,
        "messages": messages,
    }


def visitor_transferring_frame(*, to_name: str | None) -> dict:
    """The visitor's side of a transfer: someone accepted it ("Transferring you to …"), or an accepted
    transfer fell through (`to_name` None: the banner goes). Never more than a name."""
    return {"type": "engagement.transferring", "to_name": to_name}
