"""Routing's rule: available for chat, under capacity, fewest engagements then longest idle first;
and an operator who becomes available or frees capacity gets the oldest waiting engagement they serve.

Concurrency (several routers at once) is proven in test_routing_concurrency.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk.models import Availability, Engagement, Media
from helpdesk.services.engagements import end_engagement, start_chat
from helpdesk.services.presence import set_availability
from helpdesk.services.routing import candidate_availabilities, route_engagement
from tests.factories import EngagementFactory, OperatorFactory, QueueFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    return TeamFactory()


@pytest.fixture
def queue(team):
    return QueueFactory(site=team.site, teams=[team], name="General chat")


def idle_for(operator, minutes: float) -> None:
    Availability.objects.filter(operator=operator, media=Media.CHAT).update(
        idle_since=timezone.now() - timedelta(minutes=minutes)
    )


def load_of(operator) -> int:
    return Availability.objects.get(operator=operator, media=Media.CHAT).load


def test_two_chats_go_one_to_each_of_two_idle_operators(team, queue):
    """A long-idle operator who already holds a chat does not win over a fully idle one."""
    ann = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=3)
    ben = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=3)
    idle_for(ann, 10)
    idle_for(ben, 1)
    first, second = EngagementFactory(queue=queue), EngagementFactory(queue=queue)

    assert route_engagement(engagement_id=first.pk) == ann  # both free: the longest idle
    assert route_engagement(engagement_id=second.pk) == ben  # ann holds one now: ben has fewer
    assert (load_of(ann), load_of(ben)) == (1, 1)


def test_three_chats_spread_before_anyone_gets_a_second(team, queue):
    operators = [OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=3) for _ in range(3)]
    for minutes, operator in zip((30, 20, 10), operators, strict=True):
        idle_for(operator, minutes)
    routed = [route_engagement(engagement_id=EngagementFactory(queue=queue).pk) for _ in range(4)]
    assert routed == [operators[0], operators[1], operators[2], operators[0]]


def test_candidates_are_ordered_by_load_then_idle_time_then_pk(team, queue):
    busy_long_idle, free_never_idle, free_idle, free_recent = (
        OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=3) for _ in range(4)
    )
    Availability.objects.filter(operator=busy_long_idle, media=Media.CHAT).update(
        load=1, idle_since=timezone.now() - timedelta(hours=3)
    )
    Availability.objects.filter(operator=free_never_idle, media=Media.CHAT).update(idle_since=None)
    idle_for(free_idle, 30)
    idle_for(free_recent, 1)
    full = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=1)
    Availability.objects.filter(operator=full, media=Media.CHAT).update(load=1)
    ordered = [a.operator for a in candidate_availabilities(queue=queue)]
    assert ordered == [free_never_idle, free_idle, free_recent, busy_long_idle]


def test_operator_becoming_available_gets_the_oldest_waiting_engagement_they_serve(
    team, queue, django_capture_on_commit_callbacks
):
    operator = OperatorFactory(site=team.site, teams=[team], chat_capacity=1)
    other_queue = QueueFactory(site=team.site, teams=[TeamFactory(site=team.site)])
    now = timezone.now()
    not_theirs = EngagementFactory(queue=other_queue, queued_at=now - timedelta(minutes=9))
    oldest = EngagementFactory(queue=queue, queued_at=now - timedelta(minutes=5))
    newer = EngagementFactory(queue=queue, queued_at=now - timedelta(minutes=2))

    with django_capture_on_commit_callbacks(execute=True):
        set_availability(operator=operator, media=Media.CHAT, status=Availability.Status.AVAILABLE)

    states = {e.pk: (e.state, e.owner_id) for e in Engagement.objects.all()}
    assert states[oldest.pk] == (Engagement.State.ACTIVE, operator.pk)
    assert states[newer.pk] == (Engagement.State.QUEUED, None)  # capacity 1: full now
    assert states[not_theirs.pk] == (Engagement.State.QUEUED, None)  # not a queue they serve


def test_operator_ending_a_chat_gets_the_oldest_waiting_engagement(team, queue, django_capture_on_commit_callbacks):
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=1)
    with django_capture_on_commit_callbacks(execute=True):
        current = start_chat(queue=queue)
    assert Engagement.objects.get(pk=current.pk).owner == operator
    now = timezone.now()
    newer = EngagementFactory(queue=queue, queued_at=now - timedelta(minutes=1))
    oldest = EngagementFactory(queue=queue, queued_at=now - timedelta(minutes=4))

    with django_capture_on_commit_callbacks(execute=True):
        end_engagement(engagement_id=current.pk, reason=Engagement.EndReason.OPERATOR_ENDED, operator=operator)

    oldest.refresh_from_db()
    newer.refresh_from_db()
    assert (oldest.state, oldest.owner_id) == (Engagement.State.ACTIVE, operator.pk)
    assert (newer.state, newer.owner_id) == (Engagement.State.QUEUED, None)
    assert load_of(operator) == 1


def test_a_freed_operator_with_nothing_waiting_on_the_media_costs_one_read(team, queue, django_assert_num_queries):
    """The usual case (someone free, no queue) is one indexed read, no transaction and no lock;
    a chat waiting only on another media does not change that, one on theirs is routed."""
    from helpdesk.services.routing import route_waiting_for_operator

    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=2)
    voice_queue = QueueFactory(site=team.site, teams=[team], media=Media.VOICE)
    EngagementFactory(queue=voice_queue, media=Media.VOICE)
    with django_assert_num_queries(1):
        assert route_waiting_for_operator(operator_id=operator.pk, media=Media.CHAT) == 0
    waiting = EngagementFactory(queue=queue)
    assert route_waiting_for_operator(operator_id=operator.pk, media=Media.CHAT) == 1
    waiting.refresh_from_db()
    assert (waiting.state, waiting.owner_id) == (Engagement.State.ACTIVE, operator.pk)
