"""What the provider is asked to do: sent once the change commits, because the database leads.

A request that fails is logged, not raised: the change it follows is already committed, and the
leg clean-up sweep and the provider's own events reconcile the two sides.
"""

from __future__ import annotations

import logging

from django.db import transaction

from ..models import Call, Leg
from ..providers import DialRequest, LegRef, SupervisorAudio, get_provider

logger = logging.getLogger(__name__)


def _leg_ref(leg: Leg) -> LegRef:
    provider = get_provider()
    return LegRef(
        call_id=leg.call_id,
        leg_id=leg.pk,
        kind=leg.kind,
        conference=provider.conference_name(leg.call_id),
        provider_leg_id=leg.provider_leg_id,
        provider_call_id=leg.call.provider_call_id,
    )


def _provider_later(act: str, leg: Leg) -> None:
    """Ask the provider to `act` on the leg once the change is committed (the database leads)."""
    ref = _leg_ref(leg)

    def run():
        try:
            getattr(get_provider(), act)(ref)
        except Exception:  # the sweep and the provider's own events reconcile a failed request
            logger.exception("Provider %s failed for leg %s", act, ref.leg_id)

    transaction.on_commit(run)


def _audio_later(leg: Leg, audio: SupervisorAudio) -> None:
    """Once committed, tell the provider who now hears the (supervisor's) leg."""
    ref = _leg_ref(leg)

    def run():
        try:
            get_provider().set_audio(ref, audio)
        except Exception:
            logger.exception("Provider could not change the audio of leg %s", ref.leg_id)

    transaction.on_commit(run)


def _dial_later(leg: Leg, *, to: str, ring_timeout: int, audio: SupervisorAudio | None = None) -> None:
    provider = get_provider()
    request = DialRequest(
        call_id=leg.call_id,
        leg_id=leg.pk,
        kind=leg.kind,
        conference=provider.conference_name(leg.call_id),
        to=to,
        ring_timeout_seconds=ring_timeout,
        audio=audio,
    )

    def run():
        try:
            result = get_provider().dial(request)
        except Exception:
            logger.exception("Provider could not dial leg %s", request.leg_id)
            return
        Leg.objects.filter(pk=request.leg_id).update(provider_leg_id=result.provider_leg_id)

    transaction.on_commit(run)


def _end_provider_call_later(call: Call) -> None:
    """Once committed, ask the provider to end the whole call (every participant hangs up)."""
    provider = get_provider()
    conference = provider.conference_name(call.pk)
    provider_call_id = call.provider_call_id

    def run():
        try:
            get_provider().end_call(conference=conference, provider_call_id=provider_call_id)
        except Exception:
            logger.exception("Provider could not end call %s", call.pk)

    transaction.on_commit(run)
