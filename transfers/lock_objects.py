"""Named row locks of transfers. Order across the product: engagement, then transfer, then availabilities."""

from __future__ import annotations

from django.db.models import Subquery

from helpdesk.models import Engagement

from .models import Transfer
from .selectors import drawn_transfers


def lock_engagement_of(transfer_id: int) -> bool:
    """Lock the engagement of a transfer (the order's first lock) in one statement; False if there
    is no such transfer. The transfer's row is only read, not locked: its engagement never changes."""
    of_transfer = Transfer.objects.filter(pk=transfer_id).order_by().values("engagement_id")
    return Engagement.objects.select_for_update().filter(pk=Subquery(of_transfer)).values_list("pk").exists()


def lock_transfer(transfer_id: int) -> Transfer:
    """Lock one transfer row; call inside transaction.atomic() (after the engagement lock, if any).

    Lock first, read with its relations after: a locking read that waited for another transaction
    re-checks only the locked row, so related rows joined into the same statement can be stale
    (a queue offer that moved on while we waited came back with `offered_to_id` of the new operator
    but `offered_to` None). The reads after it see everything as committed once we hold the lock.
    """
    Transfer.objects.select_for_update().only("pk").get(pk=transfer_id)
    [transfer] = drawn_transfers(Transfer.objects.filter(pk=transfer_id))
    return transfer


def lock_open_transfers_of(engagement_id: int) -> list[Transfer]:
    return list(
        Transfer.objects.select_for_update()
        .filter(engagement_id=engagement_id, state__in=["requested", "accepted"])
        .order_by("pk")
    )
