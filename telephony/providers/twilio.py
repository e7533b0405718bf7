"""Adapter for Twilio Programmable Voice, a hosted conference-based voice API.

Every call is a Twilio conference named after our call ("helpdesk-call-<id>"); every leg is a
participant (a Twilio call). Acts map to participant operations:

=================  ===========================================================================
act                request
=================  ===========================================================================
dial a leg         POST Conferences/<name>/Participants (From, To, Timeout, StatusCallback...)
hold / unhold      POST Conferences/<sid>/Participants/<call sid> Hold=true|false
supervisor joins   POST Conferences/<name>/Participants ... Muted=true (listen), or
                   Coaching=true CallSidToCoach=<owner's call sid> (coach), or neither (barge)
role changes       POST Conferences/<sid>/Participants/<call sid> Muted=… Coaching=… [CallSidToCoach]
hang up a leg      DELETE Conferences/<sid>/Participants/<call sid>
                   (POST Calls/<call sid> Status=completed before the conference is known)
end the call       POST Conferences/<sid> Status=completed
ended calls?       GET Conferences/<sid> → status "completed"
=================  ===========================================================================

An incoming call reaches `/phone/webhooks/twilio/voice/?queue=<id>` (the number's Voice URL): it
is placed into that queue (`place_call`) and answered with TwiML joining the caller to the call's
conference. Webhooks (participant call-status callbacks and conference status callbacks) are accepted only
with a valid X-Twilio-Signature (RequestValidator over PUBLIC_BASE_URL + path and the POST body),
then translated to `ProviderEventData`. Twilio numbers every callback (SequenceNumber, per call
or per conference); `apply_provider_event` ignores repeats and events older than one applied.

The hosted service cannot be reached from this project's build and test machines: the tests
check this adapter at its boundary (the HTTP requests it would make, and signed, unsigned and
replayed webhooks), not against Twilio itself.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from ..errors import WebhookRejected
from .base import DialRequest, DialResult, LegRef, ProviderEventData, SupervisorAudio

logger = logging.getLogger(__name__)

CALL_STATUS_EVENTS = {
    "ringing": ("leg.ringing", ""),
    "in-progress": ("leg.answered", ""),
    "answered": ("leg.answered", ""),
    "completed": ("leg.ended", "hung_up"),
    "busy": ("leg.ended", "busy"),
    "no-answer": ("leg.ended", "no_answer"),
    "failed": ("leg.ended", "failed"),
    "canceled": ("leg.ended", "cancelled"),
}
CONFERENCE_EVENTS = {"conference-start": "call.started", "conference-end": "call.ended"}


class TwilioProvider:
    name = "twilio"

    def __init__(self, *, http_client=None, auth_token: str | None = None):
        self.auth_token = auth_token if auth_token is not None else settings.TWILIO_AUTH_TOKEN
        self.account_sid = settings.TWILIO_ACCOUNT_SID
        self.caller_id = settings.TWILIO_CALLER_ID
        self._http_client = http_client
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.account_sid, self.auth_token, http_client=self._http_client)
        return self._client

    def status_callback_url(self) -> str:
        return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("telephony:webhook", args=[self.name])

    def conference_name(self, call_id: int) -> str:
        return f"helpdesk-call-{call_id}"

    def dial(self, request: DialRequest) -> DialResult:
        audio = {}
        if request.audio is not None:
            audio = {"muted": request.audio.muted, "coaching": request.audio.coaching}
            if request.audio.coaching:
                audio["call_sid_to_coach"] = request.audio.coach_provider_leg_id
        participant = self.client.conferences(request.conference).participants.create(
            from_=self.caller_id,
            to=request.to,
            label=f"leg-{request.leg_id}",
            timeout=request.ring_timeout_seconds,
            early_media=True,
            end_conference_on_exit=False,
            status_callback=self.status_callback_url(),
            status_callback_event=["ringing", "answered", "completed"],
            conference_status_callback=self.status_callback_url(),
            conference_status_callback_event=["start", "end"],
            **audio,
        )
        return DialResult(provider_leg_id=participant.call_sid)

    def _participant(self, leg: LegRef):
        return self.client.conferences(leg.provider_call_id).participants(leg.provider_leg_id)

    def hold(self, leg: LegRef) -> None:
        if leg.provider_call_id and leg.provider_leg_id:
            self._participant(leg).update(hold=True)

    def unhold(self, leg: LegRef) -> None:
        if leg.provider_call_id and leg.provider_leg_id:
            self._participant(leg).update(hold=False)

    def set_audio(self, leg: LegRef, audio: SupervisorAudio) -> None:
        if not (leg.provider_call_id and leg.provider_leg_id):
            return
        changes = {"muted": audio.muted, "coaching": audio.coaching}
        if audio.coaching:
            changes["call_sid_to_coach"] = audio.coach_provider_leg_id
        self._participant(leg).update(**changes)

    def hang_up(self, leg: LegRef) -> None:
        if not leg.provider_leg_id:
            return
        if leg.provider_call_id:
            self._participant(leg).delete()
        else:
            self.client.calls(leg.provider_leg_id).update(status="completed")

    def end_call(self, *, conference: str, provider_call_id: str) -> None:
        if not provider_call_id:
            found = self.client.conferences.list(friendly_name=conference, status="in-progress", limit=1)
            if not found:
                return
            provider_call_id = found[0].sid
        self.client.conferences(provider_call_id).update(status="completed")

    def ended_calls(self, provider_call_ids: list[str]) -> list[str]:
        return [sid for sid in provider_call_ids if self.client.conferences(sid).fetch().status == "completed"]

    def validate_webhook(self, *, url: str, params: dict[str, str], signature: str) -> None:
        """Raise WebhookRejected unless X-Twilio-Signature matches the URL and POST body."""
        if not signature or not self.auth_token:
            raise WebhookRejected("Missing signature.")
        if not RequestValidator(self.auth_token).validate(url, params, signature):
            raise WebhookRejected("Bad signature.")

    def incoming_call_twiml(self, *, call_id: int) -> str:
        """TwiML that puts an incoming caller into their call's conference (the customer leg);
        the conference ends when they hang up, which ends the call through its webhook."""
        response = VoiceResponse()
        dial = response.dial()
        dial.conference(
            self.conference_name(call_id),
            start_conference_on_enter=True,
            end_conference_on_exit=True,
            status_callback=self.status_callback_url(),
            status_callback_event="start end",
        )
        return str(response)

    def closed_twiml(self, *, message: str) -> str:
        """TwiML for a caller of a closed queue: they hear why (and when it opens), then the line ends."""
        response = VoiceResponse()
        response.say(message)
        response.hangup()
        return str(response)

    def parse_webhook(self, *, url: str, params: dict[str, str], signature: str) -> list[ProviderEventData]:
        self.validate_webhook(url=url, params=params, signature=signature)
        try:
            sequence = int(params.get("SequenceNumber", ""))
        except ValueError:
            raise WebhookRejected("No SequenceNumber.") from None
        payload = dict(params)
        if "StatusCallbackEvent" in params and params.get("ConferenceSid"):
            kind = CONFERENCE_EVENTS.get(params["StatusCallbackEvent"])
            if kind is None:
                return []
            return [
                ProviderEventData(
                    kind=kind,
                    resource_id=params["ConferenceSid"],
                    sequence=sequence,
                    conference=params.get("FriendlyName", ""),
                    provider_call_id=params["ConferenceSid"],
                    payload=payload,
                )
            ]
        if params.get("CallSid") and params.get("CallStatus") in CALL_STATUS_EVENTS:
            kind, reason = CALL_STATUS_EVENTS[params["CallStatus"]]
            return [
                ProviderEventData(
                    kind=kind,
                    resource_id=params["CallSid"],
                    sequence=sequence,
                    provider_leg_id=params["CallSid"],
                    end_reason=reason,
                    payload=payload,
                )
            ]
        return []
