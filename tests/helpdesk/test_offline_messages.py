"""Offline messages: left while a queue is closed, validated whole, routed once the queue opens."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from helpdesk.errors import ChatError
from helpdesk.models import Engagement, Message, Note, OfflineMessage, OpeningSlot
from helpdesk.services.offline import leave_offline_message
from helpdesk.services.routing import route_waiting_engagements
from tests.factories import OpeningSlotFactory, OperatorFactory, QueueFactory, QueueHoursFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_queue():
    """Open one minute a day, in an hour's time (so closed now), served by an available operator."""
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team])
    QueueHoursFactory(queue=queue, time_zone="UTC")
    opens = (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    for weekday in OpeningSlot.Weekday.values:
        OpeningSlotFactory(queue=queue, weekday=weekday, opens_at=opens.time(), closes_at=time(opens.hour, 59, 59))
    OperatorFactory(site=team.site, teams=[team], available=["chat"])
    return queue


@pytest.mark.parametrize(
    ("name", "email", "body", "code"),
    [
        ("", "vera@example.com", "Hello", "name_missing"),
        ("Vera", "", "Hello", "email_missing"),
        ("Vera", "not-an-address", "Hello", "email_invalid"),
        ("Vera", "vera@example.com", "   ", "empty"),
        ("Vera", "vera@example.com", "x" * 4001, "too_long"),
        ("V" * 101, "vera@example.com", "Hello", "too_long"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(closed_queue, name, email, body, code):
    with pytest.raises(ChatError) as refused:
        leave_offline_message(queue=closed_queue, name=name, email=email, body=body)
    assert refused.value.code == code
    assert not Engagement.objects.exists() and not OfflineMessage.objects.exists() and not Message.objects.exists()


def test_message_waits_for_the_opening_then_the_sweep_routes_it(closed_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        engagement = leave_offline_message(queue=closed_queue, name="Vera", email="vera@example.com", body="Refund?")
    engagement.refresh_from_db()
    assert engagement.kind == Engagement.Kind.OFFLINE_MESSAGE and engagement.state == Engagement.State.QUEUED
    assert engagement.route_after is not None and engagement.route_after > timezone.now()
    assert engagement.offline_message.email == "vera@example.com"
    assert list(engagement.messages.values_list("seq", "sender", "body")) == [(1, "visitor", "Refund?")]
    assert "vera@example.com" in Note.objects.get(engagement=engagement).body
    assert route_waiting_engagements() == 0  # still closed: an available operator does not get it
    Engagement.objects.filter(pk=engagement.pk).update(route_after=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert route_waiting_engagements() == 1  # the queue opened: the sweep hands it out
    engagement.refresh_from_db()
    assert engagement.state == Engagement.State.ACTIVE
