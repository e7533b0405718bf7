"""Telephony providers, chosen by settings.TELEPHONY_PROVIDER like Django's session engines.

The setting is a dotted path to a class ("telephony.providers.builtin.BuiltinProvider") or one
of the short names "builtin" and "twilio".
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from .base import DialRequest, DialResult, LegRef, ProviderEventData, SupervisorAudio, TelephonyProvider

SHORT_NAMES = {
    "builtin": "telephony.providers.builtin.BuiltinProvider",
    "twilio": "telephony.providers.twilio.TwilioProvider",
}

__all__ = [
    "DialRequest",
    "DialResult",
    "LegRef",
    "ProviderEventData",
    "SupervisorAudio",
    "TelephonyProvider",
    "get_provider",
]


@lru_cache(maxsize=1)
def get_provider() -> TelephonyProvider:
    path = SHORT_NAMES.get(settings.TELEPHONY_PROVIDER, settings.TELEPHONY_PROVIDER)
    return import_string(path)()


@receiver(setting_changed)
def _forget_provider(*, setting, **kwargs):
    if setting.startswith(("TELEPHONY_", "TWILIO_")):
        get_provider.cache_clear()
