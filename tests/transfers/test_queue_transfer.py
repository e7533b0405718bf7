"""A transfer to a queue: offered to its operators in turn, waiting when nobody is free, and
ending when everyone declined (ADR 0001)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.models import Availability
from helpdesk.services.presence import set_availability
from tests.factories import OperatorFactory, QueueFactory
from tests.transfers.conftest import (
    error_code,
    give_engagement,
    idle_order,
    make_overdue,
    offers_of,
    request_to,
    set_status,
)
from transfers import services
from transfers.errors import TransferError
from transfers.models import Transfer

pytestmark = pytest.mark.django_db


# --- queue target ----------------------------------------------------------------------------------


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
