"""Wrap-up settings and codes in the queue's admin page, and the wrap-up history, scoped to the manager."""

import pytest

from helpdesk.models import DispositionCode, WrapUpMode
from tests.factories import DispositionCodeFactory, ManagerFactory, QueueFactory, TeamFactory, WrapUpFactory
from tests.helpdesk.test_hours_admin import change_url, errors_of, page_data, with_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    team = TeamFactory()
    return QueueFactory(site=team.site, teams=[team], name="Billing")


@pytest.fixture
def manager_client(client, queue):
    client.force_login(ManagerFactory(sites=[queue.site]))
    return client


def code_row(kind, name, code, order="0"):
    return {"kind": kind, "name": name, "code": code, "active": "on", "order": order}


def test_manager_sets_a_time_boxed_wrap_up_with_codes_then_its_default(manager_client, queue):
    data = page_data(manager_client, queue)
    data.update({"wrap_up_mode": WrapUpMode.TIMED, "wrap_up_seconds": "45", "transfer_reason_required": "on"})
    data = with_rows(
        data,
        "codes",
        [code_row("disposition", "Resolved", "resolved"), code_row("transfer", "Needs billing", "billing")],
    )
    response = manager_client.post(change_url(queue), data)
    assert response.status_code == 302, errors_of(response)
    queue.refresh_from_db()
    assert (queue.wrap_up_mode, queue.wrap_up_seconds, queue.transfer_reason_required) == ("timed", 45, True)
    resolved = DispositionCode.objects.get(queue=queue, code="resolved")
    assert DispositionCode.objects.get(queue=queue, code="billing").kind == DispositionCode.Kind.TRANSFER

    # Now the default can be picked, and only among this queue's active dispositions.
    form = manager_client.get(change_url(queue)).context["adminform"].form
    assert list(form.fields["default_disposition"].queryset) == [resolved]
    data = page_data(manager_client, queue)
    data.update({"disposition_required": "on", "default_disposition": str(resolved.pk)})
    response = manager_client.post(change_url(queue), data)
    assert response.status_code == 302, errors_of(response)
    queue.refresh_from_db()
    assert queue.disposition_required and queue.default_disposition == resolved


def test_time_boxed_required_without_default_is_refused_and_nothing_saved(manager_client, queue):
    data = page_data(manager_client, queue)
    data.update({"wrap_up_mode": WrapUpMode.TIMED, "wrap_up_seconds": "3", "disposition_required": "on"})
    data = with_rows(data, "codes", [code_row("disposition", "Resolved", "resolved")])
    response = manager_client.post(change_url(queue), data)
    assert response.status_code == 200
    errors = errors_of(response)
    assert "needs a default one" in errors and "at least 5 seconds" in errors
    queue.refresh_from_db()
    assert queue.wrap_up_mode == WrapUpMode.NONE and not DispositionCode.objects.filter(queue=queue).exists()


def test_default_disposition_of_another_queue_is_not_a_choice(manager_client, queue):
    elsewhere = DispositionCodeFactory(queue=QueueFactory(site=queue.site))
    data = page_data(manager_client, queue)
    data["default_disposition"] = str(elsewhere.pk)
    response = manager_client.post(change_url(queue), data)
    assert response.status_code == 200 and "default_disposition" in response.context["adminform"].form.errors
    queue.refresh_from_db()
    assert queue.default_disposition is None


def test_wrap_up_history_shows_only_the_managers_sites(manager_client, queue):
    mine = WrapUpFactory(ownership__engagement__queue=queue)
    theirs = WrapUpFactory()
    response = manager_client.get("/admin/helpdesk/wrapup/")
    assert response.status_code == 200
    shown = {row.pk for row in response.context["cl"].result_list}
    assert shown == {mine.pk} and theirs.pk not in shown
    assert manager_client.get(f"/admin/helpdesk/wrapup/{theirs.pk}/change/").status_code in (302, 404)
