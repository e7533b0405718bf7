"""The provider interface: what call control asks of a voice network, and what it hears back.

Services change the call model in the database first; once that commits they ask the provider
to do the same on the network (dial a leg, hold, hang up, end the conference). Providers report
what happened on their side through webhooks, parsed into `ProviderEventData` and applied by
`telephony.services.apply_provider_event`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class LegRef:
    """Which leg of which call, in our ids and the provider's."""

    call_id: int
    leg_id: int
    kind: str
    conference: str
    provider_leg_id: str = ""
    # The provider's id of the conference, once it reported one.
    provider_call_id: str = ""


@dataclass(frozen=True)
class SupervisorAudio:
    """What a supervisor's leg is heard by (see `Leg.HEARD_BY`): nobody (`muted`, listen), the
    owner only (`coach_provider_leg_id`: the owner leg's provider id, coach), or everyone (barge,
    and an owner's leg after a take over)."""

    muted: bool = False
    coach_provider_leg_id: str = ""

    @property
    def coaching(self) -> bool:
        return bool(self.coach_provider_leg_id)


@dataclass(frozen=True)
class DialRequest:
    call_id: int
    leg_id: int
    kind: str
    conference: str
    # E.164 number for phone legs, "client:operator-<id>" for operators, "client:supervisor-<user id>".
    to: str
    ring_timeout_seconds: int
    # Set for a supervisor's leg: it joins muted, coaching the owner, or heard by all.
    audio: SupervisorAudio | None = None


@dataclass(frozen=True)
class DialResult:
    provider_leg_id: str


@dataclass(frozen=True)
class ProviderEventData:
    """One event a provider reported, in our words.

    kind: "leg.ringing", "leg.answered", "leg.ended", "call.started", "call.ended".
    `resource_id` and `sequence` identify it for de-duplication and ordering.
    """

    kind: str
    resource_id: str
    sequence: int
    provider_leg_id: str = ""
    conference: str = ""
    provider_call_id: str = ""
    end_reason: str = ""
    payload: dict = field(default_factory=dict)


@runtime_checkable
class TelephonyProvider(Protocol):
    name: str

    def conference_name(self, call_id: int) -> str: ...

    def dial(self, request: DialRequest) -> DialResult: ...

    def hold(self, leg: LegRef) -> None: ...

    def unhold(self, leg: LegRef) -> None: ...

    def hang_up(self, leg: LegRef) -> None: ...

    def set_audio(self, leg: LegRef, audio: SupervisorAudio) -> None:
        """Change who hears a supervisor's leg (a new role, or the owner's after a take over)."""
        ...

    def end_call(self, *, conference: str, provider_call_id: str) -> None: ...

    def ended_calls(self, provider_call_ids: list[str]) -> list[str]:
        """Of these provider call ids, the ones the provider says have ended."""
        ...

    def parse_webhook(self, *, url: str, params: dict[str, str], signature: str) -> list[ProviderEventData]:
        """Validate and translate one webhook request; raise WebhookRejected if not authentic."""
        ...
