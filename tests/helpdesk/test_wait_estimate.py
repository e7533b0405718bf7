"""The wait estimate (docs/metrics.md): an EWMA of waits per queue, checked against hand-computed values."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from helpdesk import selectors
from helpdesk.models import Engagement, QueueWaitEstimate
from helpdesk.services.routing import route_engagement
from helpdesk.services.wait_estimate import next_average, record_answer
from tests.factories import EngagementFactory, OperatorFactory, QueueFactory, TeamFactory

pytestmark = pytest.mark.django_db


def answer_after(queue, seconds: float) -> None:
    queued_at = timezone.now() - timedelta(hours=1)
    engagement = EngagementFactory(queue=queue, queued_at=queued_at)
    record_answer(engagement=engagement, answered_at=queued_at + timedelta(seconds=seconds))


def test_ewma_step_by_hand():
    assert next_average(previous=0, samples=0, wait_seconds=60, weight=0.3) == 60
    assert next_average(previous=60, samples=1, wait_seconds=120, weight=0.3) == pytest.approx(78)
    assert next_average(previous=78, samples=2, wait_seconds=30, weight=0.3) == pytest.approx(63.6)


@override_settings(WAIT_ESTIMATE_ALPHA=0.3)
def test_each_answer_folds_its_wait_into_the_queue_average():
    queue = QueueFactory()
    for wait in (60, 120, 30):
        answer_after(queue, wait)
    estimate = QueueWaitEstimate.objects.get(queue=queue)
    # W1 = 60; W2 = 0.3*120 + 0.7*60 = 78; W3 = 0.3*30 + 0.7*78 = 63.6
    assert estimate.average_wait_seconds == pytest.approx(63.6)
    assert estimate.samples == 3


def test_offline_messages_are_no_waits():
    engagement = EngagementFactory(kind=Engagement.Kind.OFFLINE_MESSAGE)
    record_answer(engagement=engagement, answered_at=timezone.now())
    assert not QueueWaitEstimate.objects.filter(queue=engagement.queue).exists()


def test_visitor_is_told_what_is_left_of_the_average_in_whole_minutes_at_least_one():
    assert selectors.minutes_left(average_wait_seconds=63.6, waited_seconds=0) == 2
    assert selectors.minutes_left(average_wait_seconds=63.6, waited_seconds=10) == 1
    assert selectors.minutes_left(average_wait_seconds=300, waited_seconds=59) == 5  # 241 s left: about 5 min
    assert selectors.minutes_left(average_wait_seconds=63.6, waited_seconds=500) == 1  # waited longer than usual


def test_no_estimate_without_history_or_without_an_available_operator():
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team])
    waiting = EngagementFactory(queue=queue)
    assert selectors.wait_estimate_of(engagement=waiting) is None  # no history
    QueueWaitEstimate.objects.create(queue=queue, average_wait_seconds=240, samples=4)
    assert selectors.wait_estimate_of(engagement=waiting) is None  # nobody available
    OperatorFactory(site=team.site, teams=[team], available=["voice"])
    assert selectors.wait_estimate_of(engagement=waiting) is None  # available, but not on chat
    OperatorFactory(site=team.site, teams=[team], available=["chat"])
    assert selectors.wait_estimate_of(engagement=waiting) == 4


def test_routing_an_engagement_records_its_wait(django_capture_on_commit_callbacks):
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team])
    engagement = EngagementFactory(queue=queue, queued_at=timezone.now() - timedelta(seconds=90))
    OperatorFactory(site=team.site, teams=[team], available=["chat"])
    with django_capture_on_commit_callbacks(execute=True):
        assert route_engagement(engagement_id=engagement.pk) is not None
    estimate = QueueWaitEstimate.objects.get(queue=queue)
    assert estimate.samples == 1
    assert estimate.average_wait_seconds == pytest.approx(90, abs=2)
