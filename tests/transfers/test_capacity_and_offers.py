"""Whether an operator who becomes available while already full must have offers withdrawn.

The core used to say "this operator is full" (`operator_reached_capacity`) from the availability
frame builder, so it was also said when a full operator merely changed status. Since the capacity
service became the one writer of load, it is said only when the last slot is taken. This settles
that nothing depends on the old extra signal: offers go only to operators with room, going away
withdraws them, so a full operator coming back has nothing standing to withdraw, and gets no new
offer until a slot frees.
"""

import pytest

from helpdesk.models import Availability
from helpdesk.services.engagements import end_engagement
from helpdesk.services.presence import set_availability
from tests.transfers.conftest import give_engagement, set_status
from transfers import services
from transfers.errors import TransferError
from transfers.models import Transfer

pytestmark = pytest.mark.django_db


def test_operator_becoming_available_while_full_has_nothing_to_withdraw_and_is_offered_nothing(
    engagement, alice, bob, carol, queue, frames, django_capture_on_commit_callbacks
):
    Availability.objects.filter(operator=bob, media="chat").update(capacity=1)
    first = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    with django_capture_on_commit_callbacks(execute=True):
        set_availability(operator=bob, media="chat", status="away")
    first.refresh_from_db()
    assert (first.state, first.end_reason) == ("cancelled", "away")  # going away withdrew it

    bobs_chat = give_engagement(owner=bob, queue=queue, visitor_name="Held while away")  # full: 1 of 1
    with django_capture_on_commit_callbacks(execute=True):
        set_availability(operator=bob, media="chat", status="available")
    assert not Transfer.objects.filter(offered_to=bob, state="requested").exists()
    assert not Transfer.objects.filter(accepted_by=bob, state="accepted").exists()

    with pytest.raises(TransferError) as refused:
        services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    assert refused.value.code == "target_unavailable" and "reached their capacity" in refused.value.message

    set_status(carol, "away")  # Bob is the only other operator of the queue now
    waiting = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue.pk)
    assert Transfer.objects.get(pk=waiting.pk).offered_to is None  # it waits rather than ask a full operator

    with django_capture_on_commit_callbacks(execute=True):
        end_engagement(engagement_id=bobs_chat.pk, reason="operator_ended", operator=bob)
    services.expire_overdue_transfers()  # the sweep offers waiting queue transfers
    assert Transfer.objects.get(pk=waiting.pk).offered_to == bob
