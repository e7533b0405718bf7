"""Races on PostgreSQL: acts run in real concurrent transactions (threads, one connection each)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from helpdesk.models import Availability, Engagement, Ownership
from tests.transfers.conftest import give_engagement
from transfers import services
from transfers.errors import TransferError
from transfers.models import Transfer, TransferOffer

pytestmark = pytest.mark.django_db(transaction=True)


def race(*acts):
    """Start every act at the same moment in its own thread; return each one's result or error code."""
    barrier = threading.Barrier(len(acts))
    results: list = [None] * len(acts)

    def run(index, act):
        try:
            barrier.wait()
            results[index] = ("ok", act())
        except TransferError as error:
            results[index] = ("error", error.code)
        except Exception as error:  # surfaced in the assertion message
            results[index] = ("crash", repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, act)) for i, act in enumerate(acts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def overdue(transfer_id):
    past = timezone.now() - timedelta(seconds=1)
    Transfer.objects.filter(pk=transfer_id).update(expires_at=past)
    TransferOffer.objects.filter(transfer_id=transfer_id, outcome="pending").update(expires_at=past)


def test_second_accept_of_queue_offer_is_told_it_was_taken(engagement, alice, bob, carol, team, site):
    """Bob's offer timed out and moved to Carol just as both press Accept: one wins, the other is told."""
    from tests.factories import QueueFactory

    billing = QueueFactory(site=site, name="Billing chat", teams=[team])
    Availability.objects.filter(operator=bob, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=billing.pk)
    overdue(transfer.pk)
    services.expire_transfer(transfer_id=transfer.pk)
    results = race(
        lambda: services.accept_transfer(transfer_id=transfer.pk, operator=bob).state,
        lambda: services.accept_transfer(transfer_id=transfer.pk, operator=carol).state,
    )
    assert results == [("error", "already_taken"), ("ok", "accepted")]
    transfer.refresh_from_db()
    assert transfer.accepted_by == carol
    assert TransferOffer.objects.filter(transfer=transfer, outcome="accepted").count() == 1


def test_two_accepts_of_one_offer_from_two_tabs_accept_it_once(engagement, alice, bob):
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    results = race(*[lambda: services.accept_transfer(transfer_id=transfer.pk, operator=bob).state] * 4)
    assert results == [("ok", "accepted")] * 4
    assert TransferOffer.objects.filter(transfer=transfer, outcome="accepted").count() == 1


def test_accept_racing_the_deadline_has_exactly_one_outcome(alice, bob, queue):
    """At the deadline, accept and expiry race; whichever wins, the transfer ends in one consistent state."""
    Availability.objects.filter(operator=alice, media="chat").update(capacity=10)
    for _ in range(6):
        engagement = give_engagement(owner=alice, queue=queue)
        transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
        deadline = timezone.now() + timedelta(milliseconds=150)
        Transfer.objects.filter(pk=transfer.pk).update(expires_at=deadline)

        def accept():
            time.sleep(max(0, (deadline - timezone.now()).total_seconds() - 0.002))
            return services.accept_transfer(transfer_id=transfer.pk, operator=bob).state

        def expire():
            time.sleep(max(0, (deadline - timezone.now()).total_seconds()))
            return services.expire_transfer(transfer_id=transfer.pk) is not None

        accept_result, expire_result = race(accept, expire)
        state = Transfer.objects.get(pk=transfer.pk).state
        if state == "accepted":
            assert accept_result == ("ok", "accepted") and expire_result == ("ok", False)
        else:
            assert state == "expired"
            assert accept_result == ("error", "no_longer_open") and expire_result == ("ok", True)


def test_transfer_now_clicked_twice_hands_over_once(engagement, alice, bob):
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    results = race(*[lambda: services.transfer_now(transfer_id=transfer.pk, operator=alice).state] * 3)
    assert results == [("ok", "completed")] * 3
    assert Ownership.objects.filter(engagement=engagement, started_because="transferred").count() == 1
    assert Engagement.objects.get(pk=engagement.pk).owner == bob
    assert Availability.objects.get(operator=bob, media="chat").load == 1
    assert Availability.objects.get(operator=alice, media="chat").load == 0


def test_two_requests_at_once_open_one_transfer(engagement, alice, bob, carol):
    results = race(
        lambda: services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk).pk,
        lambda: services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=carol.pk).pk,
    )
    assert sorted(kind for kind, _ in results) == ["error", "ok"]
    assert ("error", "already_open") in results
    assert Transfer.objects.filter(engagement=engagement).count() == 1


def test_cancel_racing_accept_leaves_one_consistent_state(engagement, alice, bob):
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    accept_result, cancel_result = race(
        lambda: services.accept_transfer(transfer_id=transfer.pk, operator=bob).state,
        lambda: services.cancel_transfer(transfer_id=transfer.pk, operator=alice).state,
    )
    transfer.refresh_from_db()
    assert transfer.state == "cancelled"  # cancel is allowed from requested and from accepted
    assert cancel_result == ("ok", "cancelled")
    assert accept_result in (("ok", "accepted"), ("error", "no_longer_open"))


def test_visitor_leaving_during_transfer_now_never_hands_over_an_ended_chat(engagement, alice, bob):
    from helpdesk.services.engagements import end_engagement

    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    now_result, end_result = race(
        lambda: services.transfer_now(transfer_id=transfer.pk, operator=alice).state,
        lambda: end_engagement(engagement_id=engagement.pk, reason="visitor_left").state,
    )
    transfer.refresh_from_db()
    assert end_result == ("ok", "ended")
    if now_result == ("ok", "completed"):
        assert transfer.state == "completed"
    else:
        assert transfer.state == "cancelled" and transfer.end_reason == "visitor_left"
    assert Availability.objects.get(operator=bob, media="chat").load == 0
    assert Availability.objects.get(operator=alice, media="chat").load == 0
