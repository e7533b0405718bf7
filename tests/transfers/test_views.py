"""The dialog's HTTP acts: CSRF, JSON errors, who may do what; and the managers' admin pages."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from helpdesk.models import Availability, DispositionCode
from tests.factories import DispositionCodeFactory, ManagerFactory, OperatorFactory, SiteFactory, UserFactory
from tests.transfers.conftest import give_engagement
from transfers import services
from transfers.models import Transfer

pytestmark = pytest.mark.django_db


def client_for(operator, csrf=False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(operator.user)
    return client


def post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def test_post_without_csrf_token_is_refused(engagement, alice, bob):
    response = post(
        client_for(alice, csrf=True), f"/transfers/engagements/{engagement.pk}/request/", {"target_operator_id": bob.pk}
    )
    assert response.status_code == 403
    assert not Transfer.objects.exists()


def test_post_with_csrf_token_is_accepted(engagement, alice, bob):
    client = client_for(alice, csrf=True)
    client.get("/console/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"/transfers/engagements/{engagement.pk}/request/",
        data=json.dumps({"target_operator_id": bob.pk, "warm_message": "Hi Bob"}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200, response.content
    assert response.json()["transfer"]["state"] == "requested"


def test_whole_flow_over_http(engagement, alice, bob):
    from helpdesk.services.engagements import post_message

    post_message(engagement_id=engagement.pk, sender="visitor", body="Hello there")
    alice_client, bob_client = client_for(alice), client_for(bob)
    created = post(
        alice_client,
        f"/transfers/engagements/{engagement.pk}/request/",
        {"target_operator_id": bob.pk, "warm_message": "Order 42"},
    ).json()["transfer"]
    assert created["warm_message"] == "Order 42" and created["offered_to_name"] == "Bob Baker"
    [offer] = bob_client.get("/transfers/mine/").json()["offers"]
    assert offer["id"] == created["id"] and offer["visitor_name"] == "Vera Visitor"
    assert post(bob_client, f"/transfers/{created['id']}/accept/").json()["transfer"]["state"] == "accepted"
    assert alice_client.get("/transfers/mine/").json()["outgoing"][0]["state"] == "accepted"
    done = post(alice_client, f"/transfers/{created['id']}/now/").json()["transfer"]
    assert done["state"] == "completed"
    copy = alice_client.get(f"/transfers/{created['id']}/transcript/").json()
    assert copy["accepted_by_name"] == "Bob Baker"
    assert [m["body"] for m in copy["messages"]] == ["Hello there"]
    assert bob_client.get(f"/transfers/{created['id']}/transcript/").status_code == 403
    history = bob_client.get(f"/transfers/engagements/{engagement.pk}/").json()
    assert history["open"] is None
    assert [row["state"] for row in history["history"]] == ["completed"]
    assert history["history"][0]["offers"][0]["outcome"] == "accepted"


def accepted_with_a_warm_message_and_a_reason(engagement, alice, bob):
    """Alice's transfer to Bob as on the floor (a warm message, a reason), accepted by Bob."""
    reason = DispositionCodeFactory(queue=engagement.queue, kind=DispositionCode.Kind.TRANSFER)
    transfer = services.request_transfer(
        engagement_id=engagement.pk,
        initiator=alice,
        target_operator_id=bob.pk,
        warm_message="Order 42",
        reason_id=str(reason.pk),
    )
    services.accept_transfer(transfer_id=transfer.pk, operator=bob)
    return transfer, reason


def test_an_acts_answer_reads_the_transfer_in_two_statements(
    engagement, alice, bob, django_assert_max_num_queries, django_assert_num_queries
):
    """The answer is drawn after the act commits, while the new owner's console draws the chat
    (issue 16): refreshing the service's instance dropped its relations, and drawing it then read
    the engagement, visitor, note and four operators one by one (eight statements after the act)."""
    from transfers.views import answer

    transfer, reason = accepted_with_a_warm_message_and_a_reason(engagement, alice, bob)
    with django_assert_num_queries(2):
        drawn = json.loads(answer(transfer).content)["transfer"]
    assert (drawn["state"], drawn["warm_message"], drawn["accepted_by_name"]) == ("accepted", "Order 42", "Bob Baker")
    assert drawn["reason_name"] == reason.name
    client = client_for(alice)
    with django_assert_max_num_queries(20):  # session, user, operator; the act's 17; its answer none
        done = post(client, f"/transfers/{transfer.pk}/now/").json()["transfer"]
    assert (done["state"], done["accepted_by_name"]) == ("completed", "Bob Baker")


def test_transfer_nows_answer_is_the_transfer_it_wrote_drawn_without_a_read(
    engagement, alice, bob, django_assert_num_queries
):
    """Transfer Now answers with the instance it locked and wrote: the same JSON as reading it
    afresh after the commit, with no statement in the request thread while the new owner's frames
    go out (issue 16)."""
    from transfers.views import answer

    transfer, reason = accepted_with_a_warm_message_and_a_reason(engagement, alice, bob)
    written = services.transfer_now(transfer_id=transfer.pk, operator=alice)
    with django_assert_num_queries(0):
        as_written = json.loads(answer(written, as_written=True).content)["transfer"]
    assert as_written == json.loads(answer(written).content)["transfer"]
    assert (as_written["state"], as_written["reason_name"], as_written["warm_message"]) == (
        "completed",
        reason.name,
        "Order 42",
    )
    again = services.transfer_now(transfer_id=transfer.pk, operator=alice)  # a second click: read under the lock
    assert json.loads(answer(again, as_written=True).content)["transfer"] == as_written


def test_domain_errors_answer_json_with_code_and_status(engagement, alice, bob, carol):
    response = post(
        client_for(carol), f"/transfers/engagements/{engagement.pk}/request/", {"target_operator_id": bob.pk}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_owner"
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    response = post(client_for(carol), f"/transfers/{transfer.pk}/accept/")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "not_offered")
    response = post(client_for(alice), f"/transfers/{transfer.pk}/now/")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_accepted")
    response = post(client_for(bob), f"/transfers/{transfer.pk}/decline/", {"reason": "In a meeting"})
    assert response.json()["transfer"]["reason_text"] == "In a meeting"


@pytest.mark.parametrize(
    "body",
    ["not json", "[1, 2]", json.dumps({"target_operator_id": "abc"}), json.dumps({"warm_message": 5})],
)
def test_bad_input_is_a_400(engagement, alice, body):
    response = client_for(alice).post(
        f"/transfers/engagements/{engagement.pk}/request/", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_acts_need_post_and_a_signed_in_operator(engagement, alice, bob):
    assert client_for(alice).get(f"/transfers/engagements/{engagement.pk}/request/").status_code == 405
    assert Client().post(f"/transfers/engagements/{engagement.pk}/request/").status_code == 302
    manager = ManagerFactory(sites=[engagement.site])
    client = Client()
    client.force_login(manager)
    assert client.get("/transfers/mine/").status_code == 403


def test_targets_list_operators_with_media_availability_and_queues(engagement, alice, bob, carol, queue):
    Availability.objects.filter(operator=carol, media="chat").update(status="away")
    lisbon = SiteFactory(name="Lisbon")
    OperatorFactory(site=lisbon, display_name="Diogo Dias", user=UserFactory(username="diogo"))
    data = client_for(alice).get(f"/transfers/engagements/{engagement.pk}/targets/").json()
    assert [site["name"] for site in data["sites"]] == ["Lisbon", "London"]
    rows = {row["name"]: row for row in data["operators"]}
    assert "Alice Archer" not in rows
    assert rows["Bob Baker"]["can_take"] is True
    assert rows["Bob Baker"]["availability"] == [
        {"media": "chat", "status": "available"},
        {"media": "voice", "status": "offline"},
        {"media": "video", "status": "offline"},
    ]
    assert (rows["Carol Chen"]["can_take"], rows["Carol Chen"]["why_not"]) == (False, "Away")
    assert data["queues"][0]["name"] == queue.name and data["queues"][0]["waiting"] == 0
    only_lisbon = client_for(alice).get(f"/transfers/engagements/{engagement.pk}/targets/?site={lisbon.pk}").json()
    assert [row["name"] for row in only_lisbon["operators"]] == ["Diogo Dias"]
    assert only_lisbon["queues"] == []
    searched = client_for(alice).get(f"/transfers/engagements/{engagement.pk}/targets/?q=bob@").json()
    assert [row["name"] for row in searched["operators"]] == ["Bob Baker"]


def test_targets_only_for_the_owner(engagement, bob):
    assert client_for(bob).get(f"/transfers/engagements/{engagement.pk}/targets/").status_code == 403


def test_history_is_for_owners_and_offered_operators_only(engagement, alice, bob, carol):
    services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    assert client_for(alice).get(f"/transfers/engagements/{engagement.pk}/").status_code == 200
    assert client_for(bob).get(f"/transfers/engagements/{engagement.pk}/").status_code == 200
    assert client_for(carol).get(f"/transfers/engagements/{engagement.pk}/").status_code == 403


# --- the initiator's read-only copies after a reload ------------------------------------------------------


def hand_over(engagement, initiator, target):
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=initiator, target_operator_id=target.pk)
    services.accept_transfer(transfer_id=transfer.pk, operator=target)
    return services.transfer_now(transfer_id=transfer.pk, operator=initiator)


def test_recent_lists_my_completed_transfers_and_reopens_the_copy_up_to_the_hand_over(engagement, alice, bob):
    from helpdesk.services.engagements import post_message

    post_message(engagement_id=engagement.pk, sender="visitor", body="Hello there")
    post_message(engagement_id=engagement.pk, sender="operator", operator=alice, body="Bob will help, bye!")
    transfer = hand_over(engagement, alice, bob)
    post_message(engagement_id=engagement.pk, sender="operator", operator=bob, body="Bob here, after the hand-over")

    [row] = client_for(alice).get("/transfers/recent/").json()["recent"]
    assert row["id"] == transfer.pk and row["engagement_id"] == engagement.pk
    assert (row["visitor_name"], row["accepted_by_name"]) == ("Vera Visitor", "Bob Baker")
    copy = client_for(alice).get(f"/transfers/{transfer.pk}/transcript/").json()
    assert copy["visitor_name"] == "Vera Visitor" and copy["accepted_by_name"] == "Bob Baker"
    assert [m["body"] for m in copy["messages"]] == ["Hello there", "Bob will help, bye!"]
    assert client_for(bob).get("/transfers/recent/").json()["recent"] == []  # the target did not transfer it


def test_only_the_initiator_may_read_the_copy(engagement, alice, bob, carol):
    transfer = hand_over(engagement, alice, bob)
    for other in (bob, carol):  # the new owner, and an operator forging the id
        response = client_for(other).get(f"/transfers/{transfer.pk}/transcript/")
        assert (response.status_code, response.json()["error"]["code"]) == (403, "not_initiator")
    response = client_for(carol).get("/transfers/999999/transcript/")
    assert response.status_code == 403
    assert Client().get(f"/transfers/{transfer.pk}/transcript/").status_code == 302  # signed out
    assert Client().get("/transfers/recent/").status_code == 302


def test_an_open_transfer_has_no_copy_yet(engagement, alice, bob):
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    response = client_for(alice).get(f"/transfers/{transfer.pk}/transcript/")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "not_accepted")
    assert client_for(alice).get("/transfers/recent/").json()["recent"] == []


def test_recent_is_bounded_in_time_and_count(alice, bob, queue, settings):
    settings.TRANSFER_RECENT_HOURS = 4
    settings.TRANSFER_RECENT_LIMIT = 2
    Availability.objects.filter(operator__in=[alice, bob], media="chat").update(capacity=3)
    done = [hand_over(give_engagement(owner=alice, queue=queue, visitor_name=f"V{i}"), alice, bob) for i in range(3)]
    old = done[0]
    Transfer.objects.filter(pk=old.pk).update(completed_at=timezone.now() - timedelta(hours=5))
    rows = client_for(alice).get("/transfers/recent/").json()["recent"]
    assert [row["visitor_name"] for row in rows] == ["V2", "V1"]  # newest first
    settings.TRANSFER_RECENT_LIMIT = 1
    assert [r["visitor_name"] for r in client_for(alice).get("/transfers/recent/").json()["recent"]] == ["V2"]
    response = client_for(alice).get(f"/transfers/{old.pk}/transcript/")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "no_longer_open")


# --- admin ----------------------------------------------------------------------------------------------


def test_manager_sees_only_transfers_of_their_sites_read_only(engagement, alice, bob, queue):
    transfer = services.request_transfer(engagement_id=engagement.pk, initiator=alice, target_operator_id=bob.pk)
    services.decline_transfer(transfer_id=transfer.pk, operator=bob, reason="Lunch")
    lisbon = SiteFactory(name="Lisbon")
    lisbon_manager = ManagerFactory(sites=[lisbon])
    london_manager = ManagerFactory(sites=[engagement.site])

    client = Client()
    client.force_login(london_manager)
    listing = client.get("/admin/transfers/transfer/")
    assert listing.status_code == 200 and b"Lunch" in listing.content
    page = client.get(f"/admin/transfers/transfer/{transfer.pk}/change/")
    assert page.status_code == 200 and b"Bob Baker" in page.content
    assert b'name="_save"' not in page.content  # read-only
    engagement_page = client.get(f"/admin/helpdesk/engagement/{engagement.pk}/change/")
    assert b"transfer history" in engagement_page.content.lower() and b"Lunch" in engagement_page.content

    client.force_login(lisbon_manager)
    assert b"Lunch" not in client.get("/admin/transfers/transfer/").content
    assert client.get(f"/admin/transfers/transfer/{transfer.pk}/change/").status_code == 302
