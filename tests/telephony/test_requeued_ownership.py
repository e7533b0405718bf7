"""A call that goes back to its queue ends the operator's ownership stretch as Ownership.End.REQUEUED,
a real choice of the field, shown as "Back in the queue" in the admin and the console's owner history."""

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.frames import ownership_frame
from helpdesk.models import Engagement, Ownership
from telephony import services
from telephony.models import Leg
from tests.factories import ManagerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def stretches(call):
    return list(Ownership.objects.filter(engagement_id=call.engagement_id).order_by("started_at", "pk"))


def test_declined_offer_ends_the_stretch_requeued_and_it_is_a_valid_choice(centre):
    call = services.place_call(queue=centre.sales, caller_name="Pat Caller")
    services.decline_leg(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    [stretch] = stretches(call)
    assert stretch.ended_because == Ownership.End.REQUEUED == "requeued"
    assert stretch.get_ended_because_display() == "Back in the queue"
    stretch.full_clean()  # the stored value is one of the field's choices


def test_unanswered_offer_and_a_withdrawn_one_end_requeued(centre):
    call = services.place_call(queue=centre.sales)
    leg = centre.leg_of(call, centre.a)
    Leg.objects.filter(pk=leg.pk).update(ring_deadline=timezone.now() - timedelta(seconds=1))
    assert services.expire_ringing_leg(leg_id=leg.pk) is True
    assert [s.ended_because for s in stretches(call)] == [Ownership.End.REQUEUED]


def test_unanswered_cold_transfer_target_ends_requeued_after_a_transfer(centre):
    """A cold-transfers to B while B's consult rings; B declines: A's stretch ended as a
    transfer, B's as back in the queue."""
    centre.sales.cold_transfer_allowed = True
    centre.sales.save()
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk)
    services.cold_transfer(call_id=call.pk, operator=centre.a)
    services.decline_leg(leg_id=leg.pk, operator=centre.b)
    # Back in the Sales queue, the call is routed again: to Alice, free once more.
    assert [(s.operator, s.ended_because) for s in stretches(call)] == [
        (centre.a, Ownership.End.TRANSFERRED),
        (centre.b, Ownership.End.REQUEUED),
        (centre.a, ""),
    ]
    assert centre.call(call.pk).engagement.state == Engagement.State.ACTIVE


def test_console_frame_and_admin_show_back_in_the_queue(client, centre):
    call = services.place_call(queue=centre.sales, caller_name="Pat Caller")
    services.decline_leg(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    [stretch] = stretches(call)
    frame = ownership_frame(stretch)
    assert (frame["ended_because"], frame["ended_because_label"]) == ("requeued", "Back in the queue")
    client.force_login(ManagerFactory(sites=[centre.sales.site]))
    page = client.get(f"/admin/helpdesk/engagement/{call.engagement_id}/change/").content.decode()
    assert "Back in the queue" in page
