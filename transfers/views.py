"""HTTP acts of the transfer dialog: parse, authorise, call one service, answer JSON.

Results also arrive as frames over the operator socket (see docs/realtime.md, "Transfer frames");
the JSON answer lets the acting console update at once.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.http import require_GET, require_POST

from helpdesk.frames import message_frame
from helpdesk.http import json_body, operator_json_view, optional_id
from helpdesk.models import DispositionCode, Engagement
from helpdesk.selectors import codes_of

from . import selectors, services
from .errors import TransferError, TransferErrorCode
from .models import Transfer


def owned_engagement(engagement_id: int, operator) -> Engagement:
    engagement = Engagement.objects.select_related("queue").filter(pk=engagement_id).first()
    if engagement is None or engagement.owner_id != operator.pk:
        raise TransferError(TransferErrorCode.NOT_OWNER)
    return engagement


def answer(transfer, *, as_written: bool = False) -> JsonResponse:
    """The transfer as the act committed it, read afresh: the service's instance may predate its updates.

    `as_written`: the act returns the instance it locked with its relations and then wrote (Transfer
    Now: `move` sets every field it updates), so it is drawn as it is; a read would cost two
    statements in the request thread while the loop delivers the new owner's frames (issue 16).
    """
    current = transfer if as_written else selectors.drawn_transfer(transfer.pk)
    return JsonResponse({"transfer": selectors.transfer_view(current)})


@require_GET
@operator_json_view
def targets(request, operator, engagement_id: int):
    """The dialog's lists: operators (with availability per media), queues (waiting, wait), sites."""
    engagement = owned_engagement(engagement_id, operator)
    site_id = optional_id(request.GET.get("site"))
    search = request.GET.get("q", "")
    operators = selectors.available_operators_for_transfer(
        engagement=engagement, initiator=operator, site_id=site_id, search=search
    )
    queues = selectors.queues_for_transfer(engagement=engagement, site_id=site_id)
    return JsonResponse(
        {
            "sites": [{"id": site.pk, "name": site.name} for site in selectors.sites_for_transfer()],
            "own_site_id": operator.site_id,
            "media": engagement.media,
            "operators": [option.as_dict() for option in operators],
            "queues": [option.as_dict() for option in queues],
            # The engagement's queue's transfer reasons (helpdesk/models/wrapup.py), and whether one is required.
            "reasons": [
                {"id": code.pk, "name": code.name}
                for code in codes_of(queue_id=engagement.queue_id, kind=DispositionCode.Kind.TRANSFER)
            ],
            "reason_required": engagement.queue.transfer_reason_required,
        }
    )


@require_GET
@operator_json_view
def engagement_transfers(request, operator, engagement_id: int):
    """The engagement's open transfer and its whole transfer history, with every offer."""
    if not selectors.may_see_transfers_of(operator=operator, engagement_id=engagement_id):
        raise TransferError(TransferErrorCode.NOT_OWNER)
    history = selectors.transfer_history(engagement_id=engagement_id)
    rows = []
    for transfer in history:
        row = selectors.transfer_view(transfer)
        row["offers"] = [
            {
                "operator_name": offer.operator.display_name,
                "outcome": offer.outcome,
                "outcome_label": offer.get_outcome_display(),
                "reason": offer.reason,
                "reason_text": offer.reason_text,
                "offered_at": offer.offered_at.isoformat(),
                "answered_at": offer.answered_at.isoformat() if offer.answered_at else None,
            }
            for offer in transfer.offers.all()
        ]
        rows.append(row)
    open_row = next((row for row in rows if row["state"] in ("requested", "accepted")), None)
    return JsonResponse({"open": open_row, "history": rows})


@require_GET
@operator_json_view
def mine(request, operator):
    """What a console shows after a reload: offers waiting for my answer, transfers I started that are open."""
    return JsonResponse(
        {
            "offers": [selectors.transfer_view(t) for t in selectors.pending_offers_for(operator=operator)],
            "outgoing": [selectors.transfer_view(t) for t in selectors.outgoing_transfers_of(operator=operator)],
        }
    )


def recent_row(transfer: Transfer) -> dict:
    """One row of the console's "Transferred recently" list."""
    return {
        "id": transfer.pk,
        "engagement_id": transfer.engagement_id,
        "visitor_name": transfer.engagement.visitor.display_name,
        "queue_name": transfer.engagement.queue.name,
        "accepted_by_name": transfer.accepted_by.display_name,
        "completed_at": transfer.completed_at.isoformat(),
    }


@require_GET
@operator_json_view
def recent(request, operator):
    """The chats I handed over lately (TRANSFER_RECENT_HOURS, at most TRANSFER_RECENT_LIMIT), newest first.

    A console shows them after a reload so the initiator can open their read-only copy again.
    """
    return JsonResponse({"recent": [recent_row(t) for t in selectors.recently_transferred_by(operator=operator)]})


@require_GET
@operator_json_view
def transcript(request, operator, transfer_id: int):
    """The initiator's read-only copy after Transfer Now: the chat up to the hand-over.

    Only the initiator, only once completed, only within the recent window.
    """
    transfer = Transfer.objects.filter(pk=transfer_id).only("pk", "initiator_id", "state").first()
    if transfer is None or transfer.initiator_id != operator.pk:
        raise TransferError(TransferErrorCode.NOT_INITIATOR)
    if transfer.state != Transfer.State.COMPLETED:
        raise TransferError(TransferErrorCode.NOT_ACCEPTED, "The transfer has not been completed.")
    transfer = selectors.recent_transfer_of(operator=operator, transfer_id=transfer_id)
    if transfer is None:
        raise TransferError(TransferErrorCode.NO_LONGER_OPEN, "The copy of this transferred chat is no longer kept.")
    return JsonResponse(
        {
            **recent_row(transfer),
            "messages": [
                message_frame(message) for message in selectors.transcript_before_hand_over(transfer=transfer)
            ],
        }
    )


@require_POST
@operator_json_view
def request_transfer(request, operator, engagement_id: int):
    body = json_body(request)
    warm_message = body.get("warm_message", "")
    if not isinstance(warm_message, str):
        raise TransferError(TransferErrorCode.INVALID, "The warm message must be text.")
    transfer = services.request_transfer(
        engagement_id=engagement_id,
        initiator=operator,
        target_operator_id=optional_id(body.get("target_operator_id")),
        target_queue_id=optional_id(body.get("target_queue_id")),
        warm_message=warm_message,
        reason_id=body.get("reason_id"),
    )
    return answer(transfer)


@require_POST
@operator_json_view
def accept(request, operator, transfer_id: int):
    return answer(services.accept_transfer(transfer_id=transfer_id, operator=operator))


@require_POST
@operator_json_view
def decline(request, operator, transfer_id: int):
    reason = json_body(request).get("reason", "")
    if not isinstance(reason, str):
        raise TransferError(TransferErrorCode.INVALID, "The reason must be text.")
    return answer(services.decline_transfer(transfer_id=transfer_id, operator=operator, reason=reason))


@require_POST
@operator_json_view
def cancel(request, operator, transfer_id: int):
    return answer(services.cancel_transfer(transfer_id=transfer_id, operator=operator))


@require_POST
@operator_json_view
def transfer_now(request, operator, transfer_id: int):
    return answer(services.transfer_now(transfer_id=transfer_id, operator=operator), as_written=True)
