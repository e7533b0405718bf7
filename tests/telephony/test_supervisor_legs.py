"""A supervisor's leg on a call (issue 13.4): who hears it by role, leaving, take over, on both providers.

Call control only; permission, audit and watches are supervision's (tests/supervision/test_voice.py).
The Twilio adapter is checked at its boundary, with the recording HTTP client of test_providers.py.
"""

import pytest

from helpdesk.models import Engagement, Media, Ownership
from telephony import frames, selectors, services
from telephony.errors import CallError
from telephony.models import Call, Leg
from telephony.providers.base import SupervisorAudio
from tests.factories import LegFactory, OperatorFactory

from .conftest import voice
from .test_providers import ACCOUNT, twilio_http  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lead(centre):
    """A team lead of the centre's site with a voice profile but no skills (routing never rings them)."""
    return OperatorFactory(site=centre.a.site, display_name="Sam Lead", teams=[], available=[Media.VOICE])


def snapshot(call: Call) -> dict:
    return frames.call_snapshot(*selectors.call_with_legs(call_id=call.pk))


def supervisor_leg(snap: dict) -> dict:
    return next(leg for leg in snap["legs"] if leg["kind"] == "supervisor")


def test_a_listener_is_heard_by_nobody_a_coach_by_the_operator_and_a_barged_supervisor_by_all(centre, lead):
    call = centre.answered_call()
    leg, changed = services.supervise_call(call_id=call.pk, supervisor=lead.user, role="listen")
    assert changed and (leg.kind, leg.state, leg.role) == ("supervisor", "connected", "listen")
    snap = snapshot(call)
    assert (supervisor_leg(snap)["party_name"], supervisor_leg(snap)["heard_by"]) == ("Sam Lead", [])
    assert frames.caller_view(snap)["also_on_call"] == []  # the caller hears nothing of a listener

    same, changed = services.supervise_call(call_id=call.pk, supervisor=lead.user, role="listen")
    assert same.pk == leg.pk and not changed

    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="coach")
    snap = snapshot(call)
    assert supervisor_leg(snap)["role"] == "coach" and supervisor_leg(snap)["heard_by"] == ["operator"]
    assert frames.caller_view(snap)["also_on_call"] == []

    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="barge")
    snap = snapshot(call)
    assert set(supervisor_leg(snap)["heard_by"]) == {"customer", "operator", "consult", "phone"}
    assert frames.caller_view(snap)["also_on_call"] == ["Sam Lead"]
    assert Leg.objects.filter(call=call, kind="supervisor").count() == 1  # one leg, its role changed
    legs = centre.legs(call)
    assert legs["customer"].state == legs["operator"].state == "connected"


def test_leaving_ends_only_the_supervisors_leg(centre, lead):
    call = centre.answered_call()
    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="barge")
    assert services.leave_supervised_call(call_id=call.pk, supervisor=lead.user).end_reason == "hung_up"
    assert services.leave_supervised_call(call_id=call.pk, supervisor=lead.user) is None
    legs = centre.legs(call)
    assert legs["supervisor"].state == "ended"
    assert legs["customer"].state == legs["operator"].state == "connected"
    assert centre.call(call.pk).engagement.state == Engagement.State.ACTIVE


def test_a_call_nobody_answered_yet_cannot_be_supervised(centre, lead):
    call = services.place_call(queue=centre.sales, caller_name="Pat")
    with pytest.raises(CallError) as refused:
        services.supervise_call(call_id=call.pk, supervisor=lead.user, role="listen")
    assert refused.value.code == "not_answered"
    assert not Leg.objects.filter(call=call, kind="supervisor").exists()


def test_the_caller_hanging_up_ends_the_supervisors_leg_too(centre, lead):
    call = centre.answered_call()
    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="listen")
    services.hang_up(leg_id=centre.legs(call)["customer"].pk)
    assert not Leg.objects.filter(call=call, state__in=Leg.OPEN_STATES).exists()


def test_take_over_makes_the_supervisors_leg_the_owners_and_ends_the_operators(centre, lead):
    call = centre.answered_call()
    services.put_on_hold(call_id=call.pk, operator=centre.a)
    leg, _ = services.supervise_call(call_id=call.pk, supervisor=lead.user, role="coach")
    services.take_over_call(call_id=call.pk, supervisor=lead.user, operator=lead, expected_owner_id=centre.a.pk)
    call = centre.call(call.pk)
    assert call.engagement.owner == lead
    leg.refresh_from_db()
    assert (leg.kind, leg.operator, leg.role, leg.state) == ("operator", lead, "", "connected")
    alice_leg = centre.leg_of(call, centre.a)
    assert (alice_leg.state, alice_leg.end_reason) == ("ended", "taken_over")
    assert centre.legs(call)["customer"].state == "connected"  # off hold, talking to the new owner
    assert voice(centre.a).load == 0 and voice(lead).load == 1
    assert Ownership.objects.get(engagement=call.engagement, ended_at__isnull=True).started_because == "taken_over"
    # The new owner runs the call like any owner.
    services.put_on_hold(call_id=call.pk, operator=lead)
    with pytest.raises(CallError) as refused:
        services.take_over_call(
            call_id=call.pk, supervisor=centre.b.user, operator=centre.b, expected_owner_id=centre.a.pk
        )
    assert refused.value.code == "already_taken" and "Sam Lead" in refused.value.message


def test_take_over_without_being_on_the_call_gives_the_supervisor_a_new_owner_leg(centre, lead):
    call = centre.answered_call()
    services.take_over_call(call_id=call.pk, supervisor=lead.user, operator=lead, expected_owner_id=None)
    owner_leg = Leg.objects.get(call=call, kind="operator", state="connected")
    assert (owner_leg.operator, owner_leg.supervisor) == (lead, lead.user)


def test_take_over_waits_for_a_consult_to_end(centre, lead):
    call = centre.consulting()
    with pytest.raises(CallError) as refused:
        services.take_over_call(call_id=call.pk, supervisor=lead.user, operator=lead, expected_owner_id=centre.a.pk)
    assert refused.value.code == "busy_call"
    assert centre.call(call.pk).engagement.owner == centre.a


def test_the_leg_factory_builds_a_supervisor_leg(centre):
    leg = LegFactory(kind=Leg.Kind.SUPERVISOR, state=Leg.State.CONNECTED)
    assert leg.supervisor is not None and leg.role == "listen" and leg.operator is None


# --- Twilio: conference participant coaching and muting ---------------------------------------


def requests_made(http) -> list[tuple[str, str, dict]]:
    return [(r["method"], r["uri"].split(f"/2010-04-01/Accounts/{ACCOUNT}")[1], r["data"]) for r in http.requests]


@pytest.fixture
def twilio_answered(centre, twilio_http):  # noqa: F811
    call = centre.answered_call()
    Call.objects.filter(pk=call.pk).update(provider_call_id="CF-1")
    Leg.objects.filter(call=call, kind="operator").update(provider_leg_id="CA-ALICE")
    twilio_http.requests.clear()
    return call, twilio_http


def test_on_twilio_a_listener_joins_muted_and_a_coach_coaches_the_operators_call_sid(centre, lead, twilio_answered):
    call, http = twilio_answered
    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="listen")
    [(method, uri, data)] = requests_made(http)
    assert (method, uri) == ("POST", f"/Conferences/helpdesk-call-{call.pk}/Participants.json")
    assert data["To"] == f"client:supervisor-{lead.user.pk}" and data["Muted"] == "true"
    assert data["Coaching"] == "false" and "CallSidToCoach" not in data
    leg = Leg.objects.get(call=call, kind="supervisor")
    assert leg.provider_leg_id == "CA-DIALLED"

    http.requests.clear()
    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="coach")
    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="barge")
    assert requests_made(http) == [
        (
            "POST",
            "/Conferences/CF-1/Participants/CA-DIALLED.json",
            {"Muted": "false", "Coaching": "true", "CallSidToCoach": "CA-ALICE"},
        ),
        ("POST", "/Conferences/CF-1/Participants/CA-DIALLED.json", {"Muted": "false", "Coaching": "false"}),
    ]


def test_on_twilio_a_coach_dialled_in_names_the_call_to_coach(centre, lead, twilio_answered):
    call, http = twilio_answered
    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="coach")
    [(_, _, data)] = requests_made(http)
    assert (data["Muted"], data["Coaching"], data["CallSidToCoach"]) == ("false", "true", "CA-ALICE")


def test_on_twilio_take_over_drops_the_operator_and_unmutes_the_supervisor(centre, lead, twilio_answered):
    call, http = twilio_answered
    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="listen")
    http.requests.clear()
    services.take_over_call(call_id=call.pk, supervisor=lead.user, operator=lead, expected_owner_id=centre.a.pk)
    assert requests_made(http) == [
        ("DELETE", "/Conferences/CF-1/Participants/CA-ALICE.json", {}),
        ("POST", "/Conferences/CF-1/Participants/CA-DIALLED.json", {"Muted": "false", "Coaching": "false"}),
    ]


def test_on_twilio_a_coach_follows_the_call_to_its_new_owner(centre, lead, twilio_http):  # noqa: F811
    call = centre.consulting()
    Call.objects.filter(pk=call.pk).update(provider_call_id="CF-1")
    Leg.objects.filter(call=call, kind="operator").update(provider_leg_id="CA-ALICE")
    Leg.objects.filter(call=call, kind="consult").update(provider_leg_id="CA-BOB")
    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="coach")
    Leg.objects.filter(call=call, kind="supervisor").update(provider_leg_id="CA-SAM")
    twilio_http.requests.clear()
    services.hang_up(leg_id=centre.leg_of(call, centre.a).pk, operator=centre.a)  # Bob takes the call
    assert (
        "POST",
        "/Conferences/CF-1/Participants/CA-SAM.json",
        {"Muted": "false", "Coaching": "true", "CallSidToCoach": "CA-BOB"},
    ) in requests_made(twilio_http)


def test_a_supervisor_leg_the_provider_reports_ended_ends_alone(centre, lead, twilio_answered):
    from telephony.providers import ProviderEventData

    call, http = twilio_answered
    services.supervise_call(call_id=call.pk, supervisor=lead.user, role="barge")
    event = ProviderEventData(kind="leg.ended", resource_id="CA-DIALLED", sequence=5, provider_leg_id="CA-DIALLED")
    assert services.apply_provider_event(provider="twilio", event=event)
    legs = centre.legs(call)
    assert legs["supervisor"].state == "ended"
    assert centre.call(call.pk).mode == Call.Mode.NORMAL and legs["operator"].state == "connected"


def test_the_builtin_provider_models_roles_without_a_network():
    from telephony.providers.base import LegRef
    from telephony.providers.builtin import BuiltinProvider

    ref = LegRef(call_id=1, leg_id=2, kind="supervisor", conference="builtin-call-1")
    assert BuiltinProvider().set_audio(ref, SupervisorAudio(muted=True)) is None
    assert Leg.HEARD_BY[Leg.Role.LISTEN] == frozenset()
    assert Leg.HEARD_BY[Leg.Role.COACH] == {Leg.Kind.OPERATOR}
