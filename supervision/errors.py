"""Why a supervisor's act was refused: stable codes the pages show, with their HTTP status."""

from __future__ import annotations

from helpdesk.errors import DomainError


class SupervisionError(DomainError):
    """An act the rules do not allow now (409), or a request that names nothing valid (400)."""

    def __init__(self, code: str, message: str, *, http_status: int = 409):
        super().__init__(code, message)
        self.http_status = http_status


class NotSupervisor(DomainError):
    """The user does not supervise the site of what they tried to touch."""

    http_status = 403

    def __init__(self, message: str = "You do not supervise this site."):
        super().__init__("not_supervisor", message)
