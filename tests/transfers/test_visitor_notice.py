"""The visitor's view of a transfer ("Transferring you to …") and the estimate in the dialog's queue list."""

from __future__ import annotations

import pytest

from helpdesk.consumers import visitor_hello
from helpdesk.models import Engagement, QueueWaitEstimate
from tests.factories import QueueWaitEstimateFactory
from tests.transfers.conftest import accepted, request_to
from transfers import services
from transfers.selectors import queues_for_transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def visitor_frames(monkeypatch, frames):
    sent: list[tuple[int, dict]] = []
    monkeypatch.setattr(
        "transfers.events.publish_to_engagement", lambda engagement_id, frame: sent.append((engagement_id, frame))
    )
    return sent


def test_visitor_is_told_who_accepted_and_nothing_before(engagement, alice, bob, visitor_frames):
    transfer = request_to(bob, engagement, alice, warm_message="VIP")
    assert visitor_frames == []  # a request may still be declined: the visitor hears nothing yet
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert visitor_frames == [(engagement.pk, {"type": "engagement.transferring", "to_name": "Bob Baker"})]
    services.transfer_now(transfer_id=transfer.pk, operator=alice)
    assert len(visitor_frames) == 1  # completion reaches the visitor as engagement.state (who joined)


def test_an_accepted_transfer_that_falls_through_takes_the_notice_back(engagement, alice, bob, visitor_frames):
    transfer = accepted(engagement, alice, bob)
    services.cancel_transfer(transfer_id=transfer.pk, operator=alice)
    assert visitor_frames[-1] == (engagement.pk, {"type": "engagement.transferring", "to_name": None})


def test_dialog_queue_list_offers_the_estimate_of_a_newcomer(engagement, alice, queue, queue_b):
    # the engagement's own answer started queue's history; set it to W = 150 s: alice (available) serves it
    QueueWaitEstimate.objects.update_or_create(queue=queue, defaults={"average_wait_seconds": 150, "samples": 4})
    QueueWaitEstimateFactory(queue=queue_b, samples=0)  # no history: nothing
    options = {option.queue: option.as_dict() for option in queues_for_transfer(engagement=engagement)}
    assert options[queue]["estimated_wait_minutes"] == 3
    assert options[queue_b]["estimated_wait_minutes"] is None


def test_a_visitor_who_reconnects_is_told_again_where_they_are_going(engagement, alice, bob):
    def hello():
        return visitor_hello(Engagement.objects.select_related("owner", "visitor", "queue").get(pk=engagement.pk))

    transfer = request_to(bob, engagement, alice, warm_message="VIP")
    assert "transferring_to" not in hello()  # requested only: it may still be declined
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    assert hello()["transferring_to"] == "Bob Baker"
    services.transfer_now(transfer_id=transfer.pk, operator=alice)
    joined = hello()
    assert "transferring_to" not in joined and joined["operator_name"] == "Bob Baker"
