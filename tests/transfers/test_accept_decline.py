"""The offered operator answers: accepting and declining, and who may do either when."""

from __future__ import annotations

import pytest

from helpdesk.models import Availability, Note
from tests.transfers.conftest import error_code, make_overdue, request_to
from transfers import services
from transfers.errors import TransferError
from transfers.models import EndReason, Transfer, TransferState

pytestmark = pytest.mark.django_db


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
