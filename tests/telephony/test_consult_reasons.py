"""Transfer reasons on calls: the consult leg carries the reason the owner gave (a code of the call's
queue), the target's snapshot names it; a bad or missing required one is refused before the
customer is held or anyone rings."""

import json

import pytest

from helpdesk.errors import CodeError
from helpdesk.models import DispositionCode
from telephony import services
from telephony.models import Call, Leg
from tests.factories import DispositionCodeFactory
from tests.telephony.conftest import voice

TRANSFER = DispositionCode.Kind.TRANSFER


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_consult_with_a_reason_shows_it_to_the_target(client, centre):
    reason = DispositionCodeFactory(queue=centre.sales, kind=TRANSFER, name="Needs a specialist")
    call = centre.answered_call()
    client.force_login(centre.a.user)
    targets = client.get(f"/phone/api/targets/?call={call.pk}").json()
    assert targets["reasons"] == [{"id": reason.pk, "name": "Needs a specialist"}]
    assert client.get("/phone/api/targets/").json()["reasons"] == []  # no call: nothing to give reasons for
    answer = post(client, f"/phone/api/calls/{call.pk}/consult/", {"operator_id": centre.b.pk, "reason_id": reason.pk})
    assert answer.status_code == 200
    consult = next(leg for leg in answer.json()["call"]["legs"] if leg["kind"] == "consult")
    assert consult["reason_name"] == "Needs a specialist"
    assert Leg.objects.get(pk=consult["id"]).reason == reason


@pytest.mark.parametrize("which", ["missing_required", "other_queue", "inactive"])
def test_bad_consult_reasons_are_refused_before_anything_rings(centre, which):
    queue = centre.sales
    DispositionCodeFactory(queue=queue, kind=TRANSFER)
    reason_id = None
    if which == "missing_required":
        queue.transfer_reason_required = True
        queue.save()
    elif which == "other_queue":
        reason_id = DispositionCodeFactory(queue=centre.resolution, kind=TRANSFER).pk
    else:
        reason_id = DispositionCodeFactory(queue=queue, kind=TRANSFER, active=False).pk
    call = centre.answered_call()
    with pytest.raises(CodeError):
        services.start_consult(call_id=call.pk, operator=centre.a, operator_id=centre.b.pk, reason_id=reason_id)
    assert Call.objects.get(pk=call.pk).mode == Call.Mode.NORMAL
    assert not Leg.objects.filter(call=call, kind=Leg.Kind.CONSULT).exists()
    assert centre.legs(call)["customer"].state == Leg.State.CONNECTED and voice(centre.b).load == 0
