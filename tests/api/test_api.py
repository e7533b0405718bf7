"""The REST API: token auth, site scoping on every endpoint, an operator's conversations only,
filters, cursor pages, metrics, and the writes."""

from datetime import timedelta

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from helpdesk.models import Media, Note, Ownership
from telephony.models import Leg
from tests.factories import (
    CallFactory,
    LegFactory,
    ManagerFactory,
    MessageFactory,
    NoteFactory,
    OperatorFactory,
    QueueFactory,
    TransferFactory,
    TransferOfferFactory,
)
from tests.reporting.conftest import DAY1, at, make_engagement
from transfers.models import Transfer

READ_ENDPOINTS = [
    "sites",
    "teams",
    "operators",
    "queues",
    "engagements",
    "messages",
    "notes",
    "transfers",
    "calls",
    "legs",
]


def api(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def make_transfer(engagement, initiator, target, *, state="declined", outcome="declined", requested=20):
    """A finished operator transfer with its one offer (factory rows, no service: the rows are what matter)."""
    requested_at = engagement.created_at + timedelta(seconds=requested)
    transfer = TransferFactory(
        engagement=engagement,
        initiator=initiator,
        target_operator=target,
        state=state,
        requested_at=requested_at,
        answered_at=requested_at + timedelta(seconds=5),
    )
    TransferOfferFactory(transfer=transfer, outcome=outcome)
    return transfer


def make_call(engagement, *legs):
    """The engagement's call with exactly `legs` = [(kind, operator or None)], all ended."""
    call = CallFactory(engagement=engagement)
    Leg.objects.filter(call=call).delete()  # telephony may have rung the routed owner already
    made = [
        LegFactory(call=call, kind=kind, operator=operator, state="ended", ended_at=engagement.ended_at)
        for kind, operator in legs
    ]
    return call, made


@pytest.fixture
def other(world):
    """Site B with its own manager, queues and operators: a chat with a message, a note and a declined
    transfer, and a call with its legs (so every site-scoped list has something to leave out)."""
    queue = QueueFactory(site=world.other_site, name="Elsewhere")
    phones = QueueFactory(site=world.other_site, name="Their phones", media=Media.VOICE)
    operator = OperatorFactory(site=world.other_site, display_name="Zed")
    colleague = OperatorFactory(site=world.other_site, display_name="Yan")
    engagement = make_engagement(
        queue, at(DAY1, 10), answered=5, ended=60, owners=[(operator, 5, 60, "routed", "ended")], visitor_name="Theirs"
    )
    MessageFactory(engagement=engagement, body="their secret")
    NoteFactory(engagement=engagement, author=operator, body="their note")
    transfer = make_transfer(engagement, operator, colleague)
    call_engagement = make_engagement(
        phones, at(DAY1, 11), answered=5, ended=90, owners=[(operator, 5, 90, "routed", "ended")], visitor_name="Caller"
    )
    call, legs = make_call(call_engagement, ("customer", None), ("operator", operator), ("consult", colleague))
    return {
        "manager": ManagerFactory(username="manager_b", sites=[world.other_site]),
        "engagement": engagement,
        "transfer": transfer,
        "call": call,
        "legs": legs,
    }


def ids_of(client, path):
    response = client.get(path)
    assert response.status_code == 200, (path, response.content)
    return sorted(row["id"] for row in response.json()["results"])


def test_token_is_required():
    assert APIClient().get("/api/engagements/").status_code == 401


def test_every_list_shows_only_the_callers_sites(world, other):
    client = api(world.manager)
    MessageFactory(engagement=world.engagements["e1"], body="our message")
    for endpoint in READ_ENDPOINTS:
        response = client.get(f"/api/{endpoint}/")
        assert response.status_code == 200, endpoint
        text = response.content.decode()
        assert "Theirs" not in text and "their secret" not in text and "their note" not in text, endpoint
        assert '"Other"' not in text and "Zed" not in text, endpoint
    ids = [row["id"] for row in client.get("/api/engagements/?page_size=50").json()["results"]]
    assert sorted(ids) == sorted(e.pk for e in world.engagements.values())
    assert client.get(f"/api/engagements/{other['engagement'].pk}/").status_code == 404
    assert client.get(f"/api/sites/{world.other_site.pk}/").status_code == 404
    # Site B's transfer, call and legs exist (their manager sees them) but never reach site A's manager.
    b = api(other["manager"])
    b_legs = sorted(leg.pk for leg in other["legs"])
    assert ids_of(b, "/api/transfers/") == [other["transfer"].pk]
    assert ids_of(b, "/api/calls/") == [other["call"].pk]
    assert ids_of(b, "/api/legs/") == b_legs
    assert ids_of(client, "/api/transfers/") == []
    assert ids_of(client, "/api/calls/") == []
    assert ids_of(client, "/api/legs/") == []
    assert ids_of(client, f"/api/transfers/?engagement={other['engagement'].pk}") == []
    assert ids_of(client, f"/api/legs/?call={other['call'].pk}") == []
    assert client.get(f"/api/transfers/{other['transfer'].pk}/").status_code == 404
    assert client.get(f"/api/calls/{other['call'].pk}/").status_code == 404
    assert client.get(f"/api/legs/{b_legs[0]}/").status_code == 404
    # The other manager sees theirs and nothing of ours.
    theirs = b.get("/api/engagements/").json()["results"]
    assert sorted(row["id"] for row in theirs) == sorted([other["engagement"].pk, other["call"].engagement_id])


@pytest.fixture
def colleagues(world):
    """Alice and Bob, operators (not managers) of the same site, each with their own conversations.

    Alice held e1, e2 (then transferred to Bob) and e6; Bob held e2 and e4. On e4 (Bob's alone):
    a message, a note, a transfer Bob offered to Carol (declined). A call of Bob's with a consult
    leg to Dan. Carol and Dan never held anything.
    """
    bob = world.op2
    carol = OperatorFactory(site=world.site, display_name="Carol", teams=[world.t1])
    dan = OperatorFactory(site=world.site, display_name="Dan", teams=[world.t2])
    e1, e4 = world.engagements["e1"], world.engagements["e4"]
    MessageFactory(engagement=e1, body="alice's chat")
    NoteFactory(engagement=e1, author=world.op1, body="alice's note")
    message = MessageFactory(engagement=e4, body="bob's secret")
    note = NoteFactory(engagement=e4, author=bob, body="bob's note")
    transfer = make_transfer(e4, bob, carol)
    phones = QueueFactory(site=world.site, name="Phones", media=Media.VOICE)
    call_engagement = make_engagement(
        phones, at(DAY1, 13), answered=5, ended=90, owners=[(bob, 5, 90, "routed", "ended")], visitor_name="Bobs caller"
    )
    call, legs = make_call(call_engagement, ("customer", None), ("operator", bob), ("consult", dan))
    return {
        "carol": carol,
        "dan": dan,
        "message": message,
        "note": note,
        "transfer": transfer,
        "call": call,
        "legs": legs,
    }


def test_an_operator_reads_only_the_conversations_they_took_part_in(world, colleagues):
    """The probe: Alice's token (same site, not a manager) asking for Bob's chat, by list, filter or forged id."""
    alice = api(world.op1.user)
    e = world.engagements
    e4 = e["e4"]
    assert ids_of(alice, "/api/engagements/") == sorted([e["e1"].pk, e["e2"].pk, e["e6"].pk])
    assert alice.get(f"/api/engagements/{e4.pk}/").status_code == 404
    assert alice.get(f"/api/engagements/{e['e3'].pk}/").status_code == 404  # abandoned: nobody's
    for path in (
        f"/api/messages/?engagement={e4.pk}",
        f"/api/notes/?engagement={e4.pk}",
        f"/api/transfers/?engagement={e4.pk}",
        f"/api/calls/?engagement={colleagues['call'].engagement_id}",
        f"/api/legs/?call={colleagues['call'].pk}",
        f"/api/legs/?operator={world.op2.pk}",
        f"/api/engagements/?owner={world.op2.pk}&state=ended&queue={world.q2.pk}",
    ):
        assert ids_of(alice, path) == [], path
    for path in (
        f"/api/messages/{colleagues['message'].pk}/",
        f"/api/notes/{colleagues['note'].pk}/",
        f"/api/transfers/{colleagues['transfer'].pk}/",
        f"/api/calls/{colleagues['call'].pk}/",
        f"/api/legs/{colleagues['legs'][1].pk}/",
    ):
        assert alice.get(path).status_code == 404, path
    for endpoint in ("messages", "notes", "transfers", "calls", "legs"):
        text = alice.get(f"/api/{endpoint}/").content.decode()
        assert "bob's secret" not in text and "bob's note" not in text, endpoint
    assert [row["body"] for row in alice.get("/api/messages/").json()["results"]] == ["alice's chat"]
    assert [row["body"] for row in alice.get("/api/notes/").json()["results"]] == ["alice's note"]
    # The directory of her site stays readable (colleagues' availability, queues' live figures).
    assert world.op2.pk in ids_of(alice, "/api/operators/")
    assert ids_of(alice, "/api/sites/") == [world.site.pk]
    # Bob reads his own chat (and e2, which he took over), and not Alice's e1 or e6.
    bob = api(world.op2.user)
    assert ids_of(bob, "/api/engagements/") == sorted([e["e2"].pk, e4.pk, colleagues["call"].engagement_id])
    assert [row["body"] for row in bob.get(f"/api/messages/?engagement={e4.pk}").json()["results"]] == ["bob's secret"]
    assert bob.get(f"/api/messages/?engagement={e['e1'].pk}").json()["results"] == []


def test_an_operator_offered_a_chat_or_on_a_call_leg_reads_that_one(world, colleagues):
    carol = api(colleagues["carol"].user)  # offered e4 by Bob's transfer, declined
    e4 = world.engagements["e4"]
    assert ids_of(carol, "/api/engagements/") == [e4.pk]
    assert ids_of(carol, "/api/transfers/") == [colleagues["transfer"].pk]
    assert [row["body"] for row in carol.get(f"/api/messages/?engagement={e4.pk}").json()["results"]] == [
        "bob's secret"
    ]
    assert ids_of(carol, "/api/calls/") == []
    dan = api(colleagues["dan"].user)  # consulted on Bob's call
    assert ids_of(dan, "/api/engagements/") == [colleagues["call"].engagement_id]
    assert ids_of(dan, "/api/calls/") == [colleagues["call"].pk]
    assert ids_of(dan, "/api/legs/") == sorted(leg.pk for leg in colleagues["legs"])
    assert ids_of(dan, "/api/messages/") == [] and ids_of(dan, "/api/transfers/") == []


def test_an_operator_who_manages_the_site_reads_all_of_it(world, colleagues):
    world.site.managers.add(world.op1.user)
    alice = api(world.op1.user)
    assert len(ids_of(alice, "/api/engagements/")) == 7  # e1..e6 and Bob's call
    assert ids_of(alice, f"/api/messages/?engagement={world.engagements['e4'].pk}") == [colleagues["message"].pk]
    assert alice.get("/api/metrics/").status_code == 200


def test_site_figures_are_for_managers(world):
    refused = api(world.op1.user).get("/api/metrics/?start=2026-03-02&end=2026-03-03")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_manager"


def test_operators_with_availability_and_queues_with_live_stats(world):
    client = api(world.manager)
    alice = client.get(f"/api/operators/{world.op1.pk}/").json()
    assert alice["display_name"] == "Alice" and alice["teams"] == [world.t1.pk]
    assert {a["media"]: a["status"] for a in alice["availability"]} == {
        "chat": "offline",
        "voice": "offline",
        "video": "offline",
    }
    q2 = client.get(f"/api/queues/{world.q2.pk}/").json()
    assert q2["live"]["waiting"] == 1  # e5 still waits
    assert q2["live"]["longest_wait_seconds"] > 0
    assert q2["service_level_seconds"] == 60
    listed = {row["name"]: row["live"]["waiting"] for row in client.get("/api/queues/").json()["results"]}
    assert listed == {"Q1": 0, "Q2": 1}


def test_filters_and_cursor_pages(world):
    client = api(world.manager)
    rows = client.get(f"/api/engagements/?queue={world.q2.pk}").json()["results"]
    assert sorted(r["id"] for r in rows) == sorted([world.engagements["e4"].pk, world.engagements["e5"].pk])
    rows = client.get("/api/engagements/?state=queued").json()["results"]
    assert [r["id"] for r in rows] == [world.engagements["e5"].pk]
    rows = client.get("/api/engagements/?created_after=2026-03-03T00:00:00Z").json()["results"]
    assert [r["id"] for r in rows] == [world.engagements["e6"].pk]
    assert client.get("/api/engagements/?state=nonsense").status_code == 400
    assert client.get("/api/engagements/?queue=99999999999999999999999").json()["results"] == []
    first = client.get("/api/engagements/?page_size=4").json()
    assert len(first["results"]) == 4 and first["next"] and "cursor=" in first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None
    seen = [r["id"] for r in first["results"] + second["results"]]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 6


def test_time_filters_take_any_iso_offset_and_refuse_unrepresentable_moments(world):
    """Found by the schema fuzz: '+23:57' is valid ISO 8601 but PostgreSQL refuses offsets past 15:59,
    so the filter used to answer 500. Moments are taken in UTC; one UTC cannot hold is a 400."""
    client = api(world.manager)
    rows = client.get("/api/engagements/?created_after=2026-03-03T23:57:00%2B23:57").json()["results"]
    assert [r["id"] for r in rows] == [world.engagements["e6"].pk]
    assert client.get("/api/transfers/?requested_after=0261-08-30T13:21:14%2B23:57").status_code == 200
    refused = client.get("/api/transfers/?requested_before=0001-01-01T00:00:00%2B23:00")
    assert refused.status_code == 400 and "out of range" in str(refused.json())


def test_metrics_endpoint_gives_the_hand_worked_figures(world, other):
    response = api(world.manager).get("/api/metrics/?start=2026-03-02&end=2026-03-03")
    assert response.status_code == 200
    body = response.json()
    total = body["engagements"][0]
    assert (total["offered"], total["answered"], total["abandoned"]) == (6, 4, 1)
    assert total["service_level"] == pytest.approx(0.6)  # 3 within threshold / (4 answered + 1 abandoned)
    assert total["p90_wait"] == pytest.approx(46)
    assert body["time_zone"] == "UTC"
    by_queue = api(world.manager).get("/api/metrics/?start=2026-03-02&end=2026-03-03&by=queue").json()
    assert [r["label"] for r in by_queue["engagements"]] == ["Q1 (Lyon)", "Q2 (Lyon)"]
    # Asking for another site's figures gives none of them.
    foreign = api(world.manager).get(f"/api/metrics/?start=2026-03-02&end=2026-03-03&site={world.other_site.pk}").json()
    assert foreign["engagements"][0]["offered"] == 0
    assert api(world.manager).get("/api/metrics/?start=2026-03-05&end=2026-03-01").status_code == 400
    assert api(world.manager).get("/api/metrics/?by=week").status_code == 400


@pytest.fixture
def live_chat(world):
    """e7: an active chat owned by Alice; Carol is available for chat on the same site."""
    engagement = make_engagement(world.q1, at(DAY1, 16), answered=5, owners=[(world.op1, 5, None, "routed", "")])
    carol = OperatorFactory(site=world.site, display_name="Carol", available=["chat"], teams=[world.t1])
    return engagement, carol


def test_owner_adds_a_note_through_the_api(world, live_chat):
    engagement, carol = live_chat
    response = api(world.op1.user).post(
        f"/api/engagements/{engagement.pk}/notes/", {"body": "VIP customer"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["body"] == "VIP customer" and response.json()["author"] == world.op1.pk
    assert Note.objects.get(engagement=engagement).source == "manual"


def test_note_refusals(world, live_chat, other):
    engagement, carol = live_chat
    # Carol never took part in the chat: for her it does not exist.
    hidden = api(carol.user).post(f"/api/engagements/{engagement.pk}/notes/", {"body": "x"}, format="json")
    assert hidden.status_code == 404
    # Once offered it (a declined transfer) she may read it, but only its current owner writes (the socket's rule).
    make_transfer(engagement, world.op1, carol)
    refused = api(carol.user).post(f"/api/engagements/{engagement.pk}/notes/", {"body": "x"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_owner"
    # Nor does a former owner: Alice held e2 before transferring it to Bob.
    former = api(world.op1.user).post(
        f"/api/engagements/{world.engagements['e2'].pk}/notes/", {"body": "x"}, format="json"
    )
    assert former.status_code == 403 and former.json()["error"]["code"] == "not_owner"
    manager = api(world.manager).post(f"/api/engagements/{engagement.pk}/notes/", {"body": "x"}, format="json")
    assert manager.status_code == 403 and manager.json()["error"]["code"] == "not_operator"
    foreign = api(world.op1.user).post(
        f"/api/engagements/{other['engagement'].pk}/notes/", {"body": "x"}, format="json"
    )
    assert foreign.status_code == 404
    empty = api(world.op1.user).post(f"/api/engagements/{engagement.pk}/notes/", {"body": "  "}, format="json")
    assert empty.status_code == 400
    assert not Note.objects.filter(engagement=engagement).exists()
    assert not Note.objects.filter(engagement=world.engagements["e2"]).exists()


def test_owner_starts_a_chat_transfer_through_the_transfers_service(world, live_chat):
    engagement, carol = live_chat
    response = api(world.op1.user).post(
        "/api/transfers/",
        {"engagement": engagement.pk, "target_operator": carol.pk, "warm_message": "Billing question"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "requested" and body["offered_to"] == carol.pk
    assert [o["operator"] for o in body["offers"]] == [carol.pk]
    transfer = Transfer.objects.get(pk=body["id"])
    assert transfer.note.body == "Billing question" and transfer.note.source == "transfer"
    again = api(world.op1.user).post(
        "/api/transfers/", {"engagement": engagement.pk, "target_queue": world.q1.pk}, format="json"
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_open"


def test_transfer_refusals(world, live_chat, other):
    engagement, carol = live_chat
    client = api(world.op1.user)
    both = client.post(
        "/api/transfers/", {"engagement": engagement.pk, "target_operator": carol.pk, "target_queue": 1}, format="json"
    )
    assert both.status_code == 400
    to_self = client.post(
        "/api/transfers/", {"engagement": engagement.pk, "target_operator": world.op1.pk}, format="json"
    )
    assert to_self.status_code == 400 and to_self.json()["error"]["code"] == "self_target"
    hidden = api(carol.user).post(
        "/api/transfers/", {"engagement": engagement.pk, "target_operator": world.op1.pk}, format="json"
    )
    assert hidden.status_code == 404  # Carol took no part in it: not found
    offered = make_transfer(engagement, world.op1, carol)  # now she has seen it, yet does not own it
    not_owner = api(carol.user).post(
        "/api/transfers/", {"engagement": engagement.pk, "target_operator": world.op1.pk}, format="json"
    )
    assert not_owner.status_code == 403 and not_owner.json()["error"]["code"] == "not_owner"
    # Bob's chat e4 (same site, ended) is no more Alice's to transfer than site B's.
    same_site = client.post(
        "/api/transfers/", {"engagement": world.engagements["e4"].pk, "target_operator": carol.pk}, format="json"
    )
    assert same_site.status_code == 404
    foreign = client.post(
        "/api/transfers/", {"engagement": other["engagement"].pk, "target_operator": carol.pk}, format="json"
    )
    assert foreign.status_code == 404
    assert list(Transfer.objects.filter(engagement__site=world.site)) == [offered]
    assert Ownership.objects.filter(engagement=engagement, ended_at__isnull=True).get().operator == world.op1


def test_schema_and_docs_are_served(world, client):
    response = client.get("/api/schema/")
    assert response.status_code == 200 and b"/api/engagements/{id}/notes/" in response.content
    client.force_login(world.manager)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()
