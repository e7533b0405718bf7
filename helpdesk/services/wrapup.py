"""After-contact work (wrap-up) and the codes picked in it.

When an operator's stretch of an engagement ends because it ended or because they transferred it
away, and the engagement's queue asks for wrap-up, `begin_wrap_up` opens a `WrapUp` for that
stretch and counts it on the operator's availability for the media (`Availability.wrap_ups`).
Routing skips an availability whose count is above zero (`candidate_availabilities`,
`Availability.has_room`): the count is written under the availability's row lock, in the same
transaction that frees the operator's capacity, so a router's SKIP LOCKED pick either runs before
(and the operator got the work while still busy) or after (and sees the wrap-up), never between.

Modes (per queue): optional (the operator may skip), mandatory (only Done ends it), time-boxed
(the deadline is stored; a timer task scheduled on commit and the beat sweep end it then, with
the operator's choice or else the queue's default disposition). Done needs a disposition when
the queue requires one. Every end is a compare-and-set on `ended_at`: ending twice acts once.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import events
from ..errors import BadRequest, CodeError, WrapUpError
from ..lock_objects import lock_availability
from ..models import Availability, DispositionCode, Engagement, Operator, Ownership, Queue, WrapUp, WrapUpMode
from .routing import route_if_available


def clean_code(*, queue: Queue, kind: str, value: object, required: bool) -> DispositionCode | None:
    """The code `value` names (an id) if it is an active code of this kind of `queue`; None if absent
    and not required. Raises CodeError otherwise, before anything is written. A queue that requires
    a code but offers none active does not block its operators: nothing is required then."""
    label = "disposition" if kind == DispositionCode.Kind.DISPOSITION else "transfer reason"
    if value in (None, ""):
        if required and DispositionCode.objects.filter(queue=queue, kind=kind, active=True).exists():
            raise CodeError("code_required", f"Pick a {label}: this queue requires one.")
        return None
    if isinstance(value, bool) or not str(value).isdigit() or len(str(value)) > 18:
        raise BadRequest("invalid", f"The {label} must be given by its number.")
    code = DispositionCode.objects.filter(pk=int(value), kind=kind).first()
    if code is None:
        raise CodeError("unknown_code", f"There is no such {label}.")
    if code.queue_id != queue.pk:
        raise CodeError("other_queue", f"That {label} belongs to another queue.")
    if not code.active:
        raise CodeError("inactive_code", f"That {label} is no longer in use; pick another.")
    return code


def begin_wrap_up(*, engagement: Engagement) -> WrapUp | None:
    """The owner's stretch is about to end (the engagement ends, or they transfer it away): open their
    wrap-up if the queue asks for one. Call holding the engagement lock, before `release_ownership`,
    in the same transaction: the count lands on the availability row before capacity is freed.
    """
    if not engagement.owner_id:
        return None
    queue = engagement.queue  # kept on the instance: the frames of the same act name the queue
    if queue.wrap_up_mode == WrapUpMode.NONE:
        return None
    ownership = Ownership.objects.filter(engagement=engagement, ended_at__isnull=True).first()
    if ownership is None:
        return None
    availability = lock_availability(operator_id=engagement.owner_id, media=engagement.media)
    now = timezone.now()
    timed = queue.wrap_up_mode == WrapUpMode.TIMED
    wrap_up = WrapUp.objects.create(
        ownership=ownership,
        engagement=engagement,
        operator_id=engagement.owner_id,
        queue=queue,
        media=engagement.media,
        mode=queue.wrap_up_mode,
        started_at=now,
        deadline=now + timedelta(seconds=queue.wrap_up_seconds) if timed else None,
    )
    Availability.objects.filter(pk=availability.pk).update(wrap_ups=F("wrap_ups") + 1)
    wrap_up.engagement, wrap_up.queue = engagement, queue
    events.wrap_up_started(wrap_up)
    if timed:
        schedule_wrap_up_expiry(wrap_up)
    return wrap_up


def schedule_wrap_up_expiry(wrap_up: WrapUp) -> None:
    from ..tasks import expire_wrap_up_task

    wrap_up_id, eta = wrap_up.pk, wrap_up.deadline

    def send():
        expire_wrap_up_task.apply_async((wrap_up_id,), eta=eta)

    transaction.on_commit(send, robust=True)


def _lock_own_wrap_up(*, wrap_up_id: int, operator: Operator) -> WrapUp:
    wrap_up = WrapUp.objects.select_for_update().filter(pk=wrap_up_id).select_related("queue").first()
    if wrap_up is None:
        raise WrapUpError("not_found", "There is no such wrap-up.")
    if wrap_up.operator_id != operator.pk:
        raise WrapUpError("not_yours", "This wrap-up is not yours.")
    return wrap_up


def choose_disposition(*, wrap_up_id: int, operator: Operator, disposition_id: object) -> WrapUp:
    """The operator picks (or changes) the disposition of an open wrap-up of theirs; kept if time runs out."""
    with transaction.atomic():
        wrap_up = _lock_own_wrap_up(wrap_up_id=wrap_up_id, operator=operator)
        if not wrap_up.is_open:
            raise WrapUpError("ended", "This wrap-up has already ended.")
        wrap_up.disposition = clean_code(
            queue=wrap_up.queue, kind=DispositionCode.Kind.DISPOSITION, value=disposition_id, required=True
        )
        wrap_up.save(update_fields=["disposition"])
    return wrap_up


def finish_wrap_up(*, wrap_up_id: int, operator: Operator, disposition_id: object = None) -> WrapUp:
    """Done: the operator ends their wrap-up, with `disposition_id` or the one chosen before.

    A queue that requires a disposition refuses Done without one (CodeError `code_required`). Done
    on a wrap-up that already ended is harmless: it comes back as it ended.
    """
    with transaction.atomic():
        wrap_up = _lock_own_wrap_up(wrap_up_id=wrap_up_id, operator=operator)
        if not wrap_up.is_open:
            return wrap_up
        disposition = clean_code(
            queue=wrap_up.queue,
            kind=DispositionCode.Kind.DISPOSITION,
            value=disposition_id,
            required=wrap_up.queue.disposition_required and wrap_up.disposition_id is None,
        )
        _end(wrap_up, because=WrapUp.End.DONE, disposition=disposition or wrap_up.disposition)
    return wrap_up


def skip_wrap_up(*, wrap_up_id: int, operator: Operator) -> WrapUp:
    """Back to work at once, without a disposition: only where the wrap-up was optional."""
    with transaction.atomic():
        wrap_up = _lock_own_wrap_up(wrap_up_id=wrap_up_id, operator=operator)
        if not wrap_up.is_open:
            return wrap_up
        if wrap_up.mode != WrapUpMode.OPTIONAL:
            raise WrapUpError("cannot_skip", "This queue's wrap-up cannot be skipped; finish it with Done.")
        _end(wrap_up, because=WrapUp.End.SKIPPED, disposition=wrap_up.disposition)
    return wrap_up


def expire_wrap_up(*, wrap_up_id: int) -> WrapUp | None:
    """A time-boxed wrap-up past its deadline ends by itself, keeping the operator's choice or else
    storing the queue's default disposition. Does nothing (None) unless it is open and overdue, so
    the timer and the sweep racing, or a task delivered twice, end it once."""
    with transaction.atomic():
        wrap_up = WrapUp.objects.select_for_update().filter(pk=wrap_up_id).select_related("queue").first()
        if wrap_up is None or not wrap_up.is_open or wrap_up.deadline is None or wrap_up.deadline > timezone.now():
            return None
        default = wrap_up.queue.default_disposition
        if default is not None and not default.active:
            default = None
        _end(wrap_up, because=WrapUp.End.TIMED_OUT, disposition=wrap_up.disposition or default)
    return wrap_up


def expire_due_wrap_ups(*, batch_size: int = 200) -> int:
    """The sweep: end every time-boxed wrap-up past its deadline (a lost timer, a dead worker), in a
    bounded batch; the next run takes the rest. Returns how many it ended."""
    due = list(
        WrapUp.objects.filter(ended_at__isnull=True, deadline__lte=timezone.now())
        .order_by("deadline", "pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    return sum(1 for wrap_up_id in due if expire_wrap_up(wrap_up_id=wrap_up_id) is not None)


def _end(wrap_up: WrapUp, *, because: str, disposition: DispositionCode | None) -> None:
    """End a locked open wrap-up and give the operator back to routing once it was their last one."""
    now = timezone.now()
    wrap_up.ended_at, wrap_up.ended_because, wrap_up.disposition = now, because, disposition
    wrap_up.save(update_fields=["ended_at", "ended_because", "disposition"])
    availability = lock_availability(operator_id=wrap_up.operator_id, media=wrap_up.media)
    availability.wrap_ups = max(availability.wrap_ups - 1, 0)
    fields = ["wrap_ups"]
    if availability.wrap_ups == 0 and availability.load == 0:
        availability.idle_since = now  # idle from the end of their after-contact work
        fields.append("idle_since")
    availability.save(update_fields=fields)
    events.wrap_up_ended(wrap_up)
    events.availability_changed(availability)
    if availability.wrap_ups == 0:
        route_if_available(availability)
