"""The sliding-window limiter on the real Redis: no 2x burst at a minute boundary, one round trip.

Time is passed in (`now=`) so the tests can stand at either side of a window edge; the counters,
the script and the Redis are the real ones.
"""

from __future__ import annotations

import asyncio

import pytest
from django.core.cache import cache
from django.test import override_settings

from helpdesk import rate_limits
from helpdesk.rate_limits import aallow, allow, aoperator_frame_refused, avisitor_frame_refused

EDGE = 1_000_000 * 60.0  # a minute boundary
LIMIT = 5


def allowed_count(attempts: int, *, at: float, engagement_id: int = 1) -> int:
    """How many of `attempts` requests at `at` a limit of 5 a minute per engagement lets through."""
    return sum(allow([f"t-rate:{engagement_id}"], [LIMIT], now=at) == 0 for _ in range(attempts))


def test_a_burst_at_the_end_of_a_minute_is_not_followed_by_a_second_one_at_the_start_of_the_next():
    assert allowed_count(10, at=EDGE - 0.5) == 5
    # A fixed window would allow 5 more here (2x the limit within a second).
    assert allowed_count(10, at=EDGE + 0.5) == 0
    # Half a minute on, half of the burst has slid out of the last 60 s.
    assert allowed_count(10, at=EDGE + 30) == 2
    # A minute after the burst it has slid out; the 2 sent at +30 still weigh fully.
    assert allowed_count(10, at=EDGE + 60) == 3
    # A minute with no traffic: the whole budget again.
    assert allowed_count(10, at=EDGE + 180) == 5


def test_refused_attempts_do_not_count_and_limits_are_per_engagement():
    assert allowed_count(50, at=EDGE + 10, engagement_id=7) == 5
    assert allowed_count(5, at=EDGE + 10, engagement_id=8) == 5
    # 45 refused attempts did not extend the block: the next minute weighs only the 5 allowed.
    # (counting the 50 would give 50 * 1/3 > 5: nothing; counting the 5: 5/3 + c + 1 <= 5, so 3 more.)
    assert allowed_count(10, at=EDGE + 100, engagement_id=7) == 3


def test_the_async_client_shares_the_counters_of_the_sync_one():
    assert allowed_count(3, at=EDGE + 1) == 3

    async def more():
        return [await aallow(["t-rate:1"], [LIMIT], now=EDGE + 1) == 0 for _ in range(4)]

    assert asyncio.run(more()) == [True, True, False, False]


def test_several_limits_are_checked_and_counted_together_in_one_script_call():
    names, limits = ["t:a", "t:b"], [3, 2]
    assert [allow(names, limits, now=EDGE + 1) for _ in range(3)] == [0, 0, 2]  # "b" refuses the third
    assert allow(["t:a"], [3], now=EDGE + 1) == 0  # the refused call counted against neither
    assert allow(["t:a"], [3], now=EDGE + 1) == 1


def test_the_script_reloads_itself_after_redis_forgot_it():
    client = cache._cache.get_client(write=True)
    client.script_flush()
    assert allow(["t:reload"], [1], now=EDGE + 1) == 0

    async def again():
        client = rate_limits._async_client()
        await client.script_flush()
        return await allow_async()

    async def allow_async():
        return await rate_limits.aallow(["t:reload2"], [1], now=EDGE + 1)

    assert asyncio.run(again()) == 0


@override_settings(OPERATOR_FRAME_LIMITS={"typing": 2, "*": 3})
def test_operator_frames_count_against_their_type_and_against_every_frame():
    async def scenario():
        refuse = [await aoperator_frame_refused(operator_id=9, frame_type="typing", now=EDGE + 1) for _ in range(3)]
        refuse += [await aoperator_frame_refused(operator_id=9, frame_type="ping", now=EDGE + 1) for _ in range(2)]
        refuse.append(await aoperator_frame_refused(operator_id=10, frame_type="ping", now=EDGE + 1))
        return refuse

    assert asyncio.run(scenario()) == [None, None, "typing", None, "*", None]


def test_default_operator_limits_cover_every_act_of_the_console():
    limits = rate_limits.operator_frame_limits()
    for kind in ("message.send", "note.add", "typing", "engagement.open", "engagement.end", "availability.set"):
        assert limits[kind] >= 30, kind
    assert limits["message.send"] >= 120 and limits["*"] >= 500


pytestmark = pytest.mark.usefixtures("_clear_cache")


def test_a_redis_that_refuses_writes_counts_as_unusable_not_as_a_failed_frame():
    """In a Sentinel failover a client may still be on the demoted primary, which answers READONLY:
    operators' frames and a visitor's typing go through unchecked (as with Redis down), never an
    internal error. (A visitor's chat line does not ask Redis at all: its limit is in the INSERT.)"""
    from tests.processes import RedisServer, use_redis

    replica = RedisServer().start()
    try:
        redis_lib = cache._cache.get_client(write=True).__class__
        redis_lib.from_url(replica.url).execute_command("REPLICAOF", "127.0.0.1", "1")  # a master that never answers
        with use_redis(replica.url):

            async def scenario():
                operator = await aoperator_frame_refused(operator_id=11, frame_type="message.send", now=EDGE + 1)
                typing = await avisitor_frame_refused(engagement_id=12, frame_type="typing", now=EDGE + 1)
                return operator, typing

            assert asyncio.run(scenario()) == (None, False)
    finally:
        replica.stop()


def test_a_hung_redis_costs_the_limiter_one_timeout_then_it_is_not_asked_until_the_backoff_ends(monkeypatch):
    """Found under load: with Redis hung (SIGSTOP) each frame of a socket first waited the whole
    socket timeout, one after another, so an operator's third line got no answer within 8 s. One
    timeout now; the frames after it are let through at once, and Redis is asked again after
    the backoff."""
    import time

    from tests.processes import RedisServer, use_redis

    monkeypatch.setattr(rate_limits, "UNUSABLE_BACKOFF_SECONDS", 1.0)
    hung = RedisServer().start()
    try:
        with use_redis(hung.url):

            async def scenario():
                hung.pause()
                took = []
                for _ in range(3):
                    started = time.monotonic()
                    assert await aoperator_frame_refused(operator_id=21, frame_type="ping", now=EDGE + 1) is None
                    took.append(time.monotonic() - started)
                hung.resume()
                await asyncio.sleep(1.1)  # the backoff ends: Redis is asked, and counts, again
                counted = (
                    await aallow(["after-backoff"], [1], now=EDGE + 2),
                    await aallow(["after-backoff"], [1], now=EDGE + 2),
                )
                return took, counted

            took, counted = asyncio.run(scenario())
    finally:
        hung.stop()
    assert took[0] >= 1.5, took  # the socket timeout (2 s), once
    assert max(took[1:]) < 0.1, took  # not asked again within the backoff
    assert counted == (0, 1), "after the backoff the limiter counts again (the second call is refused)"
