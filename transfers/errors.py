"""Why a transfer act was refused: stable codes the console shows, and the HTTP status each maps to."""

from __future__ import annotations

from django.db import models

from helpdesk.errors import DomainError


class TransferErrorCode(models.TextChoices):
    NOT_OWNER = "not_owner", "You do not own this engagement."
    NOT_INITIATOR = "not_initiator", "Only the operator who started the transfer may do that."
    NOT_OFFERED = "not_offered", "This transfer is not offered to you."
    ALREADY_TAKEN = "already_taken", "Another operator already took this transfer."
    ALREADY_OPEN = "already_open", "This engagement already has a transfer in progress."
    NO_LONGER_OPEN = "no_longer_open", "This transfer is no longer open."
    NOT_ACCEPTED = "not_accepted", "The transfer has not been accepted yet."
    ENGAGEMENT_ENDED = "engagement_ended", "This conversation has ended."
    SELF_TARGET = "self_target", "You cannot transfer to yourself."
    TARGET_UNAVAILABLE = "target_unavailable", "That operator cannot take a chat now."
    WRONG_MEDIA = "wrong_media", "That queue does not take this kind of engagement."
    NO_TARGET = "no_target", "Pick one operator or one queue."
    AT_CAPACITY = "at_capacity", "You have reached your capacity."
    INVALID = "invalid", "The request is not valid."


FORBIDDEN = {TransferErrorCode.NOT_OWNER, TransferErrorCode.NOT_INITIATOR, TransferErrorCode.NOT_OFFERED}


class TransferError(DomainError):
    """A transfer act the rules do not allow; 403 for "not yours", 409 for a state that moved on, 400 for input."""

    def __init__(self, code: TransferErrorCode | str, message: str | None = None):
        code = TransferErrorCode(code)
        super().__init__(code.value, message or code.label)
        if code in FORBIDDEN:
            self.http_status = 403
        elif code in {TransferErrorCode.INVALID, TransferErrorCode.NO_TARGET, TransferErrorCode.SELF_TARGET}:
            self.http_status = 400
        else:
            self.http_status = 409
