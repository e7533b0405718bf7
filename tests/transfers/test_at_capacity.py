"""The target fills up while asked: the offer is withdrawn at capacity (a queue's moves on)."""

from __future__ import annotations

import pytest

from helpdesk.models import Availability, Note
from tests.transfers.conftest import give_engagement, idle_order, offers_of, request_to
from transfers import services
from transfers.models import Transfer

pytestmark = pytest.mark.django_db


# --- the target fills up while asked ------------------------------------------------------------------


def fill_up(operator, queue):
    """Routing gives the operator chats until they are at capacity (their load reaches it)."""
    availability = Availability.objects.get(operator=operator, media="chat")
    for number in range(availability.capacity - availability.load):
        give_engagement(owner=operator, queue=queue, visitor_name=f"Walk-in {number}")


def test_operator_filling_up_while_asked_stops_the_transfer_at_capacity(
    engagement, alice, bob, queue, frames, django_capture_on_commit_callbacks
):
    Availability.objects.filter(operator=bob, media="chat").update(capacity=2)
    transfer = request_to(bob, engagement, alice, warm_message="Keep me")
    with django_capture_on_commit_callbacks(execute=True):
        give_engagement(owner=bob, queue=queue, visitor_name="First walk-in")
    assert Transfer.objects.get(pk=transfer.pk).state == "requested"  # one slot left: still asked
    with django_capture_on_commit_callbacks(execute=True):
        give_engagement(owner=bob, queue=queue, visitor_name="Second walk-in")
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason) == ("cancelled", "at_capacity")
    assert transfer.offers.get().outcome == "withdrawn" and transfer.offers.get().reason == "at_capacity"
    told = frames.to(alice, "transfer.updated")[-1]["transfer"]
    assert (told["state"], told["end_reason"], told["end_reason_label"]) == (
        "cancelled",
        "at_capacity",
        "Operator reached capacity",
    )
    assert told["offered_to_name"] == "Bob Baker"  # the popup names who filled up
    ended = frames.to(bob, "transfer.offer_ended")[-1]
    assert (ended["outcome"], ended["reason"]) == ("withdrawn", "at_capacity")
    assert Note.objects.filter(engagement=engagement, body="Keep me").exists()


def test_queue_offer_to_an_operator_who_fills_up_moves_to_the_next(
    engagement, alice, bob, carol, queue, queue_b, frames, django_capture_on_commit_callbacks
):
    idle_order(bob, carol)
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    assert Transfer.objects.get(pk=transfer.pk).offered_to == bob
    with django_capture_on_commit_callbacks(execute=True):
        fill_up(bob, queue)
    transfer.refresh_from_db()
    assert transfer.state == "requested" and transfer.offered_to == carol
    assert offers_of(transfer) == [(bob, "withdrawn"), (carol, "pending")]
    assert transfer.offers.first().reason == "at_capacity"


def test_a_chat_ending_before_the_withdrawal_runs_keeps_the_offer(engagement, alice, bob, queue, frames):
    transfer = request_to(bob, engagement, alice)
    fill_up(bob, queue)  # the on-commit withdrawal is not run here
    Availability.objects.filter(operator=bob, media="chat").update(load=0)  # a chat ended meanwhile
    assert services.withdraw_offers_from_operator_at_capacity(operator_id=bob.pk, media="chat") == 0
    assert Transfer.objects.get(pk=transfer.pk).state == "requested"


def test_sweep_stops_offers_to_operators_who_filled_up_without_the_signal(alice, bob, carol, queue, frames):
    full = request_to(bob, give_engagement(owner=alice, queue=queue), alice)
    fine = request_to(carol, give_engagement(owner=alice, queue=queue), alice)
    Availability.objects.filter(operator=bob, media="chat").update(load=1, capacity=1)  # a manager lowered it
    services.expire_overdue_transfers()
    assert Transfer.objects.get(pk=full.pk).end_reason == "at_capacity"
    assert Transfer.objects.get(pk=fine.pk).state == "requested"
    assert services.withdraw_offer_at_capacity(transfer_id=full.pk) is None  # once
