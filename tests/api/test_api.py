"""The REST API: token auth, site scoping on every endpoint, filters, cursor pages, metrics, and the writes."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from helpdesk.models import Note, Ownership
from tests.factories import ManagerFactory, OperatorFactory, QueueFactory
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


@pytest.fixture
def other(world):
    """Site B with its own manager, queue, operator and an engagement with a message and a note."""
    queue = QueueFactory(site=world.other_site, name="Elsewhere")
    operator = OperatorFactory(site=world.other_site, display_name="Zed")
    engagement = make_engagement(
        queue, at(DAY1, 10), answered=5, ended=60, owners=[(operator, 5, 60, "routed", "ended")], visitor_name="Theirs"
    )
    engagement.messages.create(seq=1, sender="visitor", body="their secret")
    Note.objects.create(engagement=engagement, author=operator, body="their note")
    return {"manager": ManagerFactory(username="manager_b", sites=[world.other_site]), "engagement": engagement}


def test_token_is_required():
    assert APIClient().get("/api/engagements/").status_code == 401


def test_every_list_shows_only_the_callers_sites(world, other):
    client = api(world.manager)
    world.engagements["e1"].messages.create(seq=1, sender="visitor", body="our message")
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
    # The other manager sees theirs and nothing of ours.
    theirs = api(other["manager"]).get("/api/engagements/").json()["results"]
    assert [row["id"] for row in theirs] == [other["engagement"].pk]


def test_operator_token_reads_its_own_site(world, other):
    rows = api(world.op1.user).get("/api/engagements/").json()["results"]
    assert len(rows) == 6


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
    refused = api(carol.user).post(f"/api/engagements/{engagement.pk}/notes/", {"body": "x"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_owner"
    manager = api(world.manager).post(f"/api/engagements/{engagement.pk}/notes/", {"body": "x"}, format="json")
    assert manager.status_code == 403 and manager.json()["error"]["code"] == "not_operator"
    foreign = api(world.op1.user).post(
        f"/api/engagements/{other['engagement'].pk}/notes/", {"body": "x"}, format="json"
    )
    assert foreign.status_code == 404
    empty = api(world.op1.user).post(f"/api/engagements/{engagement.pk}/notes/", {"body": "  "}, format="json")
    assert empty.status_code == 400
    assert not Note.objects.filter(engagement=engagement).exists()


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
    not_owner = api(carol.user).post(
        "/api/transfers/", {"engagement": engagement.pk, "target_operator": world.op1.pk}, format="json"
    )
    assert not_owner.status_code == 403
    foreign = client.post(
        "/api/transfers/", {"engagement": other["engagement"].pk, "target_operator": carol.pk}, format="json"
    )
    assert foreign.status_code == 404
    assert not Transfer.objects.exists()
    assert Ownership.objects.filter(engagement=engagement, ended_at__isnull=True).get().operator == world.op1


def test_schema_and_docs_are_served(world, client):
    response = client.get("/api/schema/")
    assert response.status_code == 200 and b"/api/engagements/{id}/notes/" in response.content
    client.force_login(world.manager)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()
