"""Overflow: after N seconds, or while nobody of the queue is available, waiting work is also
offered to the overflow queue; it keeps its place and exactly one operator gets it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.models import Engagement, Ownership
from helpdesk.services.engagements import start_chat
from helpdesk.services.overflow import overflow_due_engagements
from helpdesk.services.reassignment import requeue_engagement
from helpdesk.services.routing import route_engagement, route_waiting_for_operator
from tests.factories import EngagementFactory, OperatorFactory, QueueFactory, QueueOverflowFactory, TeamFactory
from tests.helpdesk.test_routing_concurrency import run_in_threads


def two_queues(*, after_seconds=60, when_no_operator=False):
    home_team = TeamFactory()
    overflow_team = TeamFactory(site=home_team.site)
    home = QueueFactory(site=home_team.site, teams=[home_team])
    overflow = QueueFactory(site=home.site, teams=[overflow_team])
    QueueOverflowFactory(
        queue=home, overflow_queue=overflow, after_seconds=after_seconds, when_no_operator=when_no_operator
    )
    return home, overflow, home_team, overflow_team


@pytest.mark.django_db
def test_joining_a_queue_stores_when_it_overflows():
    home, *_ = two_queues(after_seconds=45)
    engagement = start_chat(queue=home)
    assert engagement.overflow_at == engagement.queued_at + timedelta(seconds=45)
    assert start_chat(queue=QueueFactory()).overflow_at is None


@pytest.mark.django_db
def test_sweep_offers_due_engagements_once_and_leaves_the_others(django_capture_on_commit_callbacks):
    home, overflow, _, overflow_team = two_queues()
    now = timezone.now()
    due = EngagementFactory(queue=home, queued_at=now - timedelta(seconds=90), overflow_at=now - timedelta(seconds=30))
    not_yet = EngagementFactory(queue=home, queued_at=now, overflow_at=now + timedelta(seconds=60))
    with django_capture_on_commit_callbacks(execute=True):
        assert overflow_due_engagements() == 1
        assert overflow_due_engagements() == 0  # idempotent
    due.refresh_from_db()
    not_yet.refresh_from_db()
    assert due.overflow_queue == overflow and due.state == Engagement.State.QUEUED  # nobody free: still waiting
    assert due.queue == home  # keeps its own line
    assert not_yet.overflow_queue is None


@pytest.mark.django_db
def test_nobody_available_in_the_queue_overflows_at_once_and_an_overflow_operator_gets_it(
    django_capture_on_commit_callbacks,
):
    home, overflow, _, overflow_team = two_queues(after_seconds=None, when_no_operator=True)
    helper = OperatorFactory(site=home.site, teams=[overflow_team], available=["chat"])
    with django_capture_on_commit_callbacks(execute=True):
        engagement = start_chat(queue=home)
    engagement.refresh_from_db()
    assert engagement.state == Engagement.State.QUEUED  # overflow operators do not get it before it overflows
    with django_capture_on_commit_callbacks(execute=True):
        assert overflow_due_engagements() == 1
    engagement.refresh_from_db()
    assert engagement.owner == helper and engagement.overflow_queue == overflow


@pytest.mark.django_db
def test_an_overflowed_engagement_goes_to_the_home_queue_operator_first(django_capture_on_commit_callbacks):
    home, overflow, home_team, overflow_team = two_queues()
    engagement = EngagementFactory(queue=home, overflow_queue=overflow, overflow_at=timezone.now())
    OperatorFactory(site=home.site, teams=[overflow_team], available=["chat"])
    own = OperatorFactory(site=home.site, teams=[home_team], available=["chat"])
    assert route_engagement(engagement_id=engagement.pk) == own


@pytest.mark.django_db(transaction=True)
def test_overflow_and_home_operators_answering_at_once_one_wins():
    """Both operators become free at the same moment and route: the engagement row lock decides."""
    home, overflow, home_team, overflow_team = two_queues()
    for _ in range(5):
        home_operator = OperatorFactory(site=home.site, teams=[home_team], available=["chat"])
        overflow_operator = OperatorFactory(site=home.site, teams=[overflow_team], available=["chat"])
        engagement = EngagementFactory(queue=home, overflow_queue=overflow, overflow_at=timezone.now())
        results = {}

        def answer(operator):
            results[operator.pk] = route_waiting_for_operator(operator_id=operator.pk, media="chat")

        errors = run_in_threads([lambda: answer(home_operator), lambda: answer(overflow_operator)])
        assert not errors
        assert sorted(results.values()) == [0, 1]
        owners = list(Ownership.objects.filter(engagement=engagement).values_list("operator_id", flat=True))
        assert len(owners) == 1
        engagement.refresh_from_db()
        assert engagement.owner_id == owners[0] and engagement.state == Engagement.State.ACTIVE
        for operator in (home_operator, overflow_operator):
            operator.availabilities.filter(media="chat").update(status="offline")


@pytest.mark.django_db
def test_requeued_to_another_queue_it_leaves_the_old_overflow_and_takes_the_new_timer():
    home, overflow, *_ = two_queues()
    other, _, _, _ = two_queues(after_seconds=120)
    engagement = EngagementFactory(queue=home, overflow_queue=overflow, overflow_at=timezone.now())
    requeue_engagement(engagement_id=engagement.pk, queue_id=other.pk)
    engagement.refresh_from_db()
    assert engagement.overflow_queue is None
    assert engagement.overflow_at == engagement.queued_at + timedelta(seconds=120)
