"""Named row locks of transfers. Order across the product: engagement, then transfer, then availabilities."""

from __future__ import annotations

from helpdesk.models import Operator

from .models import Transfer

OPERATOR_RELATIONS = ("initiator", "target_operator", "offered_to", "accepted_by")


def lock_transfer(transfer_id: int) -> Transfer:
    """Lock one transfer row; call inside transaction.atomic() (after the engagement lock, if any).

    Lock first, read with its relations after: a locking read that waited for another transaction
    re-checks only the locked row, so related rows joined into the same statement can be stale
    (a queue offer that moved on while we waited came back with `offered_to_id` of the new operator
    but `offered_to` None). The second statement sees everything as committed once we hold the lock.
    """
    Transfer.objects.select_for_update().only("pk").get(pk=transfer_id)
    # The warm message and the reason come along: every act's frame draws them (transfer_payload),
    # and read lazily they were two more round trips while the locks are held.
    transfer = Transfer.objects.select_related(
        "engagement", "engagement__visitor", "target_queue", "note", "reason"
    ).get(pk=transfer_id)
    # Its operators come in one more statement: joined into the one above they made an
    # eight-table join whose planning alone took ~4 ms on every call (this one plans in ~1 ms).
    ids = {getattr(transfer, f"{name}_id") for name in OPERATOR_RELATIONS} - {None}
    operators = Operator.objects.in_bulk(ids)
    for name in OPERATOR_RELATIONS:
        if (operator_id := getattr(transfer, f"{name}_id")) is not None:
            setattr(transfer, name, operators[operator_id])
    return transfer


def lock_open_transfers_of(engagement_id: int) -> list[Transfer]:
    return list(
        Transfer.objects.select_for_update()
        .filter(engagement_id=engagement_id, state__in=["requested", "accepted"])
        .order_by("pk")
    )
