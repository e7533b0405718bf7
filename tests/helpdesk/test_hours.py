"""Business hours: local wall-clock slots in the queue's time zone, holidays, the next opening,
and where a new contact goes while a queue is closed. Dates: 7 Dec 2026 is a Monday."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from helpdesk.errors import ChatError
from helpdesk.models import OpeningSlot, QueueHours
from helpdesk.services.hours import describe_opening, is_open, opening_of, queue_taking_contacts, schedule_of
from tests.factories import HolidayFactory, OpeningSlotFactory, QueueFactory, QueueHoursFactory

pytestmark = pytest.mark.django_db

MON, SUN = OpeningSlot.Weekday.MONDAY, OpeningSlot.Weekday.SUNDAY


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def queue_with_hours(zone: str, *slots, **hours):
    queue = QueueFactory()
    QueueHoursFactory(queue=queue, time_zone=zone, **hours)
    for weekday, opens, closes in slots:
        OpeningSlotFactory(queue=queue, weekday=weekday, opens_at=opens, closes_at=closes)
    return queue


@pytest.fixture
def london():
    """Mondays 09:00-12:00 and 13:00-17:00, London time."""
    return queue_with_hours("Europe/London", (MON, time(9), time(12)), (MON, time(13), time(17)))


def test_a_queue_without_slots_is_always_open():
    queue = QueueFactory()
    assert is_open(queue=queue, now=utc(2026, 12, 6, 3, 0))
    assert opening_of(queue=queue, now=utc(2026, 12, 6, 3, 0)).next_opening is None


def test_open_inside_a_slot_closed_at_its_end_and_in_the_lunch_gap(london):
    assert is_open(queue=london, now=utc(2026, 12, 7, 9, 0))
    assert is_open(queue=london, now=utc(2026, 12, 7, 11, 59))
    assert not is_open(queue=london, now=utc(2026, 12, 7, 12, 0))
    assert not is_open(queue=london, now=utc(2026, 12, 7, 8, 59))
    assert opening_of(queue=london, now=utc(2026, 12, 7, 12, 30)).next_opening == utc(2026, 12, 7, 13, 0)


def test_next_opening_after_the_last_slot_is_next_week(london):
    assert opening_of(queue=london, now=utc(2026, 12, 7, 17, 0)).next_opening == utc(2026, 12, 14, 9, 0)


def test_past_holidays_count_too_when_asked_about_the_past(london):
    HolidayFactory(queue=london, date=date(2025, 12, 15))  # a Monday long gone
    assert not is_open(queue=london, now=utc(2025, 12, 15, 10, 0))


def test_a_holiday_closes_the_whole_local_day(london):
    HolidayFactory(queue=london, date=date(2026, 12, 14))
    assert not is_open(queue=london, now=utc(2026, 12, 14, 10, 0))
    assert opening_of(queue=london, now=utc(2026, 12, 7, 17, 0)).next_opening == utc(2026, 12, 21, 9, 0)


def test_holidays_close_a_queue_without_slots_until_local_midnight():
    queue = QueueFactory()
    QueueHoursFactory(queue=queue, time_zone="America/New_York")
    HolidayFactory(queue=queue, date=date(2026, 12, 25))
    assert not is_open(queue=queue, now=utc(2026, 12, 25, 12, 0))
    assert is_open(queue=queue, now=utc(2026, 12, 25, 4, 0))  # still the 24th in New York
    assert opening_of(queue=queue, now=utc(2026, 12, 25, 12, 0)).next_opening == utc(2026, 12, 26, 5, 0)


def test_weekday_and_time_are_the_queue_zones_not_utc():
    queue = queue_with_hours("America/New_York", (SUN, time(22), time(23, 59)), (MON, time(9), time(17)))
    assert is_open(queue=queue, now=utc(2026, 12, 7, 3, 30))  # Sunday 22:30 in New York, Monday in UTC
    assert not is_open(queue=queue, now=utc(2026, 12, 7, 13, 30))  # Monday 08:30 EST
    assert opening_of(queue=queue, now=utc(2026, 12, 7, 13, 30)).next_opening == utc(2026, 12, 7, 14, 0)


def test_opening_keeps_its_local_time_across_the_spring_clock_change():
    """UK clocks go forward on Sunday 29 March 2026: Monday 09:00 is 08:00 UTC from then on."""
    queue = queue_with_hours("Europe/London", (MON, time(9), time(17)))
    assert opening_of(queue=queue, now=utc(2026, 3, 27, 18, 0)).next_opening == utc(2026, 3, 30, 8, 0)
    assert is_open(queue=queue, now=utc(2026, 3, 30, 8, 30))
    assert not is_open(queue=queue, now=utc(2026, 3, 30, 16, 30))  # 17:30 BST
    # and back: clocks go back on 25 October 2026, Monday 26th 09:00 GMT is 09:00 UTC
    assert opening_of(queue=queue, now=utc(2026, 10, 23, 18, 0)).next_opening == utc(2026, 10, 26, 9, 0)


def test_an_opening_in_the_skipped_hour_happens_when_the_clock_reads_it_after_the_jump():
    """New York skips 02:00-03:00 on Sunday 8 March 2026; a 02:30 opening is read with the offset before
    the jump (EST): 07:30 UTC, which the clocks show as 03:30 EDT."""
    queue = queue_with_hours("America/New_York", (SUN, time(2, 30), time(5)))
    assert opening_of(queue=queue, now=utc(2026, 3, 7, 12, 0)).next_opening == utc(2026, 3, 8, 7, 30)
    assert is_open(queue=queue, now=utc(2026, 3, 8, 7, 30))


def test_no_opening_at_all_is_none_not_a_loop():
    queue = QueueFactory()
    QueueHoursFactory(queue=queue)
    OpeningSlotFactory(queue=queue, weekday=MON)
    schedule = schedule_of(queue)
    holidays = {date(2026, 12, 7) + timedelta(weeks=week) for week in range(60)}  # every Monday past the horizon
    closed = type(schedule)(
        time_zone=schedule.time_zone, slots=schedule.slots, holidays=frozenset(holidays), hours=None
    )
    assert closed.next_opening(utc(2026, 12, 6, 12, 0)) is None


def test_closed_queue_refuses_a_new_chat_saying_when_it_opens(london):
    with pytest.raises(ChatError) as refused:
        queue_taking_contacts(queue=london, now=utc(2026, 12, 7, 12, 30))
    assert refused.value.code == "closed"
    assert refused.value.message == f"{london.name} is closed. It opens today at 13:00 (Europe/London)."


def test_closed_message_of_the_manager_is_said_instead():
    queue = queue_with_hours("Europe/London", (MON, time(9), time(17)), closed_message="We are closed for stocktaking.")
    with pytest.raises(ChatError, match="stocktaking"):
        queue_taking_contacts(queue=queue, now=utc(2026, 12, 8, 10, 0))


def test_closed_queue_sends_contacts_to_its_other_queue_while_that_one_is_open():
    other = QueueFactory()
    queue = queue_with_hours(
        "Europe/London", (MON, time(9), time(17)), closed_action=QueueHours.ClosedAction.QUEUE, closed_queue=other
    )
    sunday = utc(2026, 12, 6, 10, 0)
    assert queue_taking_contacts(queue=queue, now=sunday) == other
    assert queue_taking_contacts(queue=queue, now=utc(2026, 12, 7, 10, 0)) == queue
    QueueHoursFactory(queue=other)
    OpeningSlotFactory(queue=other, weekday=MON)  # the other queue is closed on Sunday too
    with pytest.raises(ChatError):
        queue_taking_contacts(queue=queue, now=sunday)


def test_opening_is_described_in_local_words():
    import zoneinfo

    zone = zoneinfo.ZoneInfo("Europe/London")
    now = utc(2026, 12, 7, 18, 0)
    assert describe_opening(utc(2026, 12, 8, 9, 0), zone, now=now) == "tomorrow at 09:00 (Europe/London)"
    assert describe_opening(utc(2026, 12, 14, 9, 0), zone, now=now) == "on Monday 14 December at 09:00 (Europe/London)"
