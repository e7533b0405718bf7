"""Every realtime frame of chat transfers: one builder per frame type, published on commit.

Frame names and fields match the "Transfer frames" section of docs/realtime.md.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from helpdesk.realtime import operator_group, publish_to_operator

from .models import Transfer, TransferState

logger = logging.getLogger(__name__)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def transfer_payload(transfer: Transfer) -> dict:
    """Everything a console needs to draw a transfer: the dialog's states, the prompt, the history row."""
    from .selectors import transfer_queue_position

    now = timezone.now()
    engagement = transfer.engagement
    waiting = transfer.state == TransferState.REQUESTED and transfer.offered_to_id is None
    accepted = transfer.state == TransferState.ACCEPTED and transfer.hand_over_by is not None
    return {
        "id": transfer.pk,
        "engagement_id": transfer.engagement_id,
        "state": transfer.state,
        "state_label": transfer.get_state_display(),
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
        "end_reason": transfer.end_reason,
        "end_reason_label": transfer.get_end_reason_display() if transfer.end_reason else "",
        "reason_text": transfer.reason_text,
        "accept_timeout_seconds": transfer.accept_timeout_seconds,
        "expires_at": _iso(transfer.expires_at) if transfer.state == TransferState.REQUESTED else None,
        "seconds_left": (
            max(0.0, (transfer.expires_at - now).total_seconds())
            if transfer.state == TransferState.REQUESTED and transfer.expires_at
            else None
        ),
        # Accepted: Transfer Now must come by `hand_over_by`, or the transfer is cancelled (not_handed_over).
        "hand_over_by": _iso(transfer.hand_over_by) if accepted else None,
        "hand_over_seconds_left": (max(0.0, (transfer.hand_over_by - now).total_seconds()) if accepted else None),
        "hand_over_timeout_seconds": (
            round((transfer.hand_over_by - transfer.answered_at).total_seconds())
            if transfer.hand_over_by and transfer.answered_at
            else None
        ),
        "waiting_in_queue": waiting,
        "queue_position": transfer_queue_position(transfer=transfer) if waiting else None,
        "waiting_seconds": int((now - transfer.requested_at).total_seconds()) if waiting else None,
        "requested_at": _iso(transfer.requested_at),
        "answered_at": _iso(transfer.answered_at),
        "completed_at": _iso(transfer.completed_at),
        "ended_at": _iso(transfer.ended_at),
    }


def transfer_updated(transfer: Transfer) -> None:
    """The initiator's dialog follows every change of their transfer (and the new owner learns of completion)."""
    frame = {"type": "transfer.updated", "transfer": transfer_payload(transfer)}
    publish_to_operator(transfer.initiator_id, frame)
    if transfer.state == TransferState.COMPLETED and transfer.accepted_by_id:
        publish_to_operator(transfer.accepted_by_id, frame)


def transfer_offered(transfer: Transfer) -> None:
    """The incoming-transfer prompt on the offered operator's console."""
    publish_to_operator(transfer.offered_to_id, {"type": "transfer.offered", "transfer": transfer_payload(transfer)})


def offer_ended(transfer: Transfer, *, operator_id: int, outcome: str, reason: str = "") -> None:
    """The prompt closes on the operator's console: they answered, or it expired, moved on or was withdrawn."""
    publish_to_operator(
        operator_id,
        {
            "type": "transfer.offer_ended",
            "transfer_id": transfer.pk,
            "engagement_id": transfer.engagement_id,
            "outcome": outcome,
            "reason": reason,
            "initiator_name": transfer.initiator.display_name,
            "visitor_name": transfer.engagement.visitor.display_name,
        },
    )


def publish_batch(frames: list[tuple[int, dict]]) -> None:
    """Send many (operator id, frame) pairs on commit in one round trip to the channel layer.

    Same delivery as `publish_to_operator` (a `frame.send` to the operator's group), for acts
    that touch many transfers at once (the bulk expiry): one event loop, sends in parallel.
    """

    async def send_all():
        layer = get_channel_layer()
        await asyncio.gather(
            *(
                layer.group_send(operator_group(operator_id), {"type": "frame.send", "frame": frame})
                for operator_id, frame in frames
            )
        )

    def send():
        try:
            async_to_sync(send_all)()
        except Exception:  # a dead Redis must not undo a committed change; consoles resync on hello
            logger.exception("Could not publish %s transfer frames", len(frames))

    if frames:
        transaction.on_commit(send, robust=True)


def transfers_expired(transfers: list[Transfer]) -> None:
    """Many offers expired together (the bulk expiry): the same frames as one by one, sent as one batch."""
    frames: list[tuple[int, dict]] = []
    for transfer in transfers:
        if transfer.offered_to_id:
            frames.append(
                (
                    transfer.offered_to_id,
                    {
                        "type": "transfer.offer_ended",
                        "transfer_id": transfer.pk,
                        "engagement_id": transfer.engagement_id,
                        "outcome": "expired",
                        "reason": transfer.end_reason,
                        "initiator_name": transfer.initiator.display_name,
                        "visitor_name": transfer.engagement.visitor.display_name,
                    },
                )
            )
        frames.append((transfer.initiator_id, {"type": "transfer.updated", "transfer": transfer_payload(transfer)}))
    publish_batch(frames)
