"""Business hours: is a queue open at a moment, when does it open next, where does a contact go.

Slots are local wall-clock times in the queue's time zone (`QueueHours.time_zone`, else the
site-wide `TIME_ZONE`); a slot is open on [opens_at, closes_at). Every moment is turned into
local time with zoneinfo before it is compared, so daylight-saving changes move the UTC instant
of "09:00", never the local one. An opening inside a spring-forward gap (02:30 on the night the
clocks jump from 02:00 to 03:00) happens at the first real moment after the gap's start: Python
reads the gap time with the offset before the jump, i.e. at 03:30 local. A holiday closes the
queue for its whole local date. A queue without slots is open around the clock except on holidays.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from ..errors import ChatError
from ..models import Holiday, OpeningSlot, Queue, QueueHours

# How far ahead the next opening is looked for (a queue closed longer than this "has no opening").
HORIZON_DAYS = 400


@dataclass(frozen=True)
class Schedule:
    """A queue's hours read once: enough to answer any number of questions without more queries."""

    time_zone: zoneinfo.ZoneInfo
    slots: dict[int, list[tuple[time, time]]]  # weekday -> [(opens, closes)], in order
    holidays: frozenset[date]
    hours: QueueHours | None

    @property
    def always_open(self) -> bool:
        return not self.slots and not self.holidays

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.time_zone)
        if local.date() in self.holidays:
            return False
        if not self.slots:
            return True
        now = local.time().replace(tzinfo=None)
        return any(opens <= now < closes for opens, closes in self.slots.get(local.weekday(), []))

    def next_opening(self, moment: datetime) -> datetime | None:
        """The first moment after `moment` at which a closed queue opens (UTC); None if open or never."""
        if self.is_open(moment):
            return None
        local_day = moment.astimezone(self.time_zone).date()
        for offset in range(HORIZON_DAYS):
            day = local_day + timedelta(days=offset)
            if day in self.holidays:
                continue
            starts = [time(0, 0)] if not self.slots else [opens for opens, _ in self.slots.get(day.weekday(), [])]
            for opens in starts:
                start = datetime.combine(day, opens, tzinfo=self.time_zone).astimezone(UTC)
                if start > moment and self.is_open(start):
                    return start
        return None


@dataclass(frozen=True)
class Opening:
    """What a visitor or caller is told about a queue now."""

    queue: Queue
    is_open: bool
    next_opening: datetime | None
    time_zone: zoneinfo.ZoneInfo
    message: str

    @property
    def next_opening_local(self) -> datetime | None:
        return self.next_opening.astimezone(self.time_zone) if self.next_opening else None


def schedule_of(queue: Queue, *, around: datetime | None = None) -> Schedule:
    """The queue's hours, with its holidays from the day before `around` (default now) on."""
    hours = QueueHours.objects.filter(queue=queue).select_related("closed_queue").first()
    zone = zoneinfo.ZoneInfo(hours.time_zone if hours else settings.TIME_ZONE)
    slots: dict[int, list[tuple[time, time]]] = {}
    rows = OpeningSlot.objects.filter(queue=queue).order_by("weekday", "opens_at")
    for weekday, opens, closes in rows.values_list("weekday", "opens_at", "closes_at"):
        slots.setdefault(weekday, []).append((opens, closes))
    # From a day before (local dates run behind UTC in the west): past holidays answer nothing.
    since = (around or timezone.now()).date() - timedelta(days=1)
    holidays = frozenset(Holiday.objects.filter(queue=queue, date__gte=since).values_list("date", flat=True))
    return Schedule(time_zone=zone, slots=slots, holidays=holidays, hours=hours)


def opening_of(*, queue: Queue, now: datetime | None = None) -> Opening:
    now = now or timezone.now()
    schedule = schedule_of(queue, around=now)
    is_open = schedule.is_open(now)
    return Opening(
        queue=queue,
        is_open=is_open,
        next_opening=None if is_open else schedule.next_opening(now),
        time_zone=schedule.time_zone,
        message=schedule.hours.closed_message if schedule.hours else "",
    )


def is_open(*, queue: Queue, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return schedule_of(queue, around=now).is_open(now)


def queue_taking_contacts(*, queue: Queue, now: datetime | None = None) -> Queue:
    """The queue a new chat or call joins now: `queue` while it is open; while it is closed, its
    "other queue" when that action is set and that queue is open (one hop, never a chain).

    Raises ChatError `closed` (with the queue's closed message, or when it opens next) otherwise.
    """
    now = now or timezone.now()
    schedule = schedule_of(queue, around=now)
    if schedule.is_open(now):
        return queue
    hours = schedule.hours
    if hours and hours.closed_action == QueueHours.ClosedAction.QUEUE and hours.closed_queue:
        other = hours.closed_queue
        if other.media == queue.media and schedule_of(other, around=now).is_open(now):
            return other
    raise ChatError("closed", closed_text(queue=queue, schedule=schedule, now=now))


def closed_text(*, queue: Queue, schedule: Schedule, now: datetime) -> str:
    if schedule.hours and schedule.hours.closed_message:
        return schedule.hours.closed_message
    opens = schedule.next_opening(now)
    if opens is None:
        return f"{queue.name} is closed."
    return f"{queue.name} is closed. It opens {describe_opening(opens, schedule.time_zone, now=now)}."


def describe_opening(opens: datetime, zone: zoneinfo.ZoneInfo, *, now: datetime) -> str:
    """ "today at 09:00", "tomorrow at 09:00" or "on Monday 12 January at 09:00" (local time, zone named)."""
    local = opens.astimezone(zone)
    today = now.astimezone(zone).date()
    clock = f"{local:%H:%M} ({zone.key})"
    if local.date() == today:
        return f"today at {clock}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow at {clock}"
    return f"on {local:%A} {local.day} {local:%B} at {clock}"
