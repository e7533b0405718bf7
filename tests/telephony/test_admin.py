"""Calls in the admin: managers see their own sites' calls only, read-only."""

import pytest

from telephony.models import Call
from tests.factories import ManagerFactory, OperatorFactory, QueueFactory, SiteFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_manager_sees_only_calls_of_their_sites(client, centre):
    from telephony import services

    mine = centre.answered_call("Mine Caller")
    other_site = SiteFactory(name="Lisbon")
    team = TeamFactory(site=other_site)
    OperatorFactory(site=other_site, teams=[team], available=["voice"])
    theirs = services.place_call(queue=QueueFactory(site=other_site, media="voice", teams=[team]), caller_name="Other")
    manager = ManagerFactory(sites=[centre.sales.site])
    client.force_login(manager)
    page = client.get("/admin/telephony/call/").content.decode()
    assert "Mine Caller" in page and "Other" not in page
    assert client.get(f"/admin/telephony/call/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/telephony/call/{theirs.pk}/change/").status_code == 302  # not found → index
    client.raise_request_exception = False
    assert client.post(f"/admin/telephony/call/{mine.pk}/delete/").status_code == 403
    assert Call.objects.count() == 2
    assert client.get("/admin/telephony/providerevent/").status_code == 403
