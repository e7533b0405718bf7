"""Requesting a transfer to an operator: the offer, the warm message, and every refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.models import Availability, Engagement, Note
from tests.factories import QueueFactory
from tests.transfers.conftest import error_code, give_engagement, request_to, set_status
from transfers import services
from transfers.errors import TransferError
from transfers.models import Transfer, TransferState

pytestmark = pytest.mark.django_db


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


def test_a_queue_of_another_media_is_refused(engagement, alice, site, frames):
    voice = QueueFactory(site=site, media="voice")
    with pytest.raises(TransferError) as excinfo:
        services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=voice.pk)
    assert error_code(excinfo) == "wrong_media"


def test_calls_are_not_transferred_here(alice, bob, site, team, frames):
    from helpdesk.models import Media

    phone = QueueFactory(site=site, teams=[team], media=Media.VOICE)
    Availability.objects.filter(operator=alice, media="voice").update(status="available")
    call = give_engagement(owner=alice, queue=phone, media=Media.VOICE)
    with pytest.raises(TransferError) as excinfo:
        request_to(bob, call, alice)
    assert error_code(excinfo) == "wrong_media"
