"""Providers behind one interface; the Twilio adapter tested at its boundary.

Twilio cannot be reached from here: the adapter is given a recording HTTP client, so these
tests check the exact requests it would send, and feed the webhook view signed, unsigned,
forged, replayed and out-of-order callbacks.
"""

import json

import pytest
from django.test import override_settings
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from helpdesk.models import Engagement
from telephony import services
from telephony.models import Call, Leg, ProviderEvent
from telephony.providers import TelephonyProvider, get_provider
from telephony.providers.base import DialRequest, LegRef
from telephony.providers.builtin import BuiltinProvider
from telephony.providers.twilio import TwilioProvider

TOKEN = "test-auth-token"
# A made-up account id, built so that it does not look like a real key to secret scanners.
ACCOUNT = "AC" + "0" * 32
TWILIO = {
    "TELEPHONY_PROVIDER": "twilio",
    "TWILIO_ACCOUNT_SID": ACCOUNT,
    "TWILIO_AUTH_TOKEN": TOKEN,
    "TWILIO_CALLER_ID": "+442079460000",
    "PUBLIC_BASE_URL": "https://helpdesk.example.com",
}
WEBHOOK = "/phone/webhooks/twilio/"


class RecordingHttpClient(HttpClient):
    """Answers every request with canned JSON and remembers what was asked."""

    def __init__(self, body=None):
        super().__init__(logger=None, is_async=False)
        self.requests = []
        self.body = body or {}

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None, **kwargs):
        self.requests.append({"method": method, "uri": uri, "params": params or {}, "data": data or {}})
        status = 204 if method == "DELETE" else 200
        return Response(status, json.dumps(self.body))


def test_the_setting_chooses_the_provider_like_a_session_engine():
    assert isinstance(get_provider(), BuiltinProvider)
    with override_settings(**TWILIO):
        assert isinstance(get_provider(), TwilioProvider)
    with override_settings(TELEPHONY_PROVIDER="telephony.providers.builtin.BuiltinProvider"):
        assert isinstance(get_provider(), BuiltinProvider)
    assert isinstance(BuiltinProvider(), TelephonyProvider)
    assert isinstance(TwilioProvider(auth_token=TOKEN), TelephonyProvider)


@override_settings(**TWILIO)
def test_dialing_a_leg_adds_a_participant_to_the_calls_conference():
    http = RecordingHttpClient({"call_sid": "CA111", "conference_sid": "CF1"})
    provider = TwilioProvider(http_client=http)
    result = provider.dial(
        DialRequest(
            call_id=7, leg_id=70, kind="phone", conference="helpdesk-call-7", to="+12025550123", ring_timeout_seconds=30
        )
    )
    assert result.provider_leg_id == "CA111"
    [request] = http.requests
    assert request["method"] == "POST"
    assert request["uri"].endswith(f"/Accounts/{ACCOUNT}/Conferences/helpdesk-call-7/Participants.json")
    data = request["data"]
    assert data["To"] == "+12025550123" and data["From"] == "+442079460000" and data["Timeout"] == 30
    assert data["StatusCallback"] == "https://helpdesk.example.com/phone/webhooks/twilio/"
    assert data["EarlyMedia"] == "true" and data["EndConferenceOnExit"] == "false"


@override_settings(**TWILIO)
def test_hold_unhold_hang_up_and_end_map_to_participant_and_conference_requests():
    http = RecordingHttpClient({"sid": "CF1", "status": "completed"})
    provider = TwilioProvider(http_client=http)
    leg = LegRef(
        call_id=7,
        leg_id=70,
        kind="customer",
        conference="helpdesk-call-7",
        provider_leg_id="CA1",
        provider_call_id="CF1",
    )
    provider.hold(leg)
    provider.unhold(leg)
    provider.hang_up(leg)
    provider.end_call(conference="helpdesk-call-7", provider_call_id="CF1")
    assert provider.ended_calls(["CF1"]) == ["CF1"]
    summary = [(r["method"], r["uri"].split(f"/2010-04-01/Accounts/{ACCOUNT}")[1], r["data"]) for r in http.requests]
    assert summary == [
        ("POST", "/Conferences/CF1/Participants/CA1.json", {"Hold": "true"}),
        ("POST", "/Conferences/CF1/Participants/CA1.json", {"Hold": "false"}),
        ("DELETE", "/Conferences/CF1/Participants/CA1.json", {}),
        ("POST", "/Conferences/CF1.json", {"Status": "completed"}),
        ("GET", "/Conferences/CF1.json", {}),
    ]


@override_settings(**TWILIO)
def test_hanging_up_before_the_conference_is_known_completes_the_call():
    http = RecordingHttpClient({"sid": "CA1"})
    TwilioProvider(http_client=http).hang_up(
        LegRef(call_id=7, leg_id=70, kind="phone", conference="x", provider_leg_id="CA1")
    )
    assert http.requests[0]["uri"].endswith("/Calls/CA1.json") and http.requests[0]["data"] == {"Status": "completed"}


# --- webhooks -------------------------------------------------------------------------------------


def sign(params: dict, url: str = "https://helpdesk.example.com" + WEBHOOK, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def post(client, params: dict, signature: str | None):
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature is not None else {}
    return client.post(WEBHOOK, params, **headers)


@pytest.fixture
def twilio_http(settings, monkeypatch):
    """Twilio as the provider, its HTTP client recording instead of reaching the network."""
    for name, value in TWILIO.items():
        setattr(settings, name, value)
    http = RecordingHttpClient({"call_sid": "CA-DIALLED"})
    original = TwilioProvider.__init__
    monkeypatch.setattr(
        TwilioProvider, "__init__", lambda self, **kwargs: original(self, **{**kwargs, "http_client": http})
    )
    return http


@pytest.fixture
def twilio_call(centre, twilio_http):
    """A call on the Twilio provider where A consults an outside number, dialled as CA-OUT."""
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, phone_number="+12025550123")
    Leg.objects.filter(pk=leg.pk).update(provider_leg_id="CA-OUT")
    Call.objects.filter(pk=call.pk).update(provider_call_id="CF-1")
    return call, leg


@pytest.mark.django_db(transaction=True)
def test_unsigned_and_forged_webhooks_are_rejected_and_change_nothing(client, twilio_call):
    call, leg = twilio_call
    params = {"CallSid": "CA-OUT", "CallStatus": "in-progress", "SequenceNumber": "1"}
    assert post(client, params, None).status_code == 403
    assert post(client, params, "bm90LWEtc2lnbmF0dXJl").status_code == 403
    assert post(client, params, sign(params, token="someone-elses-token")).status_code == 403
    tampered = dict(params, CallStatus="completed")
    assert post(client, tampered, sign(params)).status_code == 403
    leg.refresh_from_db()
    assert leg.state == Leg.State.RINGING and not ProviderEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_signed_answer_connects_the_leg_and_a_replay_is_ignored(client, twilio_call):
    call, leg = twilio_call
    params = {"CallSid": "CA-OUT", "CallStatus": "in-progress", "SequenceNumber": "1"}
    assert post(client, params, sign(params)).status_code == 204
    leg.refresh_from_db()
    assert leg.state == Leg.State.CONNECTED
    connected_at = leg.connected_at
    assert post(client, params, sign(params)).status_code == 204  # replayed
    leg.refresh_from_db()
    assert leg.connected_at == connected_at
    assert ProviderEvent.objects.filter(resource_id="CA-OUT").count() == 1


@pytest.mark.django_db(transaction=True)
def test_events_are_ordered_by_sequence_number_and_a_late_older_one_is_ignored(client, centre, twilio_call):
    call, leg = twilio_call
    ended = {"CallSid": "CA-OUT", "CallStatus": "busy", "SequenceNumber": "3"}
    late_answer = {"CallSid": "CA-OUT", "CallStatus": "in-progress", "SequenceNumber": "2"}
    assert post(client, ended, sign(ended)).status_code == 204
    assert post(client, late_answer, sign(late_answer)).status_code == 204
    leg.refresh_from_db()
    assert leg.state == Leg.State.ENDED and leg.end_reason == Leg.EndReason.BUSY
    assert Call.objects.get(pk=call.pk).mode == Call.Mode.NORMAL
    assert list(ProviderEvent.objects.order_by("sequence").values_list("sequence", "applied")) == [
        (2, False),
        (3, True),
    ]


@pytest.mark.django_db(transaction=True)
def test_conference_end_reported_by_the_provider_ends_the_call(client, twilio_call):
    call, leg = twilio_call
    params = {
        "ConferenceSid": "CF-1",
        "FriendlyName": f"helpdesk-call-{call.pk}",
        "StatusCallbackEvent": "conference-end",
        "SequenceNumber": "9",
    }
    assert post(client, params, sign(params)).status_code == 204
    call = Call.objects.select_related("engagement").get(pk=call.pk)
    assert call.provider_ended_at is not None and call.engagement.state == Engagement.State.ENDED
    assert not Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).exists()


@pytest.mark.django_db(transaction=True)
def test_call_control_on_twilio_sends_the_participant_requests(centre, twilio_http):
    call = centre.answered_call()
    Call.objects.filter(pk=call.pk).update(provider_call_id="CF-1")
    Leg.objects.filter(call=call, kind=Leg.Kind.CUSTOMER).update(provider_leg_id="CA-CUSTOMER")
    twilio_http.requests.clear()
    services.start_consult(call_id=call.pk, operator=centre.a, phone_number="+12025550123")
    hold, dial = twilio_http.requests
    assert hold["uri"].endswith("/Conferences/CF-1/Participants/CA-CUSTOMER.json") and hold["data"] == {"Hold": "true"}
    assert dial["uri"].endswith(f"/Conferences/helpdesk-call-{call.pk}/Participants.json")
    assert dial["data"]["To"] == "+12025550123"
    assert Leg.objects.get(call=call, kind=Leg.Kind.PHONE).provider_leg_id == "CA-DIALLED"


@pytest.mark.django_db(transaction=True)
def test_conference_start_records_the_providers_conference_id(client, centre, twilio_http):
    call = centre.answered_call()
    params = {
        "ConferenceSid": "CF-NEW",
        "FriendlyName": f"helpdesk-call-{call.pk}",
        "StatusCallbackEvent": "conference-start",
        "SequenceNumber": "1",
    }
    assert post(client, params, sign(params)).status_code == 204
    assert Call.objects.get(pk=call.pk).provider_call_id == "CF-NEW"


@pytest.mark.django_db
def test_the_builtin_provider_takes_no_webhooks(client):
    assert client.post("/phone/webhooks/builtin/", {"CallSid": "x"}).status_code == 403
    assert client.post(WEBHOOK, {"CallSid": "x"}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_an_incoming_twilio_call_joins_the_queue_and_its_conference(client, centre, twilio_http):
    url = f"/phone/webhooks/twilio/voice/?queue={centre.sales.pk}"
    params = {"CallSid": "CA-IN", "From": "+442079460958", "To": "+442079460000"}
    assert client.post(url, params).status_code == 403  # unsigned
    answer = client.post(url, params, HTTP_X_TWILIO_SIGNATURE=sign(params, "https://helpdesk.example.com" + url))
    assert answer.status_code == 200 and answer["Content-Type"] == "text/xml"
    call = Call.objects.select_related("engagement__visitor").get()
    twiml = answer.content.decode()
    assert "<Conference" in twiml and f"helpdesk-call-{call.pk}</Conference>" in twiml
    assert 'endConferenceOnExit="true"' in twiml
    assert call.engagement.queue == centre.sales and call.engagement.visitor.phone_number == "+442079460958"
    assert Leg.objects.get(call=call, kind=Leg.Kind.CUSTOMER).provider_leg_id == "CA-IN"
    assert Leg.objects.get(call=call, kind=Leg.Kind.OPERATOR).operator == centre.a  # routed and ringing


# --- handing the call to an outside number ---------------------------------------------------------


def requests_made(http) -> list[tuple[str, str, dict]]:
    return [(r["method"], r["uri"].split(f"/2010-04-01/Accounts/{ACCOUNT}")[1], r["data"]) for r in http.requests]


def conference_completed(http) -> bool:
    return any(
        path == "/Conferences/CF-1.json" and data.get("Status") == "completed" for _, path, data in requests_made(http)
    )


@pytest.fixture
def number_consult(centre, twilio_http):
    """A answered a call on Twilio (conference CF-1) and consults +12025550123 (dialled as CA-OUT)."""
    centre.sales.cold_transfer_allowed = True
    centre.sales.save()
    call = centre.answered_call()
    Call.objects.filter(pk=call.pk).update(provider_call_id="CF-1")
    Leg.objects.filter(call=call, kind=Leg.Kind.CUSTOMER).update(provider_leg_id="CA-CUSTOMER")
    Leg.objects.filter(call=call, kind=Leg.Kind.OPERATOR).update(provider_leg_id="CA-ALICE")
    leg = services.start_consult(call_id=call.pk, operator=centre.a, phone_number="+12025550123")
    Leg.objects.filter(pk=leg.pk).update(provider_leg_id="CA-OUT")
    return call


@pytest.mark.django_db(transaction=True)
def test_releasing_to_a_number_drops_only_the_operator_and_never_completes_the_conference(
    client, centre, twilio_http, number_consult
):
    call = number_consult
    answered = {"CallSid": "CA-OUT", "CallStatus": "in-progress", "SequenceNumber": "1"}
    assert post(client, answered, sign(answered)).status_code == 204
    services.conference(call_id=call.pk, operator=centre.a)
    twilio_http.requests.clear()
    services.release_call(call_id=call.pk, operator=centre.a)
    # Only A's participant leaves; the customer and the number stay in the conference.
    assert requests_made(twilio_http) == [("DELETE", "/Conferences/CF-1/Participants/CA-ALICE.json", {})]
    assert not conference_completed(twilio_http)
    # When the number hangs up later, the customer would be alone: now the conference ends.
    twilio_http.requests.clear()
    gone = {"CallSid": "CA-OUT", "CallStatus": "completed", "SequenceNumber": "2"}
    assert post(client, gone, sign(gone)).status_code == 204
    assert conference_completed(twilio_http)
    assert not Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).exists()


@pytest.mark.django_db(transaction=True)
def test_cold_transfer_to_a_ringing_number_keeps_the_customer_held_for_it_on_twilio(
    client, centre, twilio_http, number_consult
):
    call = number_consult
    twilio_http.requests.clear()
    services.cold_transfer(call_id=call.pk, operator=centre.a)
    assert requests_made(twilio_http) == [("DELETE", "/Conferences/CF-1/Participants/CA-ALICE.json", {})]
    # The number answers (signed callback): the customer comes off hold to talk to it.
    twilio_http.requests.clear()
    answered = {"CallSid": "CA-OUT", "CallStatus": "in-progress", "SequenceNumber": "1"}
    assert post(client, answered, sign(answered)).status_code == 204
    assert requests_made(twilio_http) == [
        ("POST", "/Conferences/CF-1/Participants/CA-CUSTOMER.json", {"Hold": "false"})
    ]
    assert not conference_completed(twilio_http)
    assert Call.objects.get(pk=call.pk).mode == Call.Mode.OUTSIDE
