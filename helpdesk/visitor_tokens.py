"""The visitor's key to their engagement: a signed token, in their chat page's address and socket URL.

The token names one engagement and carries no other right. It opens the engagement for as long as
the engagement lasts (a reload restores the conversation, however long the chat goes on), and for
VISITOR_TOKEN_HOURS_AFTER_END (default 24) after it ended, so the visitor can reread the transcript;
after that it opens nothing: the page says the chat has ended and shows no transcript, the socket
is refused. Ended engagements refuse new messages in any case.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.utils import timezone

SALT = "helpdesk.visitor-token"


def make_visitor_token(*, engagement_id: int, visitor_id: int) -> str:
    return signing.dumps({"e": engagement_id, "v": visitor_id}, salt=SALT)


def engagement_id_from_token(token: str) -> int | None:
    """The engagement a token names, or None for a forged, altered or malformed token.

    This checks the signature only; whether the token still opens the engagement is
    `token_opens(engagement)` once the engagement is read.
    """
    try:
        payload = signing.loads(token, salt=SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    engagement_id = payload.get("e") if isinstance(payload, dict) else None
    return engagement_id if isinstance(engagement_id, int) and not isinstance(engagement_id, bool) else None


def hours_after_end() -> float:
    return settings.VISITOR_TOKEN_HOURS_AFTER_END


def token_expired(*, ended_at: datetime | None, now: datetime | None = None) -> bool:
    """True once the engagement has been over for longer than VISITOR_TOKEN_HOURS_AFTER_END.

    A live engagement (`ended_at` None) never expires its token.
    """
    if ended_at is None:
        return False
    return (now or timezone.now()) >= ended_at + timedelta(hours=hours_after_end())


def token_opens(engagement, now: datetime | None = None) -> bool:
    """Whether a validly signed token of `engagement` still opens it (page and socket)."""
    return not token_expired(ended_at=engagement.ended_at, now=now)
