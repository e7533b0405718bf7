"""The timers: an unanswered offer expires, an accepted transfer not handed over in time is
cancelled, and the sweeps (one by one and in bulk) catch anything overdue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.models import Availability, Engagement
from tests.factories import QueueFactory
from tests.transfers.conftest import accepted, error_code, give_engagement, make_overdue, request_to
from transfers import services
from transfers.errors import TransferError
from transfers.models import Transfer

pytestmark = pytest.mark.django_db


# --- expire ----------------------------------------------------------------------------------------


def test_unanswered_transfer_expires_once_past_its_deadline(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    assert services.expire_transfer(transfer_id=transfer.pk) is None  # not yet due
    make_overdue(transfer)
    assert services.expire_transfer(transfer_id=transfer.pk, by="sweep") is not None
    assert services.expire_transfer(transfer_id=transfer.pk, by="timer") is None
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason, transfer.expired_by) == ("expired", "not_answered", "sweep")
    assert transfer.offers.get().outcome == "expired"
    expired = [f for f in frames.to(alice, "transfer.updated") if f["transfer"]["state"] == "expired"]
    assert len(expired) == 1
    assert frames.to(bob, "transfer.offer_ended")[-1]["outcome"] == "expired"


def test_accepting_stops_the_answer_deadline(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    make_overdue(transfer)
    assert services.expire_transfer(transfer_id=transfer.pk) is None
    assert Transfer.objects.get(pk=transfer.pk).state == "accepted"


def test_expiring_an_unknown_transfer_does_nothing():
    assert services.expire_transfer(transfer_id=999999) is None


def test_sweep_expires_only_what_is_overdue(alice, bob, carol, queue, frames):
    due = request_to(bob, give_engagement(owner=alice, queue=queue), alice)
    not_due = request_to(carol, give_engagement(owner=alice, queue=queue), alice)
    make_overdue(due)
    assert services.expire_overdue_transfers() == 1
    assert Transfer.objects.get(pk=due.pk).state == "expired"
    assert Transfer.objects.get(pk=not_due.pk).state == "requested"
    assert services.expire_overdue_transfers() == 0


# --- the hand-over deadline: an accepted transfer is not held forever ------------------------------------


def make_hand_over_overdue(transfer):
    Transfer.objects.filter(pk=transfer.pk).update(hand_over_by=timezone.now() - timedelta(seconds=1))


def test_accepting_sets_the_hand_over_deadline_from_the_setting(engagement, alice, bob, frames, settings):
    settings.TRANSFER_HAND_OVER_TIMEOUT_SECONDS = 120
    transfer = accepted(engagement, alice, bob)
    transfer.refresh_from_db()
    assert transfer.hand_over_by - transfer.answered_at == timedelta(seconds=120)
    payload = frames.to(alice, "transfer.updated")[-1]["transfer"]
    assert payload["state"] == "accepted"
    assert payload["hand_over_timeout_seconds"] == 120
    assert 118 < payload["hand_over_seconds_left"] <= 120
    assert payload["hand_over_by"] == transfer.hand_over_by.isoformat()


def test_accepted_transfer_not_handed_over_in_time_is_cancelled_and_both_are_told(
    engagement, alice, bob, carol, frames
):
    transfer = accepted(engagement, alice, bob)
    assert services.expire_hand_over(transfer_id=transfer.pk) is None  # not yet due
    make_hand_over_overdue(transfer)
    assert services.expire_hand_over(transfer_id=transfer.pk, by="sweep") is not None
    assert services.expire_hand_over(transfer_id=transfer.pk, by="timer") is None  # once
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason, transfer.expired_by) == ("cancelled", "not_handed_over", "sweep")
    assert transfer.ended_at is not None and transfer.completed_at is None
    cancelled = [f for f in frames.to(alice, "transfer.updated") if f["transfer"]["state"] == "cancelled"]
    assert len(cancelled) == 1
    assert cancelled[0]["transfer"]["end_reason"] == "not_handed_over"
    assert cancelled[0]["transfer"]["end_reason_label"] == "Transfer Now was not clicked in time"
    [told] = [f for f in frames.to(bob, "transfer.offer_ended") if f["outcome"] == "withdrawn"]
    assert (told["reason"], told["initiator_name"], told["visitor_name"]) == (
        "not_handed_over",
        "Alice Archer",
        "Vera Visitor",
    )
    # The initiator keeps the chat, and the engagement is free for another transfer.
    assert Engagement.objects.get(pk=engagement.pk).owner == alice
    assert request_to(carol, engagement, alice).state == "requested"


def test_hand_over_expiry_leaves_a_requested_completed_or_unknown_transfer_alone(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    make_hand_over_overdue(transfer)  # a stray value on a requested transfer means nothing
    assert services.expire_hand_over(transfer_id=transfer.pk) is None
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    services.transfer_now(transfer_id=transfer.pk, operator=alice)
    make_hand_over_overdue(transfer)
    assert services.expire_hand_over(transfer_id=transfer.pk) is None
    assert Transfer.objects.get(pk=transfer.pk).state == "completed"
    assert services.expire_hand_over(transfer_id=999_999) is None


def test_transfer_now_after_the_deadline_cancels_and_the_initiator_keeps_the_chat(engagement, alice, bob, frames):
    transfer = accepted(engagement, alice, bob)
    make_hand_over_overdue(transfer)
    with pytest.raises(TransferError) as excinfo:
        services.transfer_now(transfer_id=transfer.pk, operator=alice)
    assert error_code(excinfo) == "no_longer_open"
    assert "ran out" in excinfo.value.message
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason) == ("cancelled", "not_handed_over")
    assert Engagement.objects.get(pk=engagement.pk).owner == alice
    assert Availability.objects.get(operator=bob, media="chat").load == 0
    assert frames.to(bob, "transfer.offer_ended")[-1]["reason"] == "not_handed_over"


def test_transfer_now_before_the_deadline_hands_over(engagement, alice, bob, frames):
    transfer = accepted(engagement, alice, bob)
    Transfer.objects.filter(pk=transfer.pk).update(hand_over_by=timezone.now() + timedelta(seconds=2))
    assert services.transfer_now(transfer_id=transfer.pk, operator=alice).state == "completed"
    assert Engagement.objects.get(pk=engagement.pk).owner == bob


def test_sweep_cancels_only_accepted_transfers_past_their_deadline(alice, bob, carol, queue, frames):
    due = accepted(give_engagement(owner=alice, queue=queue), alice, bob)
    not_due = accepted(give_engagement(owner=alice, queue=queue), alice, carol)
    make_hand_over_overdue(due)
    assert services.expire_overdue_transfers() == 1
    assert Transfer.objects.get(pk=due.pk).end_reason == "not_handed_over"
    assert Transfer.objects.get(pk=not_due.pk).state == "accepted"
    assert services.expire_overdue_transfers() == 0


def test_bulk_expiry_expires_every_due_operator_transfer_once_and_tells_each(alice, bob, carol, queue, frames):
    Availability.objects.filter(operator=alice, media="chat").update(capacity=10)
    due = [request_to(bob, give_engagement(owner=alice, queue=queue), alice, warm_message="W") for _ in range(3)]
    answered = request_to(carol, give_engagement(owner=alice, queue=queue), alice)
    services.accept_transfer(transfer_id=answered.pk, operator=carol)
    for transfer in [*due, answered]:
        make_overdue(transfer)
    assert services.expire_due_operator_transfers(by="timer") == 3
    assert services.expire_due_operator_transfers(by="timer") == 0
    for transfer in due:
        transfer.refresh_from_db()
        assert (transfer.state, transfer.end_reason, transfer.expired_by) == ("expired", "not_answered", "timer")
        assert transfer.offers.get().outcome == "expired"
    assert Transfer.objects.get(pk=answered.pk).state == "accepted"
    told = [f["transfer"]["id"] for f in frames.to(alice, "transfer.updated") if f["transfer"]["state"] == "expired"]
    assert sorted(told) == sorted(t.pk for t in due)
    assert len(frames.to(bob, "transfer.offer_ended")) == 3
    assert frames.to(alice, "transfer.updated")[-1]["transfer"]["warm_message"] == "W"


def test_bulk_expiry_leaves_queue_transfers_to_move_on(engagement, alice, bob, carol, site, team, frames):
    billing = QueueFactory(site=site, teams=[team])
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=billing.pk)
    make_overdue(transfer)
    assert services.expire_due_operator_transfers(by="timer") == 0
    services.expire_overdue_transfers()
    transfer.refresh_from_db()
    assert transfer.state == "requested" and transfer.offers.count() == 2
