"""Races on PostgreSQL: acts run in real concurrent transactions (threads, one connection each)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
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


def waiting_for_locks() -> int:
    """Backends of this test database waiting for a lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def race_behind_lock(transfer_id, *acts, ordered: bool = False):
    """Like `race`, but every act is already queued on the transfer's row lock (held meanwhile by
    another transaction) before any may run: when it is let go they truly contend, in whatever order
    PostgreSQL grants it. Asserts that they all waited, so the race cannot pass by running one by one.

    `ordered`: the acts join the queue one after the other, so the first given gets the lock first and
    the others run on a row that changed while they waited.
    """
    held, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                Transfer.objects.select_for_update().get(pk=transfer_id)
                held.set()
                release.wait(20)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    results: list = [None] * len(acts)

    def until_waiting(count):
        deadline = time.monotonic() + 10
        while waiting_for_locks() < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return waiting_for_locks()

    if ordered:
        racers = []
        for index, act in enumerate(acts):
            racer = threading.Thread(target=lambda i=index, a=act: results.__setitem__(i, race(a)[0]))
            racer.start()
            racers.append(racer)
            until_waiting(index + 1)
    else:
        racers = [threading.Thread(target=lambda: results.__setitem__(slice(None), race(*acts)))]
        racers[0].start()
    queued = until_waiting(len(acts))
    release.set()
    holder.join(20)
    for racer in racers:
        racer.join(40)
    assert queued >= len(acts), f"only {queued} of {len(acts)} acts waited for the lock"
    return results


def overdue(transfer_id):
    past = timezone.now() - timedelta(seconds=1)
    Transfer.objects.filter(pk=transfer_id).update(expires_at=past)
    TransferOffer.objects.filter(transfer_id=transfer_id, outcome="pending").update(expires_at=past)


def test_two_accepts_of_the_current_queue_offer_one_wins_the_other_is_refused(
    engagement, alice, bob, carol, team, site
):
    """Bob's offer timed out and moved to Carol. Carol, Bob (asked before) and Dave (never asked) press
    Accept at the same moment, all queued on the row lock: Carol gets it, whatever the order; Bob is
    told it was taken, Dave that it was not offered to him (or taken, if Carol went first)."""
    from tests.factories import OperatorFactory, QueueFactory

    billing = QueueFactory(site=site, name="Billing chat", teams=[team])
    Availability.objects.filter(operator=bob, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    dave = OperatorFactory(site=site, display_name="Dave Dunn", available=["chat"])  # not in the team
    for _ in range(3):
        transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=billing.pk)
        overdue(transfer.pk)
        services.expire_transfer(transfer_id=transfer.pk)
        assert Transfer.objects.get(pk=transfer.pk).offered_to == carol
        carol_result, bob_result, dave_result = race_behind_lock(
            transfer.pk,
            lambda t=transfer: services.accept_transfer(transfer_id=t.pk, operator=carol).state,
            lambda t=transfer: services.accept_transfer(transfer_id=t.pk, operator=bob).state,
            lambda t=transfer: services.accept_transfer(transfer_id=t.pk, operator=dave).state,
        )
        assert carol_result == ("ok", "accepted")
        assert bob_result == ("error", "already_taken")
        assert dave_result in (("error", "not_offered"), ("error", "already_taken"))
        transfer.refresh_from_db()
        assert (transfer.state, transfer.accepted_by) == ("accepted", carol)
        assert list(transfer.offers.values_list("operator", "outcome").order_by("offered_at")) == [
            (bob.pk, "expired"),
            (carol.pk, "accepted"),
        ]
        services.cancel_transfer(transfer_id=transfer.pk, operator=alice)  # next round


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


def test_transfer_now_takes_the_engagements_lock_first_and_then_sees_it_as_committed(engagement, alice, bob):
    """Transfer Now's first statement locks the transfer's engagement (found through the transfer):
    held meanwhile by the visitor leaving, it waits there, before reading or locking the transfer,
    and then finds the chat ended (and the transfer cancelled with it) instead of handing it over."""
    from helpdesk.services.engagements import end_engagement

    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    held, release = threading.Event(), threading.Event()

    def visitor_leaves():
        try:
            with transaction.atomic():
                Engagement.objects.select_for_update().get(pk=engagement.pk)
                held.set()
                release.wait(20)
                end_engagement(engagement_id=engagement.pk, reason="visitor_left")
        finally:
            connection.close()

    leaving = threading.Thread(target=visitor_leaves)
    leaving.start()
    assert held.wait(10)
    result: list = []
    clicking = threading.Thread(target=lambda: result.extend(race(lambda: services.transfer_now(
        transfer_id=transfer.pk, operator=alice))))  # fmt: skip
    clicking.start()
    deadline = time.monotonic() + 10
    while waiting_for_locks() < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert waiting_for_locks() == 1
    with connection.cursor() as cursor:  # nobody holds or waits for the transfer's row yet
        cursor.execute("SELECT id FROM transfers_transfer WHERE id = %s FOR UPDATE NOWAIT", [transfer.pk])
    release.set()
    leaving.join(20)
    clicking.join(20)
    assert result[0][0] == "error"
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason) == ("cancelled", "visitor_left")
    assert Engagement.objects.get(pk=engagement.pk).owner == alice


def test_transfer_now_of_no_such_transfer_is_refused_as_invalid(alice):
    with pytest.raises(TransferError) as refused:
        services.transfer_now(transfer_id=987654321, operator=alice)
    assert refused.value.code == "invalid"


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


def test_decline_racing_expiry_has_exactly_one_outcome(engagement, alice, bob):
    """The deadline passed as Bob clicks Decline: decline and expiry both wait on the row, one decides."""
    outcomes = set()
    for _ in range(4):
        transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
        overdue(transfer.pk)
        decline_result, expire_result = race_behind_lock(
            transfer.pk,
            lambda t=transfer: services.decline_transfer(transfer_id=t.pk, operator=bob, reason="Busy").state,
            lambda t=transfer: services.expire_transfer(transfer_id=t.pk) is not None,
        )
        transfer.refresh_from_db()
        outcomes.add(transfer.state)
        [offer] = transfer.offers.all()
        if transfer.state == "declined":
            assert decline_result == ("ok", "declined") and expire_result == ("ok", False)
            assert (transfer.end_reason, transfer.reason_text, offer.outcome) == ("declined", "Busy", "declined")
            assert transfer.expired_by == ""
        else:
            assert transfer.state == "expired"
            assert decline_result == ("error", "no_longer_open") and expire_result == ("ok", True)
            assert (transfer.end_reason, offer.outcome) == ("not_answered", "expired")
        assert transfer.ended_at is not None
    assert outcomes <= {"declined", "expired"}


def test_decline_racing_cancel_has_exactly_one_outcome(engagement, alice, bob):
    for _ in range(4):
        transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
        decline_result, cancel_result = race_behind_lock(
            transfer.pk,
            lambda t=transfer: services.decline_transfer(transfer_id=t.pk, operator=bob).state,
            lambda t=transfer: services.cancel_transfer(transfer_id=t.pk, operator=alice).state,
        )
        transfer.refresh_from_db()
        [offer] = transfer.offers.all()
        if transfer.state == "declined":
            assert decline_result == ("ok", "declined") and cancel_result == ("error", "no_longer_open")
            assert offer.outcome == "declined"
        else:
            assert (transfer.state, transfer.end_reason) == ("cancelled", "initiator_cancelled")
            assert cancel_result == ("ok", "cancelled") and decline_result == ("error", "no_longer_open")
            assert offer.outcome == "withdrawn"


def test_decline_racing_cancel_of_a_queue_transfer_leaves_nobody_asked(engagement, alice, bob, carol, team, site):
    """A declined queue offer moves on; a cancel at the same moment must not leave the next offer open."""
    from tests.factories import QueueFactory

    billing = QueueFactory(site=site, name="Billing chat", teams=[team])
    Availability.objects.filter(operator=bob, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    for _ in range(3):
        transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=billing.pk)
        decline_result, cancel_result = race_behind_lock(
            transfer.pk,
            lambda t=transfer: services.decline_transfer(transfer_id=t.pk, operator=bob).state,
            lambda t=transfer: services.cancel_transfer(transfer_id=t.pk, operator=alice).state,
        )
        transfer.refresh_from_db()
        assert cancel_result == ("ok", "cancelled"), (decline_result, cancel_result)
        assert (transfer.state, transfer.end_reason) == ("cancelled", "initiator_cancelled")
        assert not transfer.offers.filter(outcome="pending").exists()
        offers = list(transfer.offers.values_list("operator", "outcome").order_by("offered_at"))
        if decline_result == ("ok", "requested"):  # declined first: Carol was asked, then withdrawn
            assert offers == [(bob.pk, "declined"), (carol.pk, "withdrawn")]
        else:
            assert decline_result == ("error", "no_longer_open")
            assert offers == [(bob.pk, "withdrawn")]


@pytest.mark.parametrize("decline_first", [True, False], ids=["decline first", "cancel first"])
def test_cancel_waiting_behind_a_decline_that_moved_the_queue_offer_on(
    engagement, alice, bob, carol, team, site, decline_first
):
    """Both orders, forced: the act that waited runs on a transfer changed meanwhile (regression: the
    cancel that waited behind the decline read the new `offered_to_id` with a stale `offered_to`)."""
    from tests.factories import QueueFactory

    billing = QueueFactory(site=site, name="Billing chat", teams=[team])
    Availability.objects.filter(operator=bob, media="chat").update(idle_since=timezone.now() - timedelta(hours=1))
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_queue_id=billing.pk)
    decline = lambda: services.decline_transfer(transfer_id=transfer.pk, operator=bob).state  # noqa: E731
    cancel = lambda: services.cancel_transfer(transfer_id=transfer.pk, operator=alice).state  # noqa: E731
    if decline_first:
        decline_result, cancel_result = race_behind_lock(transfer.pk, decline, cancel, ordered=True)
        assert decline_result == ("ok", "requested")
    else:
        cancel_result, decline_result = race_behind_lock(transfer.pk, cancel, decline, ordered=True)
        assert decline_result == ("error", "no_longer_open")
    assert cancel_result == ("ok", "cancelled")
    transfer.refresh_from_db()
    assert (transfer.state, transfer.end_reason) == ("cancelled", "initiator_cancelled")
    expected = [(bob.pk, "declined"), (carol.pk, "withdrawn")] if decline_first else [(bob.pk, "withdrawn")]
    assert list(transfer.offers.values_list("operator", "outcome").order_by("offered_at")) == expected
