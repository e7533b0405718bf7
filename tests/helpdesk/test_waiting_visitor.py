"""What a waiting visitor is told: place and estimate over the socket, pushed as they change; the
closed page and its offline form; "transferring you to …" during a transfer."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse
from django.utils import timezone

from helpdesk.models import Engagement, OfflineMessage, OpeningSlot, QueueHours
from helpdesk.services.engagements import end_engagement, start_chat
from helpdesk.services.presence import set_availability
from tests.factories import (
    OpeningSlotFactory,
    OperatorFactory,
    QueueFactory,
    QueueHoursFactory,
    QueueWaitEstimateFactory,
    TeamFactory,
)
from tests.helpdesk.chat_helpers import connect, receive_until, visitor_socket, visitor_token


def staffed_queue(*, average_wait_seconds=300.0):
    """A queue with history (W = 5 min) and an operator who is busy (away), so chats wait."""
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team])
    QueueWaitEstimateFactory(queue=queue, average_wait_seconds=average_wait_seconds)
    operator = OperatorFactory(site=team.site, teams=[team])
    return queue, operator


@pytest.mark.django_db(transaction=True)
def test_estimate_arrives_with_the_hello_and_follows_availability_and_the_line():
    queue, operator = staffed_queue()
    first = start_chat(queue=queue, visitor_name="First")
    second = start_chat(queue=queue, visitor_name="Second")

    async def scenario():
        visitor = visitor_socket(second)
        hello = await connect(visitor)
        assert (hello["position"], hello["estimated_wait_minutes"]) == (2, None)  # nobody available: no estimate
        await database_sync_to_async(set_availability)(operator=operator, media="chat", status="away")
        await database_sync_to_async(set_availability)(operator=operator, media="chat", status="available")
        routed = await receive_until(visitor, "queue.position")  # the operator took the first chat
        # its answer after ~1 s moved W: 0.3 * 1 + 0.7 * 300 = 210.3 s, minus ~1 s waited: about 4 min
        assert routed["position"] == 1 and routed["estimated_wait_minutes"] == 4
        await visitor.disconnect()

    asyncio.run(scenario())
    assert Engagement.objects.get(pk=first.pk).owner == operator


@pytest.mark.django_db(transaction=True)
def test_position_frames_carry_the_estimate_when_the_line_moves():
    queue, operator = staffed_queue()
    OperatorFactory(site=queue.site, teams=list(queue.teams.all()), available=["voice"])
    set_availability(operator=operator, media="chat", status="available")
    operator.availabilities.filter(media="chat").update(capacity=1, load=1)  # full: chats wait, estimate known
    first = start_chat(queue=queue)
    second = start_chat(queue=queue)

    async def scenario():
        visitor = visitor_socket(second)
        hello = await connect(visitor)
        assert (hello["position"], hello["estimated_wait_minutes"]) == (2, 5)
        await database_sync_to_async(end_engagement)(engagement_id=first.pk, reason="visitor_left")
        moved = await receive_until(visitor, "queue.position")
        assert moved == {
            "type": "queue.position",
            "position": 1,
            "queued_at": second.queued_at.isoformat(),
            "estimated_wait_minutes": 5,
        }
        await visitor.disconnect()

    asyncio.run(scenario())


@pytest.mark.django_db
def test_chat_page_renders_place_and_estimate(client):
    queue, operator = staffed_queue(average_wait_seconds=130)
    set_availability(operator=operator, media="chat", status="available")
    operator.availabilities.filter(media="chat").update(capacity=1, load=1)
    engagement = start_chat(queue=queue)
    page = client.get(reverse("visitor_chat", args=[visitor_token(engagement)])).content.decode()
    assert 'id="position">1<' in page
    assert "Estimated wait: about <strong>3</strong> min" in page


@pytest.fixture
def closed_queue():
    """Open on Mondays 09:00-09:01 only (UTC), and never on the day of the test run at this minute."""
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], name="Billing")
    QueueHoursFactory(queue=queue, time_zone="UTC")
    weekday = (timezone.now() + timedelta(days=1)).weekday()
    OpeningSlotFactory(queue=queue, weekday=OpeningSlot.Weekday(weekday), opens_at=time(9), closes_at=time(9, 1))
    return queue


@pytest.mark.django_db
def test_starting_a_chat_in_a_closed_queue_leads_to_the_offline_form(client, closed_queue):
    picker = client.get(reverse("visitor_start")).content.decode()
    assert "Closed now · opens tomorrow at 09:00 (UTC)" in picker
    response = client.post(reverse("visitor_start"), {"queue": closed_queue.pk, "name": "Vera"})
    assert response.status_code == 302 and response.url == reverse("visitor_closed", args=[closed_queue.pk])
    assert not Engagement.objects.exists()
    page = client.get(response.url).content.decode()
    assert "Billing is closed right now" in page and "We open again tomorrow at 09:00 (UTC)." in page


@pytest.mark.django_db
def test_offline_form_says_what_is_wrong_then_stores_the_message(client, closed_queue):
    url = reverse("visitor_closed", args=[closed_queue.pk])
    bad = client.post(url, {"name": "", "email": "vera-at-example", "message": ""})
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "Please give your name." in text
    assert "That is not an e-mail address (it looks like name@example.com)." in text
    assert "Please write your message." in text
    assert not Engagement.objects.exists()
    good = client.post(url, {"name": "Vera", "email": "vera@example.com", "message": "Where is my refund?"})
    assert good.status_code == 200 and "your message is with us" in good.content.decode()
    stored = OfflineMessage.objects.select_related("engagement").get()
    assert stored.email == "vera@example.com" and stored.engagement.route_after is not None


@pytest.mark.django_db
def test_closed_page_of_an_open_queue_offers_a_chat(client):
    queue = QueueFactory(name="Sales")
    page = client.get(reverse("visitor_closed", args=[queue.pk])).content.decode()
    assert "Sales is open" in page and "Start a chat" in page


@pytest.mark.django_db
def test_a_closed_queue_with_an_open_stand_in_is_not_marked_closed_and_its_chat_goes_there(client, closed_queue):
    stand_in = QueueFactory(site=closed_queue.site, name="General")
    QueueHours.objects.filter(queue=closed_queue).update(
        closed_action=QueueHours.ClosedAction.QUEUE, closed_queue=stand_in
    )
    assert "Closed now" not in client.get(reverse("visitor_start")).content.decode()
    response = client.post(reverse("visitor_start"), {"queue": closed_queue.pk, "name": "Vera"})
    assert response.status_code == 302
    assert Engagement.objects.get().queue == stand_in
