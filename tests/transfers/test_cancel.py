"""A transfer that does not go ahead because the initiator cancels it, or because the core
says the target left or the engagement ended (its signals)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.models import Availability, Engagement, Note
from helpdesk.services.engagements import end_engagement
from helpdesk.services.presence import set_availability, set_offline_everywhere
from tests.transfers.conftest import error_code, request_to
from transfers import services
from transfers.errors import TransferError
from transfers.models import EndReason, Transfer

pytestmark = pytest.mark.django_db


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
