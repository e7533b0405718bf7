"""Rate limits kept as counters in the shared Redis cache, so every Daphne process counts together.

Sliding window (the "sliding window counter" approximation): each limit keeps one counter per clock
minute, and a request is allowed when

    previous minute's count × (share of the previous minute still inside the last 60 s)
    + this minute's count + 1  ≤  limit

A plain fixed window let a client send `limit` requests in the last second of one minute and
`limit` more in the first second of the next (2× the limit within a second); here the count from
the minute before still weighs almost fully just after the boundary, so a burst is bounded by the
limit whichever second it starts in. The estimate assumes the previous minute's requests were
spread evenly; at worst it lets through `limit × (share of the minute elapsed)` more over a full
60 s span, never a burst.

All the limits of one request are checked and, only if every one allows it, counted, by one Lua
script: one Redis round trip (EVALSHA), atomic across processes. Refused requests are not counted,
so a client that floods is refused only while it is actually over the limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections.abc import Sequence

import redis.asyncio
import redis.exceptions
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

# Redis cannot count right now: down, hung, or (in a Sentinel failover) a demoted primary that
# refuses writes until clients reach the new one. Each caller says what it does then.
REDIS_UNUSABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,
    OSError,
)

WINDOW_SECONDS = 60
# Each counter lives for its own minute and the next (where it still weighs), plus slack for clock skew.
COUNTER_TTL_SECONDS = 3 * WINDOW_SECONDS

# KEYS: pairs (this minute's counter, previous minute's counter), one pair per limit.
# ARGV: [1] weight of the previous minute, [2] counter TTL, [3..] the limits, one per pair.
# Returns 0 when every limit allows the request (then every counter is incremented), else the
# 1-based number of the first limit that refuses it (nothing is incremented).
SLIDING_WINDOW_LUA = """
local weight = tonumber(ARGV[1])
local pairs_count = #KEYS / 2
for i = 1, pairs_count do
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if previous * weight + current + 1 > tonumber(ARGV[2 + i]) then
    return i
  end
end
for i = 1, pairs_count do
  redis.call('INCR', KEYS[2 * i - 1])
  redis.call('EXPIRE', KEYS[2 * i - 1], ARGV[2])
end
return 0
"""
SLIDING_WINDOW_SHA = hashlib.sha1(SLIDING_WINDOW_LUA.encode()).hexdigest()


def _script_call(names: Sequence[str], limits: Sequence[int], now: float | None) -> tuple[list[str], list]:
    """The keys and arguments of the script for the counters `names` with their `limits`."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    weight = 1.0 - (now % WINDOW_SECONDS) / WINDOW_SECONDS
    keys = []
    for name in names:
        keys.append(cache.make_and_validate_key(f"{name}:{window}"))
        keys.append(cache.make_and_validate_key(f"{name}:{window - 1}"))
    return keys, [repr(weight), COUNTER_TTL_SECONDS, *limits]


def allow(names: Sequence[str], limits: Sequence[int], *, now: float | None = None) -> int:
    """0 if a request counted against every counter in `names` stays within its limit (and count it),
    else the 1-based index of the limit it would exceed. One round trip through the cache's client."""
    keys, args = _script_call(names, limits, now)
    client = cache._cache.get_client(keys[0], write=True)
    try:
        return int(client.evalsha(SLIDING_WINDOW_SHA, len(keys), *keys, *args))
    except redis.exceptions.NoScriptError:  # first use since Redis started: load it once
        return int(client.eval(SLIDING_WINDOW_LUA, len(keys), *keys, *args))


_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _async_client() -> redis.asyncio.Redis:
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        # redis-py 8's default pool raises MaxConnectionsError past 100 commands in flight (measured:
        # 623 refused messages at 200 chats on a loaded box); a blocking pool waits for a connection.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.CACHES["default"]["LOCATION"],
            max_connections=settings.RATE_LIMIT_REDIS_CONNECTIONS,
            timeout=10,
            # An unreachable or hung Redis (not just a refused port) must not stall frames.
            socket_connect_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT_SECONDS,
        )
        client = _async_clients[loop] = redis.asyncio.Redis(connection_pool=pool)
    return client


# Once Redis has not answered the limiter, it is not asked again for this long (per event loop):
# with a hung Redis every frame first waited the whole socket timeout, and a socket's frames are
# handled one after another, so each answer came later than the one before (a console's pings
# in between cost 2 s each; found by tests/reliability/test_chat_faults.py under load). Meanwhile
# the callers treat Redis as unusable, as they would after the timeout.
UNUSABLE_BACKOFF_SECONDS = 5.0
_unusable_until: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def aallow(names: Sequence[str], limits: Sequence[int], *, now: float | None = None) -> int:
    """`allow` for the event loop: the same counters, through an async Redis client.

    Raises one of REDIS_UNUSABLE when Redis fails, and at once (without asking it) for
    UNUSABLE_BACKOFF_SECONDS after that.
    """
    loop = asyncio.get_running_loop()
    if time.monotonic() < _unusable_until.get(loop, 0.0):
        raise redis.exceptions.ConnectionError("Redis did not answer the rate limiter a moment ago")
    keys, args = _script_call(names, limits, now)
    client = _async_client()
    try:
        try:
            return int(await client.evalsha(SLIDING_WINDOW_SHA, len(keys), *keys, *args))
        except redis.exceptions.NoScriptError:
            return int(await client.eval(SLIDING_WINDOW_LUA, len(keys), *keys, *args))
    except REDIS_UNUSABLE:
        _unusable_until[loop] = time.monotonic() + UNUSABLE_BACKOFF_SECONDS
        raise


# --- Visitors -------------------------------------------------------------------------------------


# Other visitor frames, per engagement per minute (sliding window). Typing goes at most every 3 s while
# keys are pressed plus a stop after each pause or send; resume is sent on reconnect only (the socket's
# query string carries the usual starting point). A project can override any entry with the
# VISITOR_FRAME_LIMITS setting (a dict merged over these).
DEFAULT_VISITOR_FRAME_LIMITS = {
    "typing": 60,
    "resume": 20,
}


def visitor_frame_limits() -> dict[str, int]:
    return {**DEFAULT_VISITOR_FRAME_LIMITS, **settings.VISITOR_FRAME_LIMITS}


async def avisitor_frame_refused(*, engagement_id: int, frame_type: str, now: float | None = None) -> bool:
    """Count one `typing` or `resume` frame of an engagement's visitor against `visitor_frame_limits()`
    (per engagement, over all its sockets and processes); True if it is past the limit. Frames without
    a limit here (messages have their own) are never refused.

    With Redis unreachable the frame is let through (and logged): a typing signal cannot be sent then
    anyway, and `resume` is how a visitor recovers what a publish lost during the outage.
    """
    limit = visitor_frame_limits().get(frame_type)
    if limit is None:
        return False
    try:
        return await aallow([f"visitor-rate:{engagement_id}:{frame_type}"], [limit], now=now) != 0
    except REDIS_UNUSABLE as error:
        logger.warning("Visitor rate limit not checked (Redis unreachable): %r", error)
        return False


# --- Operators ------------------------------------------------------------------------------------

ALL_FRAMES = "*"

# Frames per operator per minute (sliding window, over all their sockets and processes), by frame type,
# and "*" for every frame together (read receipts, pings and resume count only there). Sized for a fast
# typist on several chats plus the console's own traffic: a reconnect flushes up to 100 queued frames,
# typing goes at most every 3 s per key stroke run, pings every 25 s. A project can override any entry
# with the OPERATOR_FRAME_LIMITS setting (a dict merged over these).
DEFAULT_OPERATOR_FRAME_LIMITS = {
    "message.send": 120,
    "note.add": 60,
    "typing": 300,
    "engagement.open": 120,
    "engagement.end": 60,
    "availability.set": 30,
    ALL_FRAMES: 600,
}


def operator_frame_limits() -> dict[str, int]:
    return {**DEFAULT_OPERATOR_FRAME_LIMITS, **settings.OPERATOR_FRAME_LIMITS}


async def aoperator_frame_refused(*, operator_id: int, frame_type: str, now: float | None = None) -> str | None:
    """Count one frame of `frame_type` from the operator against `operator_frame_limits()` (per operator,
    over all their sockets and processes, per minute, sliding): the frame's own limit if it has one,
    and the limit on all frames together ("*"). None if allowed, else the limit's key that refuses it.

    With Redis unreachable the frame is let through (and logged): operators are signed-in staff, and
    their chat lines must still be stored during a Redis outage (persist, then publish; clients
    resume by seq). Visitors' messages, anonymous, are refused in that case (`internal`).
    """
    configured = operator_frame_limits()
    kinds = [kind for kind in (frame_type, ALL_FRAMES) if kind in configured]
    if not kinds:
        return None
    names = [f"operator-rate:{operator_id}:{kind}" for kind in kinds]
    try:
        refused = await aallow(names, [configured[kind] for kind in kinds], now=now)
    except REDIS_UNUSABLE as error:
        logger.warning("Operator rate limit not checked (Redis unreachable): %r", error)
        return None
    return kinds[refused - 1] if refused else None
