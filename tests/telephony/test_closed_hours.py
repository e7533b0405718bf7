"""Calls outside a voice queue's business hours: its closed action (say so and hang up, or another queue)."""

import json
from datetime import time

import pytest
from django.utils import timezone

from helpdesk.models import Engagement, OpeningSlot, QueueHours
from telephony import services
from telephony.errors import CallError
from telephony.models import Call
from tests.factories import HolidayFactory, OpeningSlotFactory, QueueHoursFactory
from tests.telephony.test_providers import sign, twilio_http  # noqa: F401 (a fixture)


def close_today(queue, **hours):
    """Closed: a holiday today, whatever the slots."""
    QueueHoursFactory(queue=queue, time_zone="UTC", **hours)
    OpeningSlotFactory(queue=queue, weekday=OpeningSlot.Weekday.MONDAY, opens_at=time(9), closes_at=time(17))
    HolidayFactory(queue=queue, date=timezone.now().date())


def test_a_call_to_a_closed_line_is_refused_with_its_message(centre):
    close_today(centre.sales, closed_message="Sales is closed today; call again tomorrow from 9.")
    with pytest.raises(CallError) as refused:
        services.place_call(queue=centre.sales, caller_name="Pat")
    assert (refused.value.code, refused.value.message) == (
        "closed",
        "Sales is closed today; call again tomorrow from 9.",
    )
    assert not Engagement.objects.exists() and not Call.objects.exists()


def test_a_call_to_a_closed_line_goes_to_its_other_queue(centre):
    close_today(centre.sales, closed_action=QueueHours.ClosedAction.QUEUE, closed_queue=centre.resolution)
    call = services.place_call(queue=centre.sales, caller_name="Pat")
    assert call.engagement.queue == centre.resolution


def test_twilio_caller_of_a_closed_line_hears_the_message_and_the_line_ends(client, centre, twilio_http):  # noqa: F811
    close_today(centre.sales, closed_message="We are closed.")
    url = f"/phone/webhooks/twilio/voice/?queue={centre.sales.pk}"
    params = {"CallSid": "CA-IN", "From": "+442079460958", "To": "+442079460000"}
    answer = client.post(url, params, HTTP_X_TWILIO_SIGNATURE=sign(params, "https://helpdesk.example.com" + url))
    assert answer.status_code == 200
    assert answer.content.decode().endswith("<Response><Say>We are closed.</Say><Hangup /></Response>")
    assert not Call.objects.exists()


def test_the_simulated_caller_is_told_the_line_is_closed(client, centre):
    close_today(centre.sales, closed_message="Closed for the holiday.")
    answer = client.post(
        "/phone/simulator/api/calls/", json.dumps({"queue_id": centre.sales.pk}), content_type="application/json"
    )
    assert answer.status_code == 409
    assert answer.json()["error"] == {"code": "closed", "message": "Closed for the holiday."}
    assert not Call.objects.exists()
