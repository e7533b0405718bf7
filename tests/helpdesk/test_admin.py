"""Managers administer only the sites they manage, through every admin HTTP page."""

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from helpdesk.admin.scoping import SiteScopedMixin
from helpdesk.models import Operator, Queue, Team
from tests.factories import (
    AvailabilityLogFactory,
    EngagementFactory,
    ManagerFactory,
    MessageFactory,
    NoteFactory,
    OperatorFactory,
    QueueFactory,
    SiteFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_sites():
    """Site A with its manager, and site B with one of everything a manager could reach."""
    site_a, site_b = SiteFactory(name="Alpha"), SiteFactory(name="Bravo")
    team_a, team_b = TeamFactory(site=site_a, name="Team A"), TeamFactory(site=site_b, name="Team B")
    operator_a = OperatorFactory(site=site_a, teams=[team_a], display_name="Ann A")
    operator_b = OperatorFactory(site=site_b, teams=[team_b], display_name="Ben B")
    queue_a = QueueFactory(site=site_a, teams=[team_a], name="Queue A")
    queue_b = QueueFactory(site=site_b, teams=[team_b], name="Queue B")
    engagement_b = EngagementFactory(queue=queue_b)
    MessageFactory(engagement=engagement_b, seq=1, body="secret of site B")
    return {
        "manager": ManagerFactory(sites=[site_a]),
        "a": {"site": site_a, "team": team_a, "operator": operator_a, "queue": queue_a},
        "b": {
            "site": site_b, "team": team_b, "operator": operator_b, "queue": queue_b, "engagement": engagement_b,
        },
    }  # fmt: skip


# The queue page's inlines (business hours, slots, holidays, overflow, codes) posted back empty.
QUEUE_INLINES_EMPTY = {
    f"{prefix}-{field}": "0"
    for prefix in ("hours", "opening_slots", "holidays", "overflow", "codes")
    for field in ("TOTAL_FORMS", "INITIAL_FORMS")
}

# The queue form's after-contact work fields as a queue without wrap-up posts them.
QUEUE_WRAP_UP_NONE = {"wrap_up_mode": "none", "wrap_up_seconds": 60}


def admin_url(obj, action="change"):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_{action}", args=[obj.pk])


def changelist_url(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.mark.parametrize("kind", ["site", "team", "operator", "queue"])
def test_manager_lists_only_their_own_sites_objects(client, two_sites, kind):
    client.force_login(two_sites["manager"])
    own, other = two_sites["a"][kind], two_sites["b"][kind]
    response = client.get(changelist_url(type(own)))
    assert response.status_code == 200
    assert str(own.pk) in {str(pk) for pk in response.context["cl"].result_list.values_list("pk", flat=True)}
    assert other not in response.context["cl"].result_list
    assert str(other).split(" (")[0] not in response.content.decode()


def site_b_names(two_sites) -> list[str]:
    b = two_sites["b"]
    return [b["site"].name, b["team"].name, b["queue"].name, b["operator"].display_name]


def test_no_change_list_shows_another_sites_names_in_its_filters(client, two_sites):
    """Filter sidebars (site, teams, queue, operator's site…) list only the manager's own sites' objects."""
    b = two_sites["b"]
    AvailabilityLogFactory(operator=b["operator"], started_at=timezone.now(), ended_at=None)  # the open stretch
    client.force_login(two_sites["manager"])
    scoped = [model for model, model_admin in admin.site._registry.items() if isinstance(model_admin, SiteScopedMixin)]
    leaks, checked = [], []
    for model in scoped:
        response = client.get(changelist_url(model))
        if response.status_code == 403:  # superusers only (provider events)
            continue
        assert response.status_code == 200, model
        checked.append(model._meta.label)
        page = response.content.decode()
        leaks += [f"{model._meta.label}: {name!r}" for name in site_b_names(two_sites) if name in page]
    assert not leaks, leaks
    assert {"helpdesk.Site", "helpdesk.Team", "helpdesk.Operator", "helpdesk.Queue", "helpdesk.Engagement"} <= set(
        checked
    )
    assert {"helpdesk.AvailabilityLog", "transfers.Transfer", "telephony.Call"} <= set(checked)


def test_filters_still_list_every_site_the_manager_manages(client, two_sites):
    site_a2 = SiteFactory(name="Alpha two")
    site_a2.managers.add(two_sites["manager"])
    TeamFactory(site=site_a2, name="Team A2")
    client.force_login(two_sites["manager"])
    response = client.get(changelist_url(Operator))
    filters = {spec.title: [choice["display"] for choice in spec.choices(response.context["cl"])] for spec in
               response.context["cl"].filter_specs}  # fmt: skip
    assert filters["site"] == ["All", "Alpha", "Alpha two"]
    assert filters["teams"] == ["All", "Team A (Alpha)", "Team A2 (Alpha two)", "-"]


def test_superuser_filters_list_every_site(client, two_sites):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(changelist_url(Team)).content.decode()
    assert "Alpha" in page and "Bravo" in page


@pytest.mark.parametrize("kind", ["site", "team", "operator", "queue", "engagement"])
def test_manager_cannot_open_another_sites_object(client, two_sites, kind):
    client.force_login(two_sites["manager"])
    response = client.get(admin_url(two_sites["b"][kind]))
    # Django's admin answers an object outside get_queryset with a redirect to the index + message.
    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_manager_cannot_change_another_sites_queue(client, two_sites):
    client.force_login(two_sites["manager"])
    queue_b = two_sites["b"]["queue"]
    response = client.post(admin_url(queue_b), {"name": "Hijacked", "site": queue_b.site_id, "media": "chat"})
    assert response.status_code == 302
    queue_b.refresh_from_db()
    assert queue_b.name == "Queue B"


def test_manager_cannot_delete_another_sites_team(client, two_sites):
    client.force_login(two_sites["manager"])
    team_b = two_sites["b"]["team"]
    client.post(admin_url(team_b, "delete"), {"post": "yes"})
    assert Team.objects.filter(pk=team_b.pk).exists()


def test_queue_form_offers_only_own_sites_and_teams(client, two_sites):
    client.force_login(two_sites["manager"])
    response = client.get(reverse("admin:helpdesk_queue_add"))
    form = response.context["adminform"].form
    assert list(form.fields["site"].queryset) == [two_sites["a"]["site"]]
    assert list(form.fields["teams"].queryset) == [two_sites["a"]["team"]]


def test_manager_cannot_put_another_sites_team_on_their_queue(client, two_sites):
    client.force_login(two_sites["manager"])
    queue_a = two_sites["a"]["queue"]
    response = client.post(
        admin_url(queue_a),
        {
            "site": two_sites["a"]["site"].pk, "name": "Queue A", "media": "chat",
            "teams": [two_sites["b"]["team"].pk], "accept_timeout_seconds": 30,
            "service_level_seconds": 20, "service_level_target_percent": 80,
        },
    )  # fmt: skip
    assert response.status_code == 200  # the form comes back with an error
    assert "Select a valid choice" in response.content.decode()
    assert list(queue_a.teams.all()) == [two_sites["a"]["team"]]


def test_manager_cannot_move_a_queue_to_another_site(client, two_sites):
    client.force_login(two_sites["manager"])
    queue_a = two_sites["a"]["queue"]
    response = client.post(
        admin_url(queue_a),
        {
            "site": two_sites["b"]["site"].pk, "name": "Queue A", "media": "chat",
            "teams": [two_sites["a"]["team"].pk], "accept_timeout_seconds": 30,
            "service_level_seconds": 20, "service_level_target_percent": 80,
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert Queue.objects.get(pk=queue_a.pk).site == two_sites["a"]["site"]


def test_queue_teams_must_belong_to_the_queues_site(client, two_sites):
    site_a2 = SiteFactory(name="Alpha two")
    site_a2.managers.add(two_sites["manager"])
    client.force_login(two_sites["manager"])
    response = client.post(
        reverse("admin:helpdesk_queue_add"),
        {
            "site": site_a2.pk, "name": "Mixed", "media": "chat", "teams": [two_sites["a"]["team"].pk],
            "accept_timeout_seconds": 30, "service_level_seconds": 20, "service_level_target_percent": 80,
            **QUEUE_INLINES_EMPTY,
        },
    )  # fmt: skip
    assert "Not teams of Alpha two: Team A." in response.content.decode()
    assert not Queue.objects.filter(name="Mixed").exists()


def test_manager_sets_queue_accept_timeout(client, two_sites):
    client.force_login(two_sites["manager"])
    queue_a = two_sites["a"]["queue"]
    response = client.post(
        admin_url(queue_a),
        {
            "site": two_sites["a"]["site"].pk, "name": "Queue A", "media": "chat",
            "teams": [two_sites["a"]["team"].pk], "accept_timeout_seconds": 45,
            "service_level_seconds": 20, "service_level_target_percent": 80, **QUEUE_WRAP_UP_NONE,
            **QUEUE_INLINES_EMPTY,
        },
    )  # fmt: skip
    assert response.status_code == 302
    queue_a.refresh_from_db()
    assert queue_a.accept_timeout_seconds == 45


def test_queue_list_shows_how_many_wait_now(client, two_sites):
    EngagementFactory.create_batch(2, queue=two_sites["a"]["queue"])
    client.force_login(two_sites["manager"])
    response = client.get(changelist_url(Queue))
    queue = response.context["cl"].result_list.get(pk=two_sites["a"]["queue"].pk)
    assert queue.waiting == 2


def test_manager_creates_an_operator_with_a_login(client, two_sites):
    client.force_login(two_sites["manager"])
    response = client.post(
        reverse("admin:helpdesk_operator_add"),
        {
            "username": "new.operator", "email": "new@example.com", "password": "a-long-pass-phrase-42",
            "display_name": "Nova", "site": two_sites["a"]["site"].pk, "teams": [two_sites["a"]["team"].pk],
        },
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    operator = Operator.objects.get(display_name="Nova")
    assert operator.user.check_password("a-long-pass-phrase-42")
    assert not operator.user.is_staff
    assert operator.availabilities.count() == 3


def test_capacity_cannot_go_below_current_load(client, two_sites):
    operator = two_sites["a"]["operator"]
    chat = operator.availabilities.get(media="chat")
    chat.capacity, chat.load = 3, 2
    chat.save()
    client.force_login(two_sites["manager"])
    rows = list(operator.availabilities.order_by("pk"))
    data = {
        "display_name": operator.display_name, "site": operator.site_id, "teams": [two_sites["a"]["team"].pk],
        "availabilities-TOTAL_FORMS": len(rows), "availabilities-INITIAL_FORMS": len(rows),
        "availabilities-MIN_NUM_FORMS": 0, "availabilities-MAX_NUM_FORMS": 1000,
    }  # fmt: skip
    for index, row in enumerate(rows):
        data[f"availabilities-{index}-id"] = row.pk
        data[f"availabilities-{index}-operator"] = operator.pk
        data[f"availabilities-{index}-capacity"] = 1 if row.media == "chat" else row.capacity
    response = client.post(admin_url(operator), data)
    assert response.status_code == 200
    assert "capacity cannot go below that" in response.content.decode()
    chat.refresh_from_db()
    assert chat.capacity == 3


def test_engagement_page_is_read_only_with_transcript_and_notes(client, two_sites):
    engagement = EngagementFactory(queue=two_sites["a"]["queue"])
    MessageFactory(engagement=engagement, seq=1, body="Hello there")
    NoteFactory(engagement=engagement, body="Internal remark")
    client.force_login(two_sites["manager"])
    response = client.get(admin_url(engagement))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Hello there" in page and "Internal remark" in page
    assert 'name="_save"' not in page


def test_operators_cannot_reach_the_admin(client):
    operator = OperatorFactory()
    client.force_login(operator.user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response.url


def test_staff_without_manager_role_sees_no_site_data(client, two_sites):
    client.force_login(UserFactory(is_staff=True))
    response = client.get(changelist_url(Queue))
    assert response.status_code == 403


def test_superuser_sees_every_site(client, two_sites):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(changelist_url(Queue))
    assert set(response.context["cl"].result_list) == {two_sites["a"]["queue"], two_sites["b"]["queue"]}
