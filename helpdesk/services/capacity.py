"""An operator's load on a media: the one place that writes `Availability.load`.

Load counts what an operator holds on a media (chats they own, a call they talk on, a consult
ringing them) against their capacity there. Routing, hand-overs and telephony all take and free
capacity through these two functions, so every change is announced to the site's consoles the
same way, and the core says "this operator is full" (the `operator_reached_capacity` signal) in
exactly one place: where the last free slot is taken. Nothing else can fill an operator up;
becoming available while already full takes no slot and says nothing (tests/helpdesk/
test_capacity.py shows no offer can be standing to a full operator then).

The database backs the rule: `load <= capacity` is a check constraint, so a race that would
overfill an operator fails with IntegrityError instead.
"""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from .. import events
from ..lock_objects import lock_availability
from ..models import Availability
from ..signals import operator_reached_capacity


def occupy_capacity(*, availability: Availability) -> Availability:
    """Take one slot of a locked availability; the caller holds its row lock (`lock_availability`).

    Raises IntegrityError (the capacity constraint) when the operator is already full. Taking
    the last slot sends `operator_reached_capacity` (receivers act after commit).
    """
    Availability.objects.filter(pk=availability.pk).update(load=F("load") + 1)  # the constraint checks it
    availability.load += 1  # read under the caller's lock: no one else changed it since
    events.availability_changed(availability)
    if availability.load >= availability.capacity:
        operator_reached_capacity.send(sender=Availability, operator=availability.operator, media=availability.media)
    return availability


def free_capacity(*, operator_id: int, media: str) -> Availability:
    """Give back one slot (never below zero); an operator left with nothing is idle from now.

    Locks the availability row. The caller decides whether to route waiting work to them.
    """
    availability = lock_availability(operator_id=operator_id, media=media)
    availability.load = max(availability.load - 1, 0)
    if availability.load == 0:
        availability.idle_since = timezone.now()
    availability.save(update_fields=["load", "idle_since"])
    events.availability_changed(availability)
    return availability
