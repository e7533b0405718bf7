"""Admin export actions: they export the change list's filtered, searched, site-scoped queryset."""

import csv
import io

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from openpyxl import load_workbook

from tests.factories import CallFactory, ManagerFactory, QueueFactory, TransferFactory
from tests.reporting.conftest import DAY1, at, make_engagement

CHANGELIST = "/admin/helpdesk/engagement/"


def run_action(client, action, query="", selected=(), select_across=False):
    data = {"action": action, "index": 0, "select_across": "1" if select_across else "0"}
    data[ACTION_CHECKBOX_NAME] = [str(pk) for pk in selected]
    response = client.post(CHANGELIST + query, data)
    body = b"".join(response) if response.streaming else response.content
    return response, body


def csv_rows(body):
    return list(csv.reader(io.StringIO(body.decode())))


def test_select_all_exports_the_filtered_and_searched_change_list(world, client):
    client.force_login(world.manager)
    e = world.engagements
    response, body = run_action(
        client, "export_engagements_csv", f"?queue__id__exact={world.q2.pk}", selected=[e["e4"].pk], select_across=True
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = csv_rows(body)
    assert [r[0] for r in rows[1:]] == [str(e["e4"].pk), str(e["e5"].pk)]  # all of Q2, not only the ticked one
    response, body = run_action(client, "export_engagements_csv", "?q=Bob", selected=[e["e2"].pk], select_across=True)
    assert sorted(r[0] for r in csv_rows(body)[1:]) == sorted([str(e["e2"].pk), str(e["e4"].pk)])


def test_ticked_rows_only_without_select_all_and_xlsx(world, client):
    client.force_login(world.manager)
    e1 = world.engagements["e1"]
    response, body = run_action(client, "export_engagements_xlsx", selected=[e1.pk])
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(body), read_only=True).worksheets[0].iter_rows(values_only=True))
    assert rows[1][:3] == (e1.pk, "Lyon", "Q1") and len(rows) == 2


def test_manager_of_another_site_cannot_export_this_sites_rows(world, client):
    other_queue = QueueFactory(site=world.other_site, name="Elsewhere")
    theirs = make_engagement(other_queue, at(DAY1, 10), answered=5, ended=60, visitor_name="Theirs")
    client.force_login(ManagerFactory(username="manager_b", sites=[world.other_site]))
    ours = [e.pk for e in world.engagements.values()]
    response, body = run_action(client, "export_engagements_csv", selected=[*ours, theirs.pk], select_across=True)
    rows = csv_rows(body)
    assert [r[0] for r in rows[1:]] == [str(theirs.pk)]
    # Ticking only our rows by id gives them nothing either.
    response, body = run_action(client, "export_engagements_csv", selected=ours)
    assert b"Lyon" not in body


def test_availability_log_action(world, client):
    client.force_login(world.manager)
    data = {"action": "export_availability_log_csv", "index": 0, "select_across": "1", ACTION_CHECKBOX_NAME: ["1"]}
    response = client.post("/admin/helpdesk/availabilitylog/?status__exact=busy", data)
    rows = csv_rows(b"".join(response))
    assert rows[1:] == [["Alice", "chat", "busy", "2026-03-02T10:00:00+00:00", "2026-03-02T12:00:00+00:00", "7200"]]


def test_transfer_and_call_admins_export_their_change_lists(world, client):
    from datetime import timedelta

    from helpdesk.models import Media

    e1 = world.engagements["e1"]
    transfer = TransferFactory(
        engagement=e1,
        initiator=world.op1,
        target_operator=world.op2,
        state="declined",
        reason_text="=Busy",
        requested_at=e1.created_at + timedelta(seconds=20),
        answered_at=e1.created_at + timedelta(seconds=25),
    )
    voice = QueueFactory(site=world.site, name="Phones", media=Media.VOICE)
    call = CallFactory(engagement=make_engagement(voice, at(DAY1, 14), visitor_name="Caller"))
    client.force_login(world.manager)
    data = {"action": "export_transfers_csv", "index": 0, "select_across": "1", ACTION_CHECKBOX_NAME: ["1"]}
    rows = csv_rows(b"".join(client.post("/admin/transfers/transfer/?state__exact=declined", data)))
    assert rows[1][:3] == [str(transfer.pk), str(e1.pk), "Alice"] and rows[1][8] == "'=Busy"
    data["action"] = "export_calls_xlsx"
    response = client.post("/admin/telephony/call/", data)
    sheet = load_workbook(io.BytesIO(b"".join(response)), read_only=True).worksheets[0]
    assert [row[:4] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        (call.pk, call.engagement_id, "Phones", "Caller")
    ]
    # Another site's manager gets the header only.
    client.force_login(ManagerFactory(username="manager_b", sites=[world.other_site]))
    data["action"] = "export_transfers_csv"
    assert csv_rows(b"".join(client.post("/admin/transfers/transfer/", data)))[1:] == []


def test_reporting_attaches_the_export_actions_after_each_admins_own_and_only_once():
    """The domain admins import nothing of reporting: its ready() adds the export actions to them."""
    from django.contrib import admin

    from helpdesk.models import AvailabilityLog, Engagement
    from reporting.admin_actions import attach_export_actions
    from telephony.models import Call
    from transfers.models import Transfer

    def names(model_admin):
        return [getattr(action, "__name__", action) for action in model_admin.actions]

    for model, dataset in [
        (Engagement, "engagements"), (AvailabilityLog, "availability_log"), (Transfer, "transfers"), (Call, "calls")
    ]:  # fmt: skip
        assert names(admin.site.get_model_admin(model)) == [f"export_{dataset}_csv", f"export_{dataset}_xlsx"]

    class WithOwnAction(admin.ModelAdmin):
        actions = ["close_selected"]

    site = admin.AdminSite(name="elsewhere")
    site.register(Engagement, WithOwnAction)
    attach_export_actions(site)
    attach_export_actions(site)
    assert names(site.get_model_admin(Engagement)) == [
        "close_selected", "export_engagements_csv", "export_engagements_xlsx"
    ]  # fmt: skip
