"""The built-in provider: the call model in the database *is* the call.

Operators answer in the phone console, callers use the caller simulator, and outside numbers
are answered from the simulator's outside-line panel. Nothing goes over a network, so every
network operation is a no-op and no webhook is accepted.

Supervisor legs (issue 13.4) are modelled, not mixed: `Leg.HEARD_BY` says who hears a listening,
coaching or barged-in supervisor, and the phone console and the caller simulator draw exactly
that (the caller sees a supervisor who barged in, never one who listens or coaches).
"""

from __future__ import annotations

from ..errors import WebhookRejected
from .base import DialRequest, DialResult, LegRef, ProviderEventData, SupervisorAudio


class BuiltinProvider:
    name = "builtin"

    def conference_name(self, call_id: int) -> str:
        return f"builtin-call-{call_id}"

    def dial(self, request: DialRequest) -> DialResult:
        return DialResult(provider_leg_id=f"builtin-leg-{request.leg_id}")

    def hold(self, leg: LegRef) -> None:
        pass

    def unhold(self, leg: LegRef) -> None:
        pass

    def hang_up(self, leg: LegRef) -> None:
        pass

    def set_audio(self, leg: LegRef, audio: SupervisorAudio) -> None:
        pass  # the leg's role in the database is the whole model

    def end_call(self, *, conference: str, provider_call_id: str) -> None:
        pass

    def ended_calls(self, provider_call_ids: list[str]) -> list[str]:
        return []

    def parse_webhook(self, *, url: str, params: dict[str, str], signature: str) -> list[ProviderEventData]:
        raise WebhookRejected("The built-in provider takes no webhooks.")
