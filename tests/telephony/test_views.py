"""Phone views: acts over HTTP with JSON errors, who may do what, the caller simulator API."""

import json

import pytest

from helpdesk.models import Engagement
from telephony import services
from telephony.models import Call, Leg

pytestmark = pytest.mark.django_db(transaction=True)


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def alice(client, centre):
    client.force_login(centre.a.user)
    return client


def test_console_needs_a_login_and_an_operator(client, centre, django_user_model):
    assert client.get("/phone/").status_code == 302
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))
    assert client.get("/phone/").status_code == 403


def test_console_page_renders_the_current_call_as_data(alice, centre):
    call = centre.answered_call("Zoë <b>O'Brien</b>")
    page = alice.get("/phone/").content.decode()
    assert 'id="calls-data"' in page and f'"id": {call.pk}' in page
    assert "<b>O'Brien</b>" not in page  # escaped in the JSON script


def test_acts_answer_with_the_fresh_call_and_errors_as_json(alice, centre):
    call = centre.answered_call()
    answer = post(alice, f"/phone/api/calls/{call.pk}/hold/")
    assert answer.status_code == 200 and answer.json()["call"]["legs"][0]["state"] == "held"
    answer = post(alice, f"/phone/api/calls/{call.pk}/hold/")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "already_on_hold"
    answer = post(alice, f"/phone/api/calls/{call.pk}/consult/", {"queue_id": centre.resolution.pk})
    assert answer.status_code == 200 and answer.json()["call"]["mode"] == "consult"
    answer = post(alice, f"/phone/api/calls/{call.pk}/cold-transfer/")
    assert answer.json()["error"]["code"] == "cold_transfer_disabled"
    assert post(alice, f"/phone/api/calls/{call.pk}/explode/").status_code == 404


def test_someone_elses_call_is_forbidden(client, centre):
    call = centre.answered_call()
    client.force_login(centre.c.user)
    answer = post(client, f"/phone/api/calls/{call.pk}/hold/")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "not_owner"
    answer = post(client, f"/phone/api/legs/{centre.leg_of(call, centre.a).pk}/hang-up/")
    assert answer.status_code == 403


def test_acts_need_the_csrf_token(centre):
    from django.test import Client

    call = centre.answered_call()
    client = Client(enforce_csrf_checks=True)
    client.force_login(centre.a.user)
    assert post(client, f"/phone/api/calls/{call.pk}/hold/").status_code == 403


def test_picker_lists_skills_with_waiting_and_operators_with_voice_availability(alice, centre):
    data = alice.get("/phone/api/targets/").json()
    skills = {s["name"]: s for s in data["skills"]}
    assert skills["Resolution Specialists"]["available_operators"] == 2
    assert [o["name"] for o in data["operators"]] == ["Bob Baker", "Carol Chen"]
    assert all(o["can_take_call"] and o["status"] == "available" for o in data["operators"])
    data = alice.get("/phone/api/targets/?q=carol").json()
    assert [o["name"] for o in data["operators"]] == ["Carol Chen"]
    data = alice.get("/phone/api/targets/?q=specialists").json()  # by team
    assert len(data["operators"]) == 2


def test_a_skills_available_count_never_includes_the_asking_operator(client, centre):
    """B serves Resolution Specialists with C: B sees 1 available there (C), never themself; once C
    is busy on a call, 0 — as start_consult would find (no_agent), not "1 available" that is B."""
    client.force_login(centre.b.user)
    skills = {s["name"]: s for s in client.get("/phone/api/targets/").json()["skills"]}
    assert skills["Resolution Specialists"]["available_operators"] == 1
    assert skills["Sales line"]["available_operators"] == 1  # A, who serves it

    services.answer_leg(
        leg_id=services.start_consult(call_id=centre.answered_call().pk, operator=centre.a, operator_id=centre.c.pk).pk,
        operator=centre.c,
    )  # C is talking on a consult: at capacity
    skills = {s["name"]: s for s in client.get("/phone/api/targets/").json()["skills"]}
    assert skills["Resolution Specialists"]["available_operators"] == 0


def test_voice_availability_is_set_from_the_phone(alice, centre):
    answer = post(alice, "/phone/api/availability/", {"status": "away"})
    assert answer.json()["status"] == "away"
    assert post(alice, "/phone/api/availability/", {"status": "sleeping"}).status_code == 400
    assert post(alice, "/phone/api/calls/1/consult/", {"operator_id": "x"}).status_code == 400


def test_malformed_phone_requests_answer_400_with_the_shared_invalid_code(alice, centre):
    call = centre.answered_call()
    not_json = alice.post(f"/phone/api/calls/{call.pk}/consult/", "{oops", content_type="application/json")
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid"
    not_a_number = post(alice, f"/phone/api/calls/{call.pk}/consult/", {"queue_id": "two"})
    assert not_a_number.status_code == 400 and not_a_number.json()["error"]["code"] == "invalid"
    unknown_status = post(alice, "/phone/api/availability/", {"status": "sleeping"})
    assert unknown_status.json()["error"]["code"] == "invalid"


def test_phone_acts_of_a_user_who_is_not_an_operator_are_refused_as_json(client, centre, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x"))
    answer = post(client, f"/phone/api/calls/{centre.answered_call().pk}/hold/")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "not_operator"
    assert client.get("/phone/api/current/").status_code == 403


def test_simulated_caller_places_follows_and_hangs_up_a_call(client, centre):
    assert client.get("/phone/simulator/").status_code == 200
    answer = post(client, "/phone/simulator/api/calls/", {"queue_id": centre.sales.pk, "name": "Pat"})
    assert answer.status_code == 201
    token = answer.json()["token"]
    assert answer.json()["call"]["leg"]["state"] == "ringing"
    call = Call.objects.get()
    services.answer_leg(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)
    view = client.get(f"/phone/simulator/api/calls/{token}/").json()["call"]
    assert view["leg"]["state"] == "connected" and view["operator_name"] == "Alice Archer"
    assert "legs" not in view  # the caller sees their own leg only
    view = post(client, f"/phone/simulator/api/calls/{token}/hang-up/").json()["call"]
    assert view["state"] == "ended" and view["end_reason"] == Engagement.EndReason.CALLER_HUNG_UP
    assert client.get("/phone/simulator/api/calls/forged-token/").status_code == 404


def test_simulator_refuses_a_chat_queue_and_bad_numbers(client, centre):
    from tests.factories import QueueFactory

    chat = QueueFactory(site=centre.sales.site)
    assert post(client, "/phone/simulator/api/calls/", {"queue_id": chat.pk}).status_code == 409
    answer = post(client, "/phone/simulator/api/calls/", {"queue_id": centre.sales.pk, "phone_number": "123"})
    assert answer.json()["error"]["code"] == "invalid_number"


def test_outside_line_answers_calls_to_its_number(client, centre):
    call = centre.answered_call()
    leg = services.start_consult(call_id=call.pk, operator=centre.a, phone_number="+12025550123")
    listing = client.get("/phone/simulator/api/outside/?number=%2B1%20202%20555%200123").json()
    assert listing["legs"] == [{"id": leg.pk, "state": "ringing"}]
    assert post(client, f"/phone/simulator/api/outside/legs/{leg.pk}/answer/").json()["leg"]["state"] == "connected"
    customer = Leg.objects.get(call=call, kind=Leg.Kind.CUSTOMER)
    assert post(client, f"/phone/simulator/api/outside/legs/{customer.pk}/hang-up/").status_code == 404
