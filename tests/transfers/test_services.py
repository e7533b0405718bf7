"""Every transition of a chat transfer, and every forbidden one, at the service level."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from helpdesk.models import Availability, Engagement, Message, Note, Ownership
from helpdesk.services.engagements import end_engagement
from helpdesk.services.presence import set_availability, set_offline_everywhere
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, UserFactory
from tests.transfers.conftest import give_engagement, set_status
from transfers import services
from transfers.errors import TransferError
from transfers.models import TRANSITIONS, EndReason, Transfer, TransferOffer, TransferState, can_move

pytestmark = pytest.mark.django_db


def make_overdue(transfer):
    Transfer.objects.filter(pk=transfer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    TransferOffer.objects.filter(transfer=transfer, outcome="pending").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def request_to(operator, engagement, initiator, **kwargs):
    return services.request_transfer(
        engagement_id=engagement.pk, initiator=initiator, target_operator_id=operator.pk, **kwargs
    )


def error_code(excinfo) -> str:
    return excinfo.value.code


# --- the table -----------------------------------------------------------------------------------


def test_transition_table_allows_only_the_designed_moves():
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        ("requested", "accepted"),
        ("requested", "declined"),
        ("requested", "expired"),
        ("requested", "cancelled"),
        ("accepted", "completed"),
        ("accepted", "cancelled"),
    }
    for a in TransferState.values:
        for b in TransferState.values:
            assert can_move(a, b) == ((a, b) in allowed)


# --- request ---------------------------------------------------------------------------------------


def test_request_to_operator_offers_it_with_the_queue_deadline(engagement, alice, bob, frames):
    engagement.queue.accept_timeout_seconds = 12
    engagement.queue.save()
    before = timezone.now()
    transfer = request_to(bob, engagement, alice)
    transfer.refresh_from_db()
    assert transfer.state == TransferState.REQUESTED
    assert transfer.offered_to == bob
    assert transfer.accept_timeout_seconds == 12
    assert before + timedelta(seconds=12) <= transfer.expires_at <= timezone.now() + timedelta(seconds=12)
    offer = transfer.offers.get()
    assert offer.operator == bob and offer.outcome == "pending" and offer.expires_at == transfer.expires_at
    [prompt] = frames.to(bob, "transfer.offered")
    assert prompt["transfer"]["initiator_name"] == "Alice Archer"
    assert prompt["transfer"]["visitor_name"] == "Vera Visitor"
    assert 11 < prompt["transfer"]["seconds_left"] <= 12
    assert frames.to(alice, "transfer.updated")[-1]["transfer"]["state"] == "requested"


def test_warm_message_becomes_a_transfer_note_by_the_initiator(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice, warm_message="  Wants a refund for order 42  ")
    note = Note.objects.get(engagement=engagement)
    assert note.source == Note.Source.TRANSFER
    assert note.author == alice
    assert note.body == "Wants a refund for order 42"
    assert transfer.note == note
    assert frames.to(bob, "transfer.offered")[0]["transfer"]["warm_message"] == "Wants a refund for order 42"


def test_retrying_with_the_same_warm_message_keeps_one_note(engagement, alice, bob, carol, frames):
    first = request_to(bob, engagement, alice, warm_message="Refund please")
    services.decline_transfer(transfer_id=first.pk, operator=bob, reason="Busy")
    second = request_to(carol, engagement, alice, warm_message="Refund please")
    assert Note.objects.filter(engagement=engagement).count() == 1
    assert second.note_id == first.note_id


def test_warm_message_is_kept_when_the_request_is_refused(engagement, alice, bob, frames):
    set_status(bob, Availability.Status.OFFLINE)
    with pytest.raises(TransferError) as excinfo:
        request_to(bob, engagement, alice, warm_message="Keep me")
    assert error_code(excinfo) == "target_unavailable"
    assert Note.objects.filter(engagement=engagement, body="Keep me", source="transfer").exists()
    assert not Transfer.objects.exists()


def test_only_the_owner_may_request(engagement, bob, carol, frames):
    with pytest.raises(TransferError) as excinfo:
        request_to(carol, engagement, bob, warm_message="Not mine")
    assert error_code(excinfo) == "not_owner"
    assert excinfo.value.http_status == 403
    assert not Note.objects.exists()


def test_cannot_transfer_to_yourself(engagement, alice, frames):
    with pytest.raises(TransferError) as excinfo:
        request_to(alice, engagement, alice)
    assert error_code(excinfo) == "self_target"


def test_needs_exactly_one_target(engagement, alice, bob, queue, frames):
    with pytest.raises(TransferError) as excinfo:
        services.request_transfer(engagement_id=engagement.pk, initiator=alice)
    assert error_code(excinfo) == "no_target"
    with pytest.raises(TransferError):
        services.request_transfer(
            engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk, target_queue_id=queue.pk
        )


def test_cannot_request_on_an_ended_engagement(engagement, alice, bob, frames):
    Engagement.objects.filter(pk=engagement.pk).update(state="ended", ended_at=timezone.now())
    with pytest.raises(TransferError) as excinfo:
        request_to(bob, engagement, alice)
    assert error_code(excinfo) == "engagement_ended"


@pytest.mark.parametrize(
    ("status", "load", "why"),
    [("offline", 0, "is offline"), ("away", 0, "is away"), ("busy", 0, "is busy"), ("available", 3, "capacity")],
)
def test_operator_who_cannot_take_a_chat_now_is_refused(engagement, alice, bob, status, load, why, frames):
    Availability.objects.filter(operator=bob, media="chat").update(status=status, load=load, capacity=3)
    with pytest.raises(TransferError) as excinfo:
        request_to(bob, engagement, alice)
    assert error_code(excinfo) == "target_unavailable"
    assert why in excinfo.value.message


def test_one_open_transfer_per_engagement(engagement, alice, bob, carol, frames):
    request_to(bob, engagement, alice)
    with pytest.raises(TransferError) as excinfo:
        request_to(carol, engagement, alice)
    assert error_code(excinfo) == "already_open"
    assert Transfer.objects.count() == 1


def test_database_refuses_a_second_open_transfer(engagement, alice, bob, carol, frames):
    request_to(bob, engagement, alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(
            engagement=engagement,
            initiator=alice,
            target_operator=carol,
            accept_timeout_seconds=30,
            requested_at=timezone.now(),
        )


def test_a_queue_of_another_media_is_refused(engagement, alice, site, frames):
    voice = QueueFactory(site=site, media="voice")
    with pytest.raises(TransferError) as excinfo:
        services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=voice.pk)
    assert error_code(excinfo) == "wrong_media"


# --- accept ----------------------------------------------------------------------------------------


def test_offered_operator_accepts(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    transfer.refresh_from_db()
    assert transfer.state == TransferState.ACCEPTED
    assert transfer.accepted_by == bob
    assert transfer.answered_at is not None and transfer.ended_at is None
    assert transfer.offers.get().outcome == "accepted"
    assert frames.to(alice, "transfer.updated")[-1]["transfer"]["accepted_by_name"] == "Bob Baker"
    assert frames.to(bob, "transfer.offer_ended")[-1]["outcome"] == "accepted"
    assert engagement.owner == alice  # nothing moves until Transfer Now


def test_accepting_twice_is_harmless(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    again = services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert again.state == TransferState.ACCEPTED
    assert len(frames.to(alice, "transfer.updated")) == 2  # requested, accepted: nothing more


def test_only_the_offered_operator_may_accept(engagement, alice, bob, carol, frames):
    transfer = request_to(bob, engagement, alice)
    for intruder in (carol, alice):
        with pytest.raises(TransferError) as excinfo:
            services.accept_transfer(transfer_id=transfer.pk, operator=intruder)
        assert error_code(excinfo) == "not_offered"
        assert excinfo.value.http_status == 403


def test_cannot_accept_after_the_deadline(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    make_overdue(transfer)
    with pytest.raises(TransferError) as excinfo:
        services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert error_code(excinfo) == "no_longer_open"


@pytest.mark.parametrize("final", ["declined", "expired", "cancelled"])
def test_cannot_accept_a_finished_transfer(engagement, alice, bob, final, frames):
    transfer = request_to(bob, engagement, alice)
    if final == "declined":
        services.decline_transfer(transfer_id=transfer.pk, operator=bob)
    elif final == "expired":
        make_overdue(transfer)
        services.expire_transfer(transfer_id=transfer.pk)
    else:
        services.cancel_transfer(transfer_id=transfer.pk, operator=alice)
    with pytest.raises(TransferError) as excinfo:
        services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert error_code(excinfo) == "no_longer_open"
    assert Transfer.objects.get(pk=transfer.pk).state == final


def test_operator_at_capacity_cannot_accept_and_the_initiator_is_told(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    Availability.objects.filter(operator=bob, media="chat").update(load=3, capacity=3)
    with pytest.raises(TransferError) as excinfo:
        services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert error_code(excinfo) == "at_capacity"
    transfer.refresh_from_db()
    assert transfer.state == TransferState.CANCELLED
    assert transfer.end_reason == EndReason.AT_CAPACITY
    assert frames.to(alice, "transfer.updated")[-1]["transfer"]["end_reason_label"] == "Operator reached capacity"


# --- decline ---------------------------------------------------------------------------------------


def test_offered_operator_declines_with_a_reason(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice, warm_message="VIP")
    services.decline_transfer(transfer_id=transfer.pk, operator=bob, reason="On a break in 2 minutes")
    transfer.refresh_from_db()
    assert transfer.state == TransferState.DECLINED
    assert transfer.end_reason == EndReason.DECLINED
    assert transfer.reason_text == "On a break in 2 minutes"
    assert transfer.answered_at and transfer.ended_at
    offer = transfer.offers.get()
    assert (offer.outcome, offer.reason_text) == ("declined", "On a break in 2 minutes")
    told = frames.to(alice, "transfer.updated")[-1]["transfer"]
    assert (told["state"], told["reason_text"]) == ("declined", "On a break in 2 minutes")
    assert Note.objects.filter(engagement=engagement, body="VIP").exists()  # the note stays


def test_declining_twice_is_harmless(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.decline_transfer(transfer_id=transfer.pk, operator=bob, reason="No")
    services.decline_transfer(transfer_id=transfer.pk, operator=bob, reason="Again")
    assert Transfer.objects.get(pk=transfer.pk).reason_text == "No"


def test_only_the_offered_operator_may_decline(engagement, alice, bob, carol, frames):
    transfer = request_to(bob, engagement, alice)
    with pytest.raises(TransferError) as excinfo:
        services.decline_transfer(transfer_id=transfer.pk, operator=carol)
    assert error_code(excinfo) == "not_offered"


def test_cannot_decline_after_accepting(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    with pytest.raises(TransferError) as excinfo:
        services.decline_transfer(transfer_id=transfer.pk, operator=bob)
    assert error_code(excinfo) == "no_longer_open"


# --- cancel ----------------------------------------------------------------------------------------


def test_initiator_cancels_a_requested_transfer_and_the_prompt_closes(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.cancel_transfer(transfer_id=transfer.pk, operator=alice)
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason) == ("cancelled", EndReason.CANCELLED_BY_INITIATOR)
    assert transfer.offers.get().outcome == "withdrawn"
    assert frames.to(bob, "transfer.offer_ended")[-1]["outcome"] == "withdrawn"


def test_initiator_cancels_an_accepted_transfer_and_the_target_is_told(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    services.cancel_transfer(transfer_id=transfer.pk, operator=alice)
    assert Transfer.objects.get(pk=transfer.pk).state == "cancelled"
    assert frames.to(bob, "transfer.offer_ended")[-1]["outcome"] == "withdrawn"


def test_only_the_initiator_may_cancel(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    with pytest.raises(TransferError) as excinfo:
        services.cancel_transfer(transfer_id=transfer.pk, operator=bob)
    assert error_code(excinfo) == "not_initiator"


def test_cancelling_twice_is_harmless_but_a_finished_transfer_cannot_be_cancelled(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.cancel_transfer(transfer_id=transfer.pk, operator=alice)
    services.cancel_transfer(transfer_id=transfer.pk, operator=alice)
    second = request_to(bob, engagement, alice)
    services.decline_transfer(transfer_id=second.pk, operator=bob)
    with pytest.raises(TransferError) as excinfo:
        services.cancel_transfer(transfer_id=second.pk, operator=alice)
    assert error_code(excinfo) == "no_longer_open"


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


def accepted(engagement, initiator, target):
    transfer = request_to(target, engagement, initiator)
    return services.accept_transfer(transfer_id=transfer.pk, operator=target)


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


def test_database_refuses_an_accepted_transfer_without_a_hand_over_deadline(engagement, alice, bob, frames):
    transfer = accepted(engagement, alice, bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.filter(pk=transfer.pk).update(hand_over_by=None)


# --- Transfer Now ------------------------------------------------------------------------------------


def test_transfer_now_moves_ownership_and_the_new_owner_has_history_and_note(engagement, alice, bob, frames):
    from helpdesk.services.engagements import post_message

    post_message(engagement_id=engagement.pk, sender="visitor", body="Hi, my order is late")
    post_message(engagement_id=engagement.pk, sender="operator", operator=alice, body="Let me get Bob")
    transfer = request_to(bob, engagement, alice, warm_message="Late order 42")
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    services.transfer_now(transfer_id=transfer.pk, operator=alice)

    engagement.refresh_from_db()
    transfer.refresh_from_db()
    assert engagement.owner == bob and engagement.state == "active"
    assert transfer.state == TransferState.COMPLETED and transfer.completed_at and transfer.ended_at
    stretches = list(Ownership.objects.filter(engagement=engagement).order_by("started_at"))
    assert [(s.operator, s.ended_because) for s in stretches] == [(alice, "transferred"), (bob, "")]
    assert stretches[1].started_because == "transferred"
    assert Availability.objects.get(operator=alice, media="chat").load == 0
    assert Availability.objects.get(operator=bob, media="chat").load == 1
    bodies = list(Message.objects.filter(engagement=engagement).values_list("body", flat=True))
    assert bodies[:2] == ["Hi, my order is late", "Let me get Bob"]
    assert bodies[-1] == "You are now chatting with Bob Baker."
    note = Note.objects.get(engagement=engagement)
    assert (note.author, note.source, note.body) == (alice, "transfer", "Late order 42")
    assert frames.to(bob, "transfer.updated")[-1]["transfer"]["state"] == "completed"


def test_transfer_now_twice_hands_over_once(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    services.transfer_now(transfer_id=transfer.pk, operator=alice)
    services.transfer_now(transfer_id=transfer.pk, operator=alice)
    assert Ownership.objects.filter(engagement=engagement, started_because="transferred").count() == 1
    assert Availability.objects.get(operator=bob, media="chat").load == 1


def test_only_the_initiator_may_transfer_now_and_only_once_accepted(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    with pytest.raises(TransferError) as excinfo:
        services.transfer_now(transfer_id=transfer.pk, operator=alice)
    assert error_code(excinfo) == "not_accepted"
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    with pytest.raises(TransferError) as excinfo:
        services.transfer_now(transfer_id=transfer.pk, operator=bob)
    assert error_code(excinfo) == "not_initiator"
    assert Engagement.objects.get(pk=engagement.pk).owner == alice


def test_transfer_now_to_an_operator_who_filled_up_stops_and_the_initiator_keeps_the_chat(
    engagement, alice, bob, frames
):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    Availability.objects.filter(operator=bob, media="chat").update(load=3, capacity=3)
    with pytest.raises(TransferError) as excinfo:
        services.transfer_now(transfer_id=transfer.pk, operator=alice)
    assert error_code(excinfo) == "at_capacity"
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason) == ("cancelled", "at_capacity")
    engagement.refresh_from_db()
    assert engagement.owner == alice
    assert Ownership.objects.get(engagement=engagement, ended_at__isnull=True).operator == alice


def test_new_owner_may_transfer_again(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    services.transfer_now(transfer_id=transfer.pk, operator=alice)
    back = request_to(alice, engagement, bob)
    assert back.state == "requested"
    with pytest.raises(TransferError) as excinfo:
        request_to(bob, engagement, alice)
    assert error_code(excinfo) == "not_owner"


# --- queue target ----------------------------------------------------------------------------------


@pytest.fixture
def queue_b(site, team):
    return QueueFactory(site=site, name="Billing chat", teams=[team], accept_timeout_seconds=10)


def test_queue_transfer_is_offered_to_the_longest_idle_operator_but_not_the_initiator(
    engagement, alice, bob, carol, queue_b, frames
):
    Availability.objects.filter(operator=carol, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    Availability.objects.filter(operator=alice, media="chat").update(idle_since=timezone.now() - timedelta(hours=2))
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    transfer.refresh_from_db()
    assert transfer.offered_to == carol
    assert transfer.accept_timeout_seconds == 10
    assert frames.to(carol, "transfer.offered")


def test_declined_and_expired_queue_offers_go_to_the_next_operator(engagement, alice, bob, carol, queue_b, frames):
    dave = OperatorFactory(site=queue_b.site, teams=list(queue_b.teams.all()), available=["chat"])
    for number, operator in enumerate((bob, carol, dave)):
        Availability.objects.filter(operator=operator, media="chat").update(
            idle_since=timezone.now() - timedelta(minutes=10 - number)
        )
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    assert Transfer.objects.get(pk=transfer.pk).offered_to == bob
    services.decline_transfer(transfer_id=transfer.pk, operator=bob, reason="Not my skill")
    assert Transfer.objects.get(pk=transfer.pk).offered_to == carol
    make_overdue(transfer)
    services.expire_transfer(transfer_id=transfer.pk)
    transfer.refresh_from_db()
    assert transfer.state == "requested" and transfer.offered_to == dave
    assert [(o.operator, o.outcome) for o in transfer.offers.order_by("offered_at")] == [
        (bob, "declined"),
        (carol, "expired"),
        (dave, "pending"),
    ]
    services.accept_transfer(transfer_id=transfer.pk, operator=dave)
    assert Transfer.objects.get(pk=transfer.pk).accepted_by == dave


def test_queue_transfer_with_nobody_free_waits_and_the_sweep_offers_it_later(engagement, alice, bob, queue_b, frames):
    set_status(bob, Availability.Status.AWAY)
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    transfer.refresh_from_db()
    assert transfer.state == "requested" and transfer.offered_to is None and transfer.expires_at is None
    told = frames.to(alice, "transfer.updated")[-1]["transfer"]
    assert told["waiting_in_queue"] is True and told["queue_position"] == 1
    services.expire_overdue_transfers()
    assert Transfer.objects.get(pk=transfer.pk).offered_to is None
    set_status(bob, Availability.Status.AVAILABLE)
    services.expire_overdue_transfers()
    assert Transfer.objects.get(pk=transfer.pk).offered_to == bob
    assert frames.to(bob, "transfer.offered")


def test_late_accept_of_a_queue_offer_that_moved_on_is_told_it_was_taken(
    engagement, alice, bob, carol, queue_b, frames
):
    Availability.objects.filter(operator=bob, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    make_overdue(transfer)
    services.expire_transfer(transfer_id=transfer.pk)
    assert Transfer.objects.get(pk=transfer.pk).offered_to == carol
    with pytest.raises(TransferError) as excinfo:
        services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert error_code(excinfo) == "already_taken"
    services.accept_transfer(transfer_id=transfer.pk, operator=carol)
    with pytest.raises(TransferError) as excinfo:
        services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert error_code(excinfo) == "already_taken"


def test_initiator_may_cancel_a_queue_transfer_waiting_in_the_queue(engagement, alice, bob, queue_b, frames):
    set_status(bob, Availability.Status.OFFLINE)
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    services.cancel_transfer(transfer_id=transfer.pk, operator=alice)
    assert Transfer.objects.get(pk=transfer.pk).state == "cancelled"


def test_queue_position_counts_visitors_and_transfers_waiting_before(alice, bob, queue_b, queue, frames):
    from tests.factories import EngagementFactory
    from transfers.selectors import transfer_queue_position

    set_status(bob, Availability.Status.OFFLINE)
    EngagementFactory(queue=queue_b, queued_at=timezone.now() - timedelta(minutes=1))
    first = services.request_transfer(
        engagement_id=give_engagement(owner=alice, queue=queue).pk, initiator=alice, target_queue_id=queue_b.pk
    )
    second = services.request_transfer(
        engagement_id=give_engagement(owner=alice, queue=queue).pk, initiator=alice, target_queue_id=queue_b.pk
    )
    assert transfer_queue_position(transfer=first) == 2
    assert transfer_queue_position(transfer=second) == 3


# --- a queue nobody takes (ADR 0001): decliners are not asked again, the others take turns ---------


def idle_order(*operators):
    """The first operator given is the longest idle, then the next, ..."""
    for number, operator in enumerate(operators):
        Availability.objects.filter(operator=operator, media="chat").update(
            idle_since=timezone.now() - timedelta(minutes=10 - number)
        )


def offers_of(transfer):
    return [(o.operator, o.outcome) for o in transfer.offers.order_by("offered_at", "pk")]


def test_operator_who_declined_a_queue_transfer_is_not_asked_again(engagement, alice, bob, carol, queue_b, frames):
    idle_order(bob, carol)
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    services.decline_transfer(transfer_id=transfer.pk, operator=bob, reason="Not my skill")
    make_overdue(transfer)
    services.expire_transfer(transfer_id=transfer.pk)
    transfer.refresh_from_db()
    # Carol let it ring, Bob said no: Carol is asked again (still the only one who may take it), Bob never.
    assert transfer.state == "requested" and transfer.offered_to == carol
    assert offers_of(transfer) == [(bob, "declined"), (carol, "expired"), (carol, "pending")]
    services.expire_overdue_transfers()  # nothing overdue: the sweep leaves it with Carol
    assert Transfer.objects.get(pk=transfer.pk).offered_to == carol


def test_expired_or_withdrawn_operators_are_asked_again_after_the_others_longest_ago_first(
    engagement, alice, bob, carol, queue_b, frames, django_capture_on_commit_callbacks
):
    dave = OperatorFactory(site=queue_b.site, teams=list(queue_b.teams.all()), available=["chat"])
    idle_order(bob, carol, dave)
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    assert Transfer.objects.get(pk=transfer.pk).offered_to == bob
    make_overdue(transfer)
    services.expire_transfer(transfer_id=transfer.pk)
    # Carol has not been asked yet: she comes before Bob, although Bob has been idle longer.
    assert Transfer.objects.get(pk=transfer.pk).offered_to == carol
    make_overdue(transfer)
    services.expire_transfer(transfer_id=transfer.pk)
    assert Transfer.objects.get(pk=transfer.pk).offered_to == dave
    with django_capture_on_commit_callbacks(execute=True):
        set_availability(operator=dave, media="chat", status="away")  # withdrawn: Dave may be asked again later
    # Everyone was asked once: Bob, asked longest ago, is asked again.
    assert Transfer.objects.get(pk=transfer.pk).offered_to == bob
    make_overdue(transfer)
    services.expire_transfer(transfer_id=transfer.pk)
    assert Transfer.objects.get(pk=transfer.pk).offered_to == carol
    set_status(dave, Availability.Status.AVAILABLE)
    services.decline_transfer(transfer_id=transfer.pk, operator=carol)
    transfer.refresh_from_db()
    assert transfer.offered_to == dave  # back and asked longer ago than Bob
    assert offers_of(transfer) == [
        (bob, "expired"),
        (carol, "expired"),
        (dave, "withdrawn"),
        (bob, "expired"),
        (carol, "declined"),
        (dave, "pending"),
    ]
    services.accept_transfer(transfer_id=transfer.pk, operator=dave)
    assert Transfer.objects.get(pk=transfer.pk).state == "accepted"


def test_queue_transfer_everyone_declined_ends_declined_and_the_initiator_is_told(
    engagement, alice, bob, carol, queue_b, frames
):
    idle_order(bob, carol)
    transfer = services.request_transfer(
        engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk, warm_message="Refund, verified"
    )
    services.decline_transfer(transfer_id=transfer.pk, operator=bob, reason="Lunch")
    assert Transfer.objects.get(pk=transfer.pk).state == "requested"
    services.decline_transfer(transfer_id=transfer.pk, operator=carol, reason="Not my skill")
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason, transfer.reason_text) == ("declined", "all_declined", "")
    assert transfer.offered_to is None and transfer.expires_at is None
    assert transfer.answered_at and transfer.ended_at
    assert offers_of(transfer) == [(bob, "declined"), (carol, "declined")]
    told = frames.to(alice, "transfer.updated")[-1]["transfer"]
    assert (told["state"], told["end_reason"], told["end_reason_label"]) == (
        "declined",
        "all_declined",
        "Everyone in the queue declined",
    )
    assert told["target_name"] == "Billing chat" and told["waiting_in_queue"] is False
    assert told["warm_message"] == "Refund, verified"  # kept for Back and the next target
    assert [f["outcome"] for f in frames.to(carol, "transfer.offer_ended")] == ["declined"]
    # Back: the engagement may be transferred again, and the warm message is the same note.
    again = request_to(bob, engagement, alice, warm_message="Refund, verified")
    assert again.note_id == transfer.note_id


def test_queue_transfer_waits_while_someone_who_has_not_declined_is_away(
    engagement, alice, bob, carol, queue_b, frames
):
    set_status(carol, Availability.Status.AWAY)
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    services.decline_transfer(transfer_id=transfer.pk, operator=bob)
    transfer.refresh_from_db()
    assert transfer.state == "requested" and transfer.offered_to is None  # waits for Carol
    assert frames.to(alice, "transfer.updated")[-1]["transfer"]["waiting_in_queue"] is True
    services.expire_overdue_transfers()
    assert Transfer.objects.get(pk=transfer.pk).offered_to is None
    set_status(carol, Availability.Status.AVAILABLE)
    services.expire_overdue_transfers()
    assert Transfer.objects.get(pk=transfer.pk).offered_to == carol
    services.decline_transfer(transfer_id=transfer.pk, operator=carol)
    assert Transfer.objects.get(pk=transfer.pk).end_reason == "all_declined"


def test_waiting_queue_transfer_ends_when_the_team_left_is_only_decliners(
    engagement, alice, bob, carol, queue_b, frames
):
    set_status(carol, Availability.Status.OFFLINE)
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    services.decline_transfer(transfer_id=transfer.pk, operator=bob)
    assert Transfer.objects.get(pk=transfer.pk).state == "requested"
    carol.teams.clear()  # a manager moves Carol to another team
    services.expire_overdue_transfers()
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason) == ("declined", "all_declined")
    assert frames.to(alice, "transfer.updated")[-1]["transfer"]["end_reason"] == "all_declined"


def test_queue_nobody_else_serves_waits_instead_of_ending(engagement, alice, site, frames):
    from tests.factories import TeamFactory

    lonely = QueueFactory(site=site, name="Lonely chat", teams=[TeamFactory(site=site, name="Night")])
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=lonely.pk)
    services.expire_overdue_transfers()
    transfer.refresh_from_db()
    assert transfer.state == "requested" and transfer.offered_to is None  # waits; the initiator may cancel


def test_queue_transfer_waiting_or_leaving_the_queue_refreshes_the_site_queue_counts(
    engagement, alice, bob, queue_b, frames, django_capture_on_commit_callbacks
):
    from unittest import mock

    set_status(bob, Availability.Status.AWAY)
    with mock.patch("helpdesk.events._publish_queue_state") as published:
        with django_capture_on_commit_callbacks(execute=True):
            transfer = services.request_transfer(
                engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk
            )
        assert [c.args for c in published.call_args_list] == [(queue_b.site_id,)]  # starts waiting
        set_status(bob, Availability.Status.AVAILABLE)
        with django_capture_on_commit_callbacks(execute=True):
            services.expire_overdue_transfers()
        assert published.call_count == 2  # offered: it left the queue
        with django_capture_on_commit_callbacks(execute=True):
            services.decline_transfer(transfer_id=transfer.pk, operator=bob)
        assert published.call_count == 2  # ended without waiting again: nothing changed in the queue


# --- the core's signals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("act", "reason"),
    [
        (lambda op: set_availability(operator=op, media="chat", status="offline"), "offline"),
        (lambda op: set_availability(operator=op, media="chat", status="away"), "away"),
        (lambda op: set_offline_everywhere(operator=op, reason="logged_out"), "logged_out"),
    ],
    ids=["offline", "away", "logged out"],
)
def test_target_going_unavailable_cancels_with_that_reason(
    engagement, alice, bob, act, reason, frames, django_capture_on_commit_callbacks
):
    transfer = request_to(bob, engagement, alice)
    with django_capture_on_commit_callbacks(execute=True):
        act(bob)
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason) == ("cancelled", reason)
    assert frames.to(alice, "transfer.updated")[-1]["transfer"]["end_reason"] == reason


def test_accepted_target_going_offline_cancels_before_transfer_now(
    engagement, alice, bob, frames, django_capture_on_commit_callbacks
):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    with django_capture_on_commit_callbacks(execute=True):
        set_availability(operator=bob, media="chat", status="offline")
    assert Transfer.objects.get(pk=transfer.pk).end_reason == "offline"


def test_queue_offer_to_an_operator_who_goes_away_moves_to_the_next(
    engagement, alice, bob, carol, queue_b, frames, django_capture_on_commit_callbacks
):
    Availability.objects.filter(operator=bob, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=queue_b.pk)
    with django_capture_on_commit_callbacks(execute=True):
        set_availability(operator=bob, media="chat", status="away")
    transfer.refresh_from_db()
    assert transfer.state == "requested" and transfer.offered_to == carol


def test_visitor_leaving_cancels_the_transfer_and_keeps_the_note(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice, warm_message="Keep")
    end_engagement(engagement_id=engagement.pk, reason=Engagement.EndReason.VISITOR_LEFT)
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason) == ("cancelled", "visitor_left")
    assert frames.to(bob, "transfer.offer_ended")[-1]["reason"] == "visitor_left"
    assert Note.objects.filter(engagement=engagement, body="Keep").exists()


def test_operator_ending_the_chat_cancels_the_accepted_transfer(engagement, alice, bob, frames):
    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    end_engagement(engagement_id=engagement.pk, reason=Engagement.EndReason.OPERATOR_ENDED, operator=alice)
    assert Transfer.objects.get(pk=transfer.pk).end_reason == "engagement_ended"


def test_other_media_going_offline_leaves_a_chat_offer_alone(
    engagement, alice, bob, frames, django_capture_on_commit_callbacks
):
    transfer = request_to(bob, engagement, alice)
    Availability.objects.filter(operator=bob, media="voice").update(status="available")
    with django_capture_on_commit_callbacks(execute=True):
        set_availability(operator=bob, media="voice", status="offline")
    assert Transfer.objects.get(pk=transfer.pk).state == "requested"


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


# --- history ---------------------------------------------------------------------------------------


def test_every_attempt_is_kept_with_target_state_reason_and_times(engagement, alice, bob, carol, frames):
    from transfers.selectors import transfer_history

    first = request_to(bob, engagement, alice, warm_message="Warm")
    services.decline_transfer(transfer_id=first.pk, operator=bob, reason="Lunch")
    second = request_to(carol, engagement, alice, warm_message="Warm")
    services.accept_transfer(transfer_id=second.pk, operator=carol)
    services.transfer_now(transfer_id=second.pk, operator=alice)
    history = transfer_history(engagement_id=engagement.pk)
    assert [(t.target_name, t.state, t.reason_text) for t in history] == [
        ("Bob Baker", "declined", "Lunch"),
        ("Carol Chen", "completed", ""),
    ]
    assert all(t.requested_at <= t.answered_at <= t.ended_at for t in history)
    assert history[1].completed_at == history[1].ended_at


# --- selectors for the dialog ---------------------------------------------------------------------------


def test_operator_list_excludes_yourself_and_marks_who_cannot_take_it(engagement, alice, bob, carol, frames):
    from transfers.selectors import available_operators_for_transfer

    other_site = SiteFactory(name="Lisbon")
    diogo = OperatorFactory(site=other_site, display_name="Diogo Dias", user=UserFactory(username="diogo"))
    Availability.objects.filter(operator=carol, media="chat").update(load=3, capacity=3)
    Availability.objects.filter(operator=bob, media="voice").update(status="busy")
    options = available_operators_for_transfer(engagement=engagement, initiator=alice)
    by_name = {option.operator.display_name: option for option in options}
    assert set(by_name) == {"Bob Baker", "Carol Chen", "Diogo Dias"}
    assert by_name["Bob Baker"].can_take and by_name["Bob Baker"].statuses == {
        "chat": "available",
        "voice": "busy",
        "video": "offline",
    }
    assert (by_name["Carol Chen"].can_take, by_name["Carol Chen"].why_not) == (False, "At capacity")
    assert (by_name["Diogo Dias"].can_take, by_name["Diogo Dias"].why_not) == (False, "Offline")
    assert options[0].operator == bob  # who can take it first
    lisbon = available_operators_for_transfer(engagement=engagement, initiator=alice, site_id=other_site.pk)
    assert [o.operator for o in lisbon] == [diogo]


@pytest.mark.parametrize("search", ["carol", "CHEN", "carol@example", "support"])
def test_operator_search_by_name_email_or_team(engagement, alice, bob, carol, search, frames):
    from tests.factories import TeamFactory
    from transfers.selectors import available_operators_for_transfer

    if search == "support":
        bob.teams.set([TeamFactory(site=bob.site, name="Sales")])
    found = available_operators_for_transfer(engagement=engagement, initiator=alice, search=search)
    assert [o.operator for o in found] == [carol]


def test_queue_list_shows_waiting_count_and_current_wait(engagement, alice, queue, frames):
    from tests.factories import EngagementFactory
    from transfers.selectors import queues_for_transfer

    EngagementFactory(queue=queue, queued_at=timezone.now() - timedelta(seconds=95))
    EngagementFactory(queue=queue, queued_at=timezone.now() - timedelta(seconds=10))
    [option] = queues_for_transfer(engagement=engagement)
    assert option.waiting == 2
    assert 95 <= option.longest_wait_seconds < 100


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


def test_calls_are_not_transferred_here(alice, bob, site, team, frames):
    from helpdesk.models import Media

    phone = QueueFactory(site=site, teams=[team], media=Media.VOICE)
    Availability.objects.filter(operator=alice, media="voice").update(status="available")
    call = give_engagement(owner=alice, queue=phone, media=Media.VOICE)
    with pytest.raises(TransferError) as excinfo:
        request_to(bob, call, alice)
    assert error_code(excinfo) == "wrong_media"


def test_transfer_now_refuses_when_the_initiator_no_longer_owns_it(engagement, alice, bob, carol, frames):
    from helpdesk.services.engagements import hand_over

    transfer = request_to(bob, engagement, alice)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    hand_over(engagement_id=engagement.pk, to_operator_id=carol.pk)  # moved by other means meanwhile
    with pytest.raises(TransferError) as excinfo:
        services.transfer_now(transfer_id=transfer.pk, operator=alice)
    assert error_code(excinfo) == "not_owner"
    assert Engagement.objects.get(pk=engagement.pk).owner == carol
