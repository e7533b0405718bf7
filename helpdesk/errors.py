"""Domain errors: raised by services, turned into an HTTP answer or an error frame in one place each."""

from __future__ import annotations


class DomainError(Exception):
    """An act that the rules do not allow; `code` is stable for clients, `message` is for people."""

    http_status = 409

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class ChatError(DomainError):
    pass


class NotAllowed(DomainError):
    """The actor may not touch this object (not theirs, or not visible to them)."""

    http_status = 403


class BadRequest(DomainError):
    """The request itself is malformed (not JSON, too large, a field of the wrong kind)."""

    http_status = 400


class CodeError(BadRequest):
    """A disposition or transfer reason that cannot be used: missing where required (`code_required`),
    unknown (`unknown_code`), switched off (`inactive_code`) or of another queue (`other_queue`)."""


class WrapUpError(DomainError):
    """A wrap-up act the rules do not allow: `not_found` (404), `not_yours` (403), `ended` or
    `cannot_skip` (409)."""

    STATUS = {"not_found": 404, "not_yours": 403}

    def __init__(self, code: str, message: str):
        super().__init__(code, message)
        self.http_status = self.STATUS.get(code, 409)
