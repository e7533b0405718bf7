"""Business hours and overflow in the queue's admin page: clear errors, nothing saved on bad input."""

import pytest
from django.urls import reverse

from helpdesk.models import Holiday, Media, OpeningSlot, QueueHours, QueueOverflow
from tests.factories import ManagerFactory, OpeningSlotFactory, QueueFactory, SiteFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    team = TeamFactory()
    return QueueFactory(site=team.site, teams=[team], name="Billing")


@pytest.fixture
def manager_client(client, queue):
    client.force_login(ManagerFactory(sites=[queue.site]))
    return client


def change_url(queue):
    return reverse("admin:helpdesk_queue_change", args=[queue.pk])


def page_data(client, queue) -> dict:
    """The queue's change form as the browser would post it back unchanged (empty inlines)."""
    response = client.get(change_url(queue))
    assert response.status_code == 200
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = str(value)
    for inline in response.context["inline_admin_formsets"]:  # every inline of the page, ours or not
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def with_rows(data: dict, prefix: str, rows: list[dict]) -> dict:
    data = dict(data)
    data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def post(client, queue, data):
    return client.post(change_url(queue), data)


def errors_of(response) -> str:
    """Every error text the page shows: the form's, each inline's and each inline formset's."""
    texts = []
    for inline in response.context["inline_admin_formsets"]:
        texts += [str(e) for e in inline.formset.non_form_errors()]
        for form in inline.formset.forms:
            texts += [str(e) for errors in form.errors.values() for e in errors]
    texts += [str(e) for errors in response.context["adminform"].form.errors.values() for e in errors]
    return " | ".join(texts)


def test_manager_saves_time_zone_slots_holidays_and_overflow(manager_client, queue):
    other = QueueFactory(site=queue.site, name="General")
    data = page_data(manager_client, queue)
    data = with_rows(data, "hours", [{"time_zone": "Europe/Paris", "closed_action": "message", "closed_message": ""}])
    data = with_rows(
        data,
        "opening_slots",
        [
            {"weekday": "0", "opens_at": "09:00", "closes_at": "12:00"},
            {"weekday": "0", "opens_at": "12:00", "closes_at": "17:00"},  # touching is fine
        ],
    )
    data = with_rows(data, "holidays", [{"date": "2026-12-25", "name": "Christmas"}])
    data = with_rows(
        data, "overflow", [{"overflow_queue": str(other.pk), "after_seconds": "90", "when_no_operator": "on"}]
    )
    response = post(manager_client, queue, data)
    assert response.status_code == 302, errors_of(response)
    assert QueueHours.objects.get(queue=queue).time_zone == "Europe/Paris"
    assert OpeningSlot.objects.filter(queue=queue).count() == 2
    assert Holiday.objects.get(queue=queue).name == "Christmas"
    assert QueueOverflow.objects.get(queue=queue).overflow_queue == other


def test_slot_that_ends_before_it_starts_is_refused_and_nothing_saved(manager_client, queue):
    data = page_data(manager_client, queue)
    data["name"] = "Renamed"
    data = with_rows(data, "holidays", [{"date": "2026-12-25", "name": "Christmas"}])
    data = with_rows(data, "opening_slots", [{"weekday": "1", "opens_at": "17:00", "closes_at": "09:00"}])
    response = post(manager_client, queue, data)
    assert response.status_code == 200
    assert "A slot must end after it starts (09:00 is not after 17:00)." in errors_of(response)
    queue.refresh_from_db()
    assert queue.name == "Billing" and not Holiday.objects.exists() and not OpeningSlot.objects.exists()


def test_overlapping_slots_are_refused_naming_both(manager_client, queue):
    OpeningSlotFactory(queue=queue, weekday=OpeningSlot.Weekday.TUESDAY, opens_at="13:00", closes_at="18:00")
    data = page_data(manager_client, queue)
    existing = OpeningSlot.objects.get(queue=queue)
    data = with_rows(
        data,
        "opening_slots",
        [
            {"id": str(existing.pk), "queue": str(queue.pk), "weekday": "1", "opens_at": "13:00", "closes_at": "18:00"},
            {"weekday": "1", "opens_at": "09:00", "closes_at": "13:30"},
        ],
    )
    data["opening_slots-INITIAL_FORMS"] = "1"
    response = post(manager_client, queue, data)
    assert response.status_code == 200
    errors = errors_of(response)
    assert "Opening slots overlap" in errors and "Tuesday: 09:00–13:30 overlaps 13:00–18:00." in errors
    assert OpeningSlot.objects.filter(queue=queue).count() == 1


@pytest.mark.parametrize(
    ("prefix", "row", "message"),
    [
        ("hours", {"time_zone": "Mars/Olympus", "closed_action": "message"}, "is not a time zone name"),
        ("hours", {"time_zone": "UTC", "closed_action": "queue"}, "Pick the queue that takes contacts"),
        ("overflow", {"after_seconds": "", "when_no_operator": ""}, "it never overflows"),
        ("overflow", {"after_seconds": "0", "when_no_operator": "on"}, "Give at least 1 second"),
    ],
)
def test_bad_hours_or_overflow_say_what_is_wrong(manager_client, queue, prefix, row, message):
    other = QueueFactory(site=queue.site)
    if prefix == "overflow":
        row = {"overflow_queue": str(other.pk), **row}
    data = with_rows(page_data(manager_client, queue), prefix, [row])
    response = post(manager_client, queue, data)
    assert response.status_code == 200
    assert message in errors_of(response)
    assert not QueueHours.objects.exists() and not QueueOverflow.objects.exists()


def test_other_queue_of_another_media_or_another_site_is_refused(manager_client, queue):
    voice = QueueFactory(site=queue.site, media=Media.VOICE)
    foreign = QueueFactory(site=SiteFactory())
    data = page_data(manager_client, queue)
    response = post(
        manager_client, queue, with_rows(data, "overflow", [{"overflow_queue": str(voice.pk), "after_seconds": "30"}])
    )
    assert "That queue takes Voice, not Chat." in errors_of(response)
    response = post(
        manager_client, queue, with_rows(data, "overflow", [{"overflow_queue": str(foreign.pk), "after_seconds": "30"}])
    )
    assert "Select a valid choice" in errors_of(response)  # another site's queue is not even offered
    assert not QueueOverflow.objects.exists()


def test_changed_hours_move_the_offline_messages_waiting_for_the_old_opening(manager_client, queue):
    """Closed now (open one minute a day, an hour from now), a message waits for that opening; the
    manager then opens the queue all week (no slot left: always open): the message may go now."""
    from datetime import time, timedelta

    from django.utils import timezone

    from helpdesk.models import Engagement
    from helpdesk.services.offline import leave_offline_message
    from tests.factories import QueueHoursFactory

    QueueHoursFactory(queue=queue, time_zone="UTC")
    opens = (timezone.now() + timedelta(hours=1)).replace(second=0, microsecond=0)
    for weekday in OpeningSlot.Weekday.values:
        OpeningSlotFactory(queue=queue, weekday=weekday, opens_at=opens.time(), closes_at=time(opens.hour, 59, 59))
    message = leave_offline_message(queue=queue, name="Vera", email="vera@example.com", body="Refund?")
    assert message.route_after > timezone.now()

    data = page_data(manager_client, queue)  # the slots come back as initial rows: delete them all
    slots = list(OpeningSlot.objects.filter(queue=queue).order_by("pk"))
    data["opening_slots-TOTAL_FORMS"] = data["opening_slots-INITIAL_FORMS"] = str(len(slots))
    for index, slot in enumerate(slots):
        data.update({f"opening_slots-{index}-id": str(slot.pk), f"opening_slots-{index}-DELETE": "on"})
        data.update(
            {f"opening_slots-{index}-{key}": str(getattr(slot, key)) for key in ("weekday", "opens_at", "closes_at")}
        )
    hours = QueueHours.objects.get(queue=queue)
    data.update({"hours-TOTAL_FORMS": "1", "hours-INITIAL_FORMS": "1", "hours-0-id": str(hours.pk)})
    data.update(
        {"hours-0-time_zone": "UTC", "hours-0-closed_action": hours.closed_action, "hours-0-queue": str(queue.pk)}
    )
    response = post(manager_client, queue, data)
    assert response.status_code == 302, errors_of(response)
    assert not OpeningSlot.objects.filter(queue=queue).exists()
    assert Engagement.objects.get(pk=message.pk).route_after is None
