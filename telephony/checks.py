"""System checks of the telephony settings (run by `manage.py check`; `--deploy` ones for production)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def simulator_is_off(app_configs=None, **kwargs):
    """The caller simulator lets anyone place calls without logging in: not for a deployment."""
    if getattr(settings, "TELEPHONY_SIMULATOR", False):
        return [
            Warning(
                "The caller simulator (/phone/simulator/) is on: anyone can place calls without logging in.",
                hint="Leave TELEPHONY_SIMULATOR unset (off when PRODUCTION is on) or set TELEPHONY_SIMULATOR=false.",
                id="telephony.W001",
            )
        ]
    return []
