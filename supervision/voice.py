"""A supervisor's acts on a call (issue 13.4): listen, coach, barge, leave, take over.

Each checks on the server that the user supervises the call's site before anything is read or
written, then, in one transaction: the leg change (telephony's `supervise_call`,
`leave_supervised_call`, `take_over_call`), the supervisor's `Watch` (mode listen / coach /
barge) and one `SupervisorAct`. The frames go out on commit: `call.state` to everyone on the
call (the operator's phone console shows the supervisor's leg), and `engagement.watchers` to
the owner and the site's supervisors (their wallboards).

Race-safety: every act locks the engagement first (then telephony locks the call and its legs,
the product's lock order), so two supervisors taking over the same call at once have one winner;
the other is told who has it (`already_taken`).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from helpdesk.lock_objects import lock_engagement
from helpdesk.models import Engagement, Media
from telephony import services as telephony
from telephony.models import Call, Leg

from . import events
from .errors import SupervisionError
from .models import Act, Watch, WatchMode
from .permissions import require_supervisor_of
from .services import record, taker_of

ROLE_ACTS = {
    Leg.Role.LISTEN: (Act.LISTEN, WatchMode.LISTEN),
    Leg.Role.COACH: (Act.COACH, WatchMode.COACH),
    Leg.Role.BARGE: (Act.BARGE, WatchMode.BARGE),
}


def _supervised_call(user, call_id: int) -> Engagement:
    """The call's engagement, locked, once `user` is known to supervise its site (else 403/404)."""
    found = Call.objects.filter(pk=call_id, engagement__media=Media.VOICE).values(
        "engagement_id", "engagement__site_id"
    )
    row = found.first()
    if row is None:
        raise SupervisionError("not_found", "No such call.", http_status=404)
    require_supervisor_of(user, row["engagement__site_id"])
    return lock_engagement(row["engagement_id"])


def _open_watch(supervisor, engagement: Engagement) -> Watch | None:
    return Watch.objects.filter(supervisor=supervisor, engagement=engagement, ended_at__isnull=True).first()


def _set_watch(supervisor, engagement: Engagement, mode: str) -> Watch:
    watch = _open_watch(supervisor, engagement)
    if watch is None:
        return Watch.objects.create(supervisor=supervisor, engagement=engagement, mode=mode)
    if watch.mode != mode:
        watch.mode = mode
        watch.save(update_fields=["mode"])
    return watch


def _end_watch(supervisor, engagement: Engagement) -> None:
    Watch.objects.filter(supervisor=supervisor, engagement=engagement, ended_at__isnull=True).update(
        ended_at=timezone.now()
    )


def supervise(*, supervisor, call_id: int, role: str) -> Leg:
    """Listen (muted: nobody hears the supervisor), coach (only the operator hears them) or barge
    (three-way: the caller hears them too). Joins the call, or changes the supervisor's role on
    it; the same role twice is one act, recorded once."""
    if role not in ROLE_ACTS:
        raise SupervisionError("bad_frame", "Listen, coach or barge.", http_status=400)
    act, mode = ROLE_ACTS[role]
    with transaction.atomic():
        engagement = _supervised_call(supervisor, call_id)
        leg, changed = telephony.supervise_call(call_id=call_id, supervisor=supervisor, role=role)
        if not changed:
            return leg
        _set_watch(supervisor, engagement, mode)
        record(
            actor=supervisor,
            site_id=engagement.site_id,
            act=act,
            engagement_id=engagement.pk,
            operator_id=engagement.owner_id,
            detail="on the call",
        )
        events.watchers_changed(engagement)
    return leg


def listen(*, supervisor, call_id: int) -> Leg:
    return supervise(supervisor=supervisor, call_id=call_id, role=Leg.Role.LISTEN)


def coach(*, supervisor, call_id: int) -> Leg:
    return supervise(supervisor=supervisor, call_id=call_id, role=Leg.Role.COACH)


def barge(*, supervisor, call_id: int) -> Leg:
    return supervise(supervisor=supervisor, call_id=call_id, role=Leg.Role.BARGE)


def leave(*, supervisor, call_id: int) -> None:
    """The supervisor's leg hangs up and their watch closes (audit `monitor_stop`); nobody else on
    the call is affected. Leaving a call one is not on does nothing."""
    with transaction.atomic():
        engagement = _supervised_call(supervisor, call_id)
        leg = telephony.leave_supervised_call(call_id=call_id, supervisor=supervisor)
        if leg is None:
            return
        _end_watch(supervisor, engagement)
        record(
            actor=supervisor,
            site_id=engagement.site_id,
            act=Act.MONITOR_STOP,
            engagement_id=engagement.pk,
            operator_id=engagement.owner_id,
            detail="left the call",
        )
        events.watchers_changed(engagement)


def take_over(*, supervisor, call_id: int, expected_owner_id: int | None = None) -> Engagement:
    """The supervisor becomes the call's owner: the operator's leg ends, the supervisor's leg (or a
    new one) is the owner's. Needs an operator profile with room on voice. One winner: a call
    already taken over, or whose owner is no longer `expected_owner_id`, is refused naming who has it.
    """
    with transaction.atomic():
        # Permission first: another site's manager learns nothing about the call or themselves.
        engagement = _supervised_call(supervisor, call_id)
        # The owner check is telephony's, under the call lock (`expected_owner_id` below).
        operator = taker_of(supervisor, engagement, expected_owner_id=None, what="call")
        if engagement.owner_id == operator.pk:
            return engagement
        previous_owner_id = engagement.owner_id
        telephony.take_over_call(
            call_id=call_id,
            supervisor=supervisor,
            operator=operator,
            expected_owner_id=expected_owner_id if expected_owner_id is not None else previous_owner_id,
        )
        engagement.refresh_from_db()
        _end_watch(supervisor, engagement)
        record(
            actor=supervisor,
            site_id=engagement.site_id,
            act=Act.TAKE_OVER,
            engagement_id=engagement.pk,
            operator_id=previous_owner_id,
            detail="on the call",
        )
        events.taken_over(engagement, previous_owner_id=previous_owner_id, by=operator)
        events.watchers_changed(engagement)
    return engagement
