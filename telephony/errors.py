"""Call-control errors: stable codes the phone console shows, raised by telephony.services."""

from __future__ import annotations

from helpdesk.errors import DomainError


class CallError(DomainError):
    """An act the call's state does not allow. Codes:

    not_found, ended, not_owner, initiator_in_conference, not_ringing, wrong_leg, wrong_media,
    no_target, invalid_number, self, target_unavailable, no_agent, consult_open, no_consult,
    not_answered, in_conference, not_in_conference, already_on_hold, not_on_hold,
    cold_transfer_disabled, at_capacity.
    """

    http_status = 409


class WebhookRejected(Exception):
    """A provider webhook whose signature is missing or wrong: answered 403, never applied."""
