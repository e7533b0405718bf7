"""Named row locks of transfers. Order across the product: engagement, then transfer, then availabilities."""

from __future__ import annotations

from .models import Transfer


def lock_transfer(transfer_id: int) -> Transfer:
    """Lock one transfer row; call inside transaction.atomic() (after the engagement lock, if any)."""
    return (
        Transfer.objects.select_for_update(of=("self",))
        .select_related(
            "engagement", "engagement__visitor", "initiator", "target_operator", "target_queue", "offered_to"
        )
        .get(pk=transfer_id)
    )


def lock_open_transfers_of(engagement_id: int) -> list[Transfer]:
    return list(
        Transfer.objects.select_for_update()
        .filter(engagement_id=engagement_id, state__in=["requested", "accepted"])
        .order_by("pk")
    )
