"""The leg clean-up sweep run by beat (`telephony.tasks.clean_up_legs`, every LEG_SWEEP_SECONDS).

It repairs what a lost countdown task, a dead worker or a missed provider event leaves behind:

1. legs ringing past their deadline plus LEG_CLEANUP_GRACE_SECONDS are cancelled (a consult
   ends and the owner is back with the customer; an offered call goes back to its queue);
2. legs still open on a call whose engagement ended are ended (not those of a call handed to an
   outside number: its customer and number talk on until one hangs up);
3. a customer alone on hold for more than HOLD_ALONE_LIMIT_SECONDS is taken off hold and queued
   to the call's skill again;
4. calls the provider reports as ended are ended here too (handed-out calls included).

Each step takes at most `batch_size` rows per run, so one run stays short whatever the backlog;
the next run takes the rest. Every repair is a service that re-reads the row under lock and does
nothing if it is already fine, so two sweeps at once, or one run twice, change nothing more.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from helpdesk.models import Engagement

from . import services
from .models import Call, Leg
from .providers import get_provider

logger = logging.getLogger(__name__)

BATCH_SIZE = 200


def _each(ids, repair) -> int:
    done = 0
    for pk in ids:
        try:
            done += int(bool(repair(pk)))
        except Exception:  # one broken row must not stop the sweep of the others
            logger.exception("Leg clean-up failed on %s", pk)
    return done


def clean_up_legs(*, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    now = timezone.now()
    grace = settings.LEG_CLEANUP_GRACE_SECONDS
    ringing = Leg.objects.filter(state=Leg.State.RINGING, ring_deadline__lte=now - timedelta(seconds=grace)).order_by(
        "ring_deadline", "pk"
    )
    cancelled = _each(
        list(ringing.values_list("pk", flat=True)[:batch_size]),
        lambda pk: services.expire_ringing_leg(leg_id=pk, reason=Leg.EndReason.CANCELLED, grace_seconds=grace),
    )

    # A call handed to an outside number (`outside` mode) keeps its customer and number legs open
    # after its engagement ended, until one of them hangs up or the provider says it ended (step 4).
    open_on_ended = (
        Call.objects.filter(engagement__state=Engagement.State.ENDED, legs__state__in=Leg.OPEN_STATES)
        .exclude(mode=Call.Mode.OUTSIDE)
        .values_list("pk", flat=True)
        .distinct()
        .order_by("pk")
    )
    ended = _each(list(open_on_ended[:batch_size]), lambda pk: services.end_open_legs(call_id=pk))

    limit = settings.HOLD_ALONE_LIMIT_SECONDS
    alone = (
        Leg.objects.filter(
            kind=Leg.Kind.CUSTOMER,
            state=Leg.State.HELD,
            held_at__lte=now - timedelta(seconds=limit),
        )
        .exclude(call__engagement__state=Engagement.State.ENDED)
        .order_by("held_at")
        .values_list("call_id", flat=True)
    )
    requeued = _each(
        list(alone[:batch_size]),
        lambda pk: services.requeue_customer_alone_on_hold(call_id=pk, limit_seconds=limit),
    )

    open_calls = Call.objects.filter(~Q(engagement__state=Engagement.State.ENDED) | Q(mode=Call.Mode.OUTSIDE))
    reported = set(open_calls.filter(provider_ended_at__isnull=False).values_list("pk", flat=True)[:batch_size])
    with_ids = dict(
        open_calls.filter(provider_ended_at__isnull=True)
        .exclude(provider_call_id="")
        .order_by("pk")
        .values_list("provider_call_id", "pk")[:batch_size]
    )
    if with_ids:
        try:
            reported.update(with_ids[sid] for sid in get_provider().ended_calls(list(with_ids)) if sid in with_ids)
        except Exception:
            logger.exception("Could not ask the provider which calls ended")
    reconciled = _each(sorted(reported), lambda pk: services.reconcile_provider_ended(call_id=pk))

    result = {"cancelled": cancelled, "ended": ended, "requeued": requeued, "reconciled": reconciled}
    if any(result.values()):
        logger.info("Leg clean-up: %s", result)
    return result
