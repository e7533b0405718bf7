"""The visitor's key to their engagement: a signed token, in their chat page's address and socket URL.

The token names one engagement and carries no other right; it does not expire while the
engagement lasts (a reload restores the conversation), and ended engagements refuse new messages.
"""

from __future__ import annotations

from django.core import signing

SALT = "helpdesk.visitor-token"


def make_visitor_token(*, engagement_id: int, visitor_id: int) -> str:
    return signing.dumps({"e": engagement_id, "v": visitor_id}, salt=SALT)


def engagement_id_from_token(token: str) -> int | None:
    """The engagement a token opens, or None for a forged, altered or malformed token."""
    try:
        payload = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    engagement_id = payload.get("e") if isinstance(payload, dict) else None
    return engagement_id if isinstance(engagement_id, int) else None
