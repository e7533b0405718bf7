"""Rate limits kept as counters in the shared Redis cache, so every Daphne process counts together."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache


def allow_visitor_message(*, engagement_id: int) -> bool:
    """At most VISITOR_MESSAGES_PER_MINUTE messages per engagement in each clock minute (fixed window)."""
    window = int(time.time() // 60)
    key = f"chat-rate:{engagement_id}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this is the first message of the window
        cache.add(key, 1, timeout=120)
        count = 1
    return count <= settings.VISITOR_MESSAGES_PER_MINUTE
