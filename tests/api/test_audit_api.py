"""The audit trail in the REST API: supervisor acts and admin changes, scoped to the caller's managed
sites (operators refused), filtered, paged, and described in the OpenAPI schema."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.contrib.admin.models import ADDITION
from django.utils import timezone

from supervision.models import SupervisorAct
from tests.api.test_api import api
from tests.factories import (
    AdminChangeFactory,
    EngagementFactory,
    ManagerFactory,
    OperatorFactory,
    QueueFactory,
    SiteFactory,
    SupervisorActFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ACTS = "/api/audit/supervisor-acts/"
CHANGES = "/api/audit/admin-changes/"


@pytest.fixture
def trail(db):
    """Two sites, each with a manager, a supervisor's acts and admin changes; an operator of the first."""
    lyon, oslo = SiteFactory(name="Lyon"), SiteFactory(name="Oslo")
    manager, stranger = ManagerFactory(sites=[lyon]), ManagerFactory(sites=[oslo])
    lead = OperatorFactory(site=lyon, display_name="Sam Lead")
    chat = EngagementFactory(queue=QueueFactory(site=lyon, name="General chat"))
    other_chat = EngagementFactory(queue=QueueFactory(site=oslo, name="Oslo chat"))
    week_ago = timezone.now() - timedelta(days=7)
    acts = {
        "watch": SupervisorActFactory(site=lyon, actor=lead.user, engagement=chat, act=SupervisorAct.Act.MONITOR_START),
        "whisper": SupervisorActFactory(site=lyon, actor=lead.user, engagement=chat, act=SupervisorAct.Act.WHISPER),
        "old": SupervisorActFactory(site=lyon, actor=manager, engagement=chat, act="take_over", created_at=week_ago),
        "oslo": SupervisorActFactory(site=oslo, actor=stranger, engagement=other_chat),
    }
    boss = UserFactory(is_superuser=True, is_staff=True)
    changes = {
        "queue": AdminChangeFactory(changed=chat.queue, user=manager),
        "chat": AdminChangeFactory(changed=chat, user=boss, action_flag=ADDITION, action_time=week_ago),
        "oslo": AdminChangeFactory(changed=other_chat.queue, user=stranger),
        "user": AdminChangeFactory(changed=lead.user, user=boss),
    }
    return SimpleNamespace(
        manager=manager,
        stranger=stranger,
        boss=boss,
        lead=lead,
        chat=chat,
        other_chat=other_chat,
        acts=acts,
        changes=changes,
    )


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_a_manager_reads_only_their_sites_supervisor_acts(trail):
    lyon = {trail.acts[k].pk for k in ("watch", "whisper", "old")}
    assert ids(api(trail.manager).get(ACTS)) == lyon
    assert ids(api(trail.stranger).get(ACTS)) == {trail.acts["oslo"].pk}
    assert api(trail.stranger).get(f"{ACTS}{trail.acts['watch'].pk}/").status_code == 404
    row = api(trail.manager).get(f"{ACTS}{trail.acts['whisper'].pk}/").json()
    assert row["act"] == "whisper" and row["act_label"] == "Whispered to the operator"
    assert row["actor"] == trail.lead.user.pk and row["engagement"] == trail.chat.pk


def test_an_operator_is_refused_the_audit_trail(trail):
    for url in (ACTS, CHANGES, f"{ACTS}{trail.acts['watch'].pk}/"):
        response = api(trail.lead.user).get(url)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "not_manager"


def test_supervisor_acts_filter_by_act_actor_engagement_and_dates(trail):
    client = api(trail.manager)
    assert ids(client.get(ACTS, {"act": "whisper"})) == {trail.acts["whisper"].pk}
    assert ids(client.get(ACTS, {"actor": trail.manager.pk})) == {trail.acts["old"].pk}
    assert len(ids(client.get(ACTS, {"engagement": trail.chat.pk}))) == 3
    assert ids(client.get(ACTS, {"engagement": trail.other_chat.pk})) == set()
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(client.get(ACTS, {"created_after": since})) == {trail.acts["watch"].pk, trail.acts["whisper"].pk}
    assert ids(client.get(ACTS, {"created_before": since})) == {trail.acts["old"].pk}
    assert client.get(ACTS, {"act": "dance"}).status_code == 400


def test_supervisor_acts_come_in_cursor_pages(trail):
    first = api(trail.manager).get(ACTS, {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = api(trail.manager).get(first["next"]).json()
    assert len(second["results"]) == 1 and not second["next"]


def test_a_manager_reads_changes_of_their_sites_objects_by_anyone(trail):
    assert ids(api(trail.manager).get(CHANGES)) == {trail.changes["queue"].pk, trail.changes["chat"].pk}
    assert ids(api(trail.stranger).get(CHANGES)) == {trail.changes["oslo"].pk}
    assert len(ids(api(trail.boss).get(CHANGES))) == 4  # a superuser: every change, users' too
    row = api(trail.manager).get(f"{CHANGES}{trail.changes['queue'].pk}/").json()
    assert row["action"] == "changed" and row["object_type"] == "helpdesk.queue"
    assert row["object_id"] == str(trail.chat.queue.pk) and row["change_message"] == "Changed Name."
    assert api(trail.manager).get(f"{CHANGES}{trail.changes['oslo'].pk}/").status_code == 404


def test_admin_changes_filter_by_action_actor_object_engagement_and_dates(trail):
    client = api(trail.manager)
    queue, chat = trail.changes["queue"].pk, trail.changes["chat"].pk
    assert ids(client.get(CHANGES, {"action": "added"})) == {chat}
    assert ids(client.get(CHANGES, {"actor": trail.manager.pk})) == {queue}
    assert ids(client.get(CHANGES, {"object_type": "helpdesk.queue"})) == {queue}
    assert ids(client.get(CHANGES, {"engagement": trail.chat.pk})) == {chat}
    assert ids(client.get(CHANGES, {"engagement": trail.other_chat.pk})) == set()
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(client.get(CHANGES, {"changed_after": since})) == {queue}
    assert ids(client.get(CHANGES, {"changed_before": since})) == {chat}
    assert client.get(CHANGES, {"action": "burned"}).status_code == 400


def test_the_audit_endpoints_are_in_the_openapi_schema(trail):
    schema = api(trail.manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in ("/api/audit/supervisor-acts/", "/api/audit/admin-changes/{id}/"):
        assert path in schema["paths"]
    parameters = {p["name"] for p in schema["paths"][CHANGES]["get"]["parameters"]}
    assert {"action", "actor", "engagement", "changed_after", "changed_before", "cursor"} <= parameters
    assert "403" in schema["paths"][ACTS]["get"]["responses"]
