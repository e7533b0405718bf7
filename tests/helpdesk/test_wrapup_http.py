"""The wrap-up panel's HTTP acts: JSON answers, refusals as {"error": {code, message}}, nothing half-written."""

import pytest

from helpdesk.models import Availability, Engagement, Media, WrapUp, WrapUpMode
from helpdesk.services.engagements import end_engagement
from helpdesk.services.routing import route_engagement
from tests.factories import DispositionCodeFactory, EngagementFactory, OperatorFactory, QueueFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def wrapping():
    """An operator in a mandatory wrap-up of a queue that requires a disposition."""
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], wrap_up_mode=WrapUpMode.MANDATORY, disposition_required=True)
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"])
    engagement = EngagementFactory(queue=queue)
    route_engagement(engagement_id=engagement.pk)
    end_engagement(engagement_id=engagement.pk, reason=Engagement.EndReason.VISITOR_LEFT)
    resolved = DispositionCodeFactory(queue=queue, name="Resolved")
    return {"operator": operator, "wrap_up": WrapUp.objects.get(engagement=engagement), "resolved": resolved}


def post(client, url, body=None):
    return client.post(url, body or {}, content_type="application/json")


def test_mine_lists_open_wrap_ups_with_their_codes(client, wrapping):
    client.force_login(wrapping["operator"].user)
    data = client.get("/wrap-up/mine/").json()
    (panel,) = data["wrap_ups"]
    assert panel["id"] == wrapping["wrap_up"].pk and panel["disposition_required"] and not panel["can_skip"]
    assert panel["codes"] == [{"id": wrapping["resolved"].pk, "code": wrapping["resolved"].code, "name": "Resolved"}]


def test_done_without_the_required_disposition_is_refused_then_done_with_it(client, wrapping):
    client.force_login(wrapping["operator"].user)
    url = f"/wrap-up/{wrapping['wrap_up'].pk}/done/"
    response = post(client, url)
    assert response.status_code == 400 and response.json()["error"]["code"] == "code_required"
    assert post(client, url, {"disposition_id": "abc"}).json()["error"]["code"] == "invalid"
    assert post(client, url, {"disposition_id": 10**9}).json()["error"]["code"] == "unknown_code"
    assert WrapUp.objects.get(pk=wrapping["wrap_up"].pk).is_open

    response = post(client, url, {"disposition_id": wrapping["resolved"].pk})
    assert response.status_code == 200
    assert response.json()["wrap_up"]["ended_because"] == "done"
    assert Availability.objects.get(operator=wrapping["operator"], media=Media.CHAT).wrap_ups == 0


def test_another_operator_and_a_skip_of_a_mandatory_wrap_up_are_refused(client, wrapping):
    client.force_login(OperatorFactory().user)
    response = post(client, f"/wrap-up/{wrapping['wrap_up'].pk}/done/", {"disposition_id": wrapping["resolved"].pk})
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_yours"
    client.force_login(wrapping["operator"].user)
    response = post(client, f"/wrap-up/{wrapping['wrap_up'].pk}/skip/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "cannot_skip"
    assert WrapUp.objects.get(pk=wrapping["wrap_up"].pk).is_open
