"""Rate limits kept as counters in the shared Redis cache, so every Daphne process counts together."""

from __future__ import annotations

import asyncio
import time
import weakref

import redis.asyncio
from django.conf import settings
from django.core.cache import cache


def allow_visitor_message(*, engagement_id: int) -> bool:
    """At most VISITOR_MESSAGES_PER_MINUTE messages per engagement in each clock minute (fixed window).

    One round trip: INCR and EXPIRE (only when the key is new) in one pipeline.
    """
    window = int(time.time() // 60)
    key = cache.make_and_validate_key(f"chat-rate:{engagement_id}:{window}")
    client = cache._cache.get_client(key, write=True)
    pipeline = client.pipeline(transaction=False)
    pipeline.incr(key)
    pipeline.expire(key, 120, nx=True)
    count, _ = pipeline.execute()
    return count <= settings.VISITOR_MESSAGES_PER_MINUTE


_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def aallow_visitor_message(*, engagement_id: int) -> bool:
    """`allow_visitor_message` for the event loop: the same counter, through an async Redis client."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        # redis-py 8's default pool raises MaxConnectionsError past 100 commands in flight (measured:
        # 623 refused messages at 200 chats on a loaded box); a blocking pool waits for a connection.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.CACHES["default"]["LOCATION"], max_connections=settings.RATE_LIMIT_REDIS_CONNECTIONS, timeout=10
        )
        client = _async_clients[loop] = redis.asyncio.Redis(connection_pool=pool)
    window = int(time.time() // 60)
    key = cache.make_and_validate_key(f"chat-rate:{engagement_id}:{window}")
    async with client.pipeline(transaction=False) as pipeline:
        pipeline.incr(key)
        pipeline.expire(key, 120, nx=True)
        count, _ = await pipeline.execute()
    return count <= settings.VISITOR_MESSAGES_PER_MINUTE
