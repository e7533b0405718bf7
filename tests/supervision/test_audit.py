"""The admin's change history beside the supervisor acts: scoped to the sites a manager manages (in the
admin, the export and the selector they share), filterable, exportable as CSV and XLSX."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.utils import timezone

from reporting.exports import DATASETS
from reporting.scope import build_scope
from supervision.audit import admin_changes_on_sites, admin_changes_visible_to
from tests.factories import (
    AdminChangeFactory,
    CannedResponseFactory,
    EngagementFactory,
    OperatorFactory,
    QueueFactory,
    SupervisorActFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/admin/logentry/"


@pytest.fixture
def changes(floor):
    """Admin changes of Lyon's objects (by Lyon's manager and by a superuser), of Oslo's, and of a user."""
    boss = UserFactory(username="boss", is_superuser=True, is_staff=True)
    oslo_queue = QueueFactory(site=floor.other_site, name="Oslo chat")
    return {
        "queue": AdminChangeFactory(changed=floor.general, user=floor.manager, object_repr="General chat"),
        "site": AdminChangeFactory(changed=floor.site, user=boss, object_repr="Lyon", action_flag=ADDITION),
        "operator": AdminChangeFactory(changed=floor.bob, user=boss, object_repr="Bob Baker"),
        "team": AdminChangeFactory(changed=floor.team, user=floor.manager, object_repr="Front"),
        "canned": AdminChangeFactory(changed=CannedResponseFactory(site=floor.site), user=floor.manager),
        "engagement": AdminChangeFactory(changed=EngagementFactory(queue=floor.general), user=boss),
        "oslo": AdminChangeFactory(changed=oslo_queue, user=floor.stranger, object_repr="Oslo chat"),
        "oslo_team": AdminChangeFactory(changed=TeamFactory(site=floor.other_site), user=boss),
        "user": AdminChangeFactory(changed=floor.alice.user, user=boss, object_repr="alice"),
        "boss": boss,
    }


def ids(queryset):
    return set(queryset.values_list("pk", flat=True))


def test_a_manager_sees_every_change_of_their_sites_objects_whoever_made_it(floor, changes):
    lyon = {changes[k].pk for k in ("queue", "site", "operator", "team", "canned", "engagement")}
    assert ids(admin_changes_on_sites([floor.site.pk])) == lyon
    assert ids(admin_changes_visible_to(floor.manager)) == lyon
    assert ids(admin_changes_visible_to(floor.stranger)) == {changes["oslo"].pk, changes["oslo_team"].pk}


def test_changes_of_objects_without_a_site_or_deleted_are_for_superusers_only(floor, changes):
    gone = AdminChangeFactory(changed=QueueFactory(site=floor.site), user=floor.manager, action_flag=DELETION)
    Queue = type(floor.general)
    Queue.objects.filter(pk=gone.object_id).delete()
    assert changes["user"].pk not in ids(admin_changes_visible_to(floor.manager))
    assert gone.pk not in ids(admin_changes_visible_to(floor.manager))
    assert ids(admin_changes_visible_to(changes["boss"])) == ids(LogEntry.objects.all())


def test_an_operator_sees_no_admin_change(floor, changes):
    assert not admin_changes_visible_to(floor.alice.user).exists()


def test_the_admin_page_lists_only_the_managers_sites_changes(floor, changes, client):
    client.force_login(floor.manager)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"6 log entries" in page.content
    assert b"Oslo chat" not in page.content and b"alice" not in page.content.split(b"<tbody>")[-1]
    # Another site's entry is "not found" on its own page.
    other = client.get(f"{CHANGELIST}{changes['oslo'].pk}/change/")
    assert other.status_code == 302 and other.url.startswith("/admin/")
    mine = client.get(f"{CHANGELIST}{changes['queue'].pk}/change/")
    assert mine.status_code == 200 and b"Changed Name." in mine.content


def test_the_admin_page_filters_by_action_content_type_user_and_date_and_searches(floor, changes, client):
    client.force_login(floor.manager)
    added = client.get(CHANGELIST, {"action_flag__exact": ADDITION})
    assert b"1 log entry" in added.content and b"Lyon" in added.content
    by_type = client.get(CHANGELIST, {"content_type__id__exact": changes["team"].content_type_id})
    assert b"1 log entry" in by_type.content and b"Front" in by_type.content
    by_user = client.get(CHANGELIST, {"user__id__exact": changes["boss"].pk})
    assert b"3 log entries" in by_user.content
    searched = client.get(CHANGELIST, {"q": "General"})
    assert b"1 log entry" in searched.content
    today = timezone.localdate()
    dated = client.get(CHANGELIST, {"action_time__year": today.year, "action_time__month": today.month})
    assert b"6 log entries" in dated.content
    # The user filter lists only users whose changes the manager may see.
    sidebar = client.get(CHANGELIST).content.decode()
    assert f"user__id__exact={floor.stranger.pk}" not in sidebar
    assert f"user__id__exact={changes['boss'].pk}" in sidebar


def test_the_admin_page_is_read_only_and_closed_to_operators(floor, changes, client):
    client.force_login(floor.manager)
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.post(f"{CHANGELIST}{changes['queue'].pk}/delete/", {"post": "yes"}).status_code == 403
    assert LogEntry.objects.filter(pk=changes["queue"].pk).exists()
    client.force_login(floor.alice.user)
    assert client.get(CHANGELIST).status_code == 302  # not staff: the admin's login


def exported(client, fmt, **filters):
    response = client.post(
        f"{CHANGELIST}?{'&'.join(f'{k}={v}' for k, v in filters.items())}",
        {"action": f"export_admin_changes_{fmt}", "index": 0, "select_across": "1", ACTION_CHECKBOX_NAME: ["0"]},
    )
    assert response.status_code == 200
    return b"".join(response) if response.streaming else response.content


def test_the_admin_exports_its_filtered_changes_as_csv_and_xlsx(floor, changes, client):
    client.force_login(floor.manager)
    rows = list(csv.reader(io.StringIO(exported(client, "csv", action_flag__exact=2).decode())))
    assert rows[0] == ["id", "at", "user", "action", "object_type", "object_id", "object", "change_message"]
    assert {r[0] for r in rows[1:]} == {
        str(changes[k].pk) for k in ("queue", "operator", "team", "canned", "engagement")
    }
    queue_row = next(r for r in rows if r[0] == str(changes["queue"].pk))
    assert queue_row[2:7] == [
        floor.manager.username,
        "changed",
        "helpdesk.queue",
        str(floor.general.pk),
        "General chat",
    ]
    assert queue_row[1].startswith(str(changes["queue"].action_time.year))
    workbook = zipfile.ZipFile(io.BytesIO(exported(client, "xlsx")))
    sheet = workbook.read("xl/worksheets/sheet1.xml").decode()
    assert "General chat" in sheet and "Oslo chat" not in sheet


def test_the_admin_changes_dataset_is_the_scopes_sites_within_its_dates(floor, changes):
    old = AdminChangeFactory(changed=floor.billing, user=floor.manager, object_repr="Billing chat")
    LogEntry.objects.filter(pk=old.pk).update(action_time=timezone.now() - timedelta(days=30))
    today = timezone.localdate()
    scope = build_scope(sites=[floor.site], start_date=today - timedelta(days=1), end_date=today)
    rows = list(DATASETS["admin_changes"].rows(scope))
    assert {row[0] for row in rows} == {
        changes[k].pk for k in ("queue", "site", "operator", "team", "canned", "engagement")
    }
    assert DATASETS["admin_changes"].count(scope) == 6
    assert {row[3] for row in rows} == {"added", "changed"}


def test_a_formula_in_a_changed_objects_name_is_neutralised_in_the_export(floor, client):
    AdminChangeFactory(changed=floor.general, user=floor.manager, object_repr="=HYPERLINK(1)")
    client.force_login(floor.manager)
    rows = list(csv.reader(io.StringIO(exported(client, "csv").decode())))
    assert rows[1][6] == "'=HYPERLINK(1)"


def test_the_supervisor_acts_page_filters_by_actor_and_lists_only_visible_actors(floor, client):
    mine = SupervisorActFactory(
        site=floor.site, actor=floor.lead.user, engagement=EngagementFactory(queue=floor.general)
    )
    SupervisorActFactory(site=floor.site, actor=floor.manager, engagement=mine.engagement)
    SupervisorActFactory(site=floor.other_site, actor=floor.stranger, operator=OperatorFactory(site=floor.other_site))
    client.force_login(floor.manager)
    page = client.get("/admin/supervision/supervisoract/", {"actor__id__exact": floor.lead.user.pk})
    assert b"1 supervisor act" in page.content
    assert f"actor__id__exact={floor.stranger.pk}" not in page.content.decode()


def test_python_writes_the_same_admin_change_cells_as_the_database(floor, changes, monkeypatch):
    from reporting.exports import rows as export_rows

    today = timezone.localdate()
    scope = build_scope(sites=[floor.site], start_date=today - timedelta(days=1), end_date=today)
    by_database = sorted(DATASETS["admin_changes"].rows(scope))
    monkeypatch.setattr(export_rows, "_database_formats_cells", lambda: False)
    by_python = sorted(DATASETS["admin_changes"].rows(scope))
    assert len(by_python) == 6
    assert by_database == by_python  # the sites' shared zone both ways
