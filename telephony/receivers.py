"""How telephony reacts to the core: routed calls ring, ended engagements close their legs,
operators who leave `available` stop being rung. Connected in TelephonyConfig.ready()."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from helpdesk.models import Engagement, Media, Ownership
from helpdesk.signals import engagement_ended, operator_became_unavailable

from . import services
from .models import Call


@receiver(post_save, sender=Ownership, dispatch_uid="telephony.ring_routed_call")
def ring_routed_call(sender, instance: Ownership, created: bool, **kwargs):
    """Routing gave a voice engagement to an operator: ring them (transfers make their own legs)."""
    if not created or instance.started_because != Ownership.Start.ROUTED:
        return
    if instance.engagement.media != Media.VOICE:
        return
    services.offer_routed_call(engagement_id=instance.engagement_id, operator_id=instance.operator_id)


@receiver(engagement_ended, dispatch_uid="telephony.end_legs_of_ended_call")
def end_legs_of_ended_call(sender, engagement: Engagement, reason: str, **kwargs):
    if engagement.media != Media.VOICE:
        return
    call_id = Call.objects.filter(engagement=engagement).values_list("pk", flat=True).first()
    if call_id:
        services.end_open_legs(call_id=call_id)


@receiver(operator_became_unavailable, dispatch_uid="telephony.withdraw_ringing_legs")
def withdraw_ringing_legs(sender, operator, media: str, reason: str, **kwargs):
    if media == Media.VOICE:
        services.withdraw_ringing_legs(operator=operator)
