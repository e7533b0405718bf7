"""Finding 1 of the outside probe, at the protocol level: a line sent just before Daphne dies is not lost.

A visitor (on one web process) and an operator (on the other) type 100 lines each while both
processes are killed with SIGKILL at random moments and started again. The clients keep an outbox
the way the pages do (tests/reliability/clients.Outbox mirrors static/js/core/outbox.js): every
line the person typed must end up stored exactly once, or be marked failed (none is here), and
both screens get every stored line once, in order. The browser version is
tests/browser/test_outbox.py.
"""

import asyncio
import random
import signal

import pytest

from helpdesk.models import Message
from tests.processes import Cluster, use_redis
from tests.reliability.clients import Outbox
from tests.reliability.test_chat_faults import open_chat, run

LINES_PER_SIDE = 100


@pytest.fixture
def fast_typists(transactional_db, private_redis):
    """Two Daphne processes whose visitor limit lets 100 lines through in a few seconds (a person types
    slower; the point here is the kills, not the limit, which tests/reliability/test_rate_limits.py covers)."""
    processes = Cluster(private_redis, workers=0, VISITOR_MESSAGES_PER_MINUTE="2000").start()
    with use_redis(private_redis.url):
        yield processes
    processes.stop()


def test_every_line_typed_across_random_daphne_kills_is_stored_exactly_once(fast_typists, desk):
    web_a, web_b = fast_typists.daphnes
    rng = random.Random(20261204)
    kill_at = set(rng.sample(range(5, LINES_PER_SIDE - 5), 6))  # six kills, spread over the run

    async def scenario():
        chat = await open_chat(desk, visitor_url=web_a.url, operator_url=web_b.url)
        visitor = Outbox(chat.visitor)
        operator = Outbox(chat.operator, engagement_id=chat.engagement_id)
        typed = {}
        try:
            for i in range(LINES_PER_SIDE):
                if i in kill_at:
                    web = rng.choice([web_a, web_b])
                    await asyncio.sleep(rng.uniform(0, 0.02))  # mid-flight: lines were just written
                    web.stop(signal.SIGKILL)
                    await asyncio.to_thread(web.start)
                typed[await visitor.say(f"visitor line {i}")] = f"visitor line {i}"
                typed[await operator.say(f"operator line {i}")] = f"operator line {i}"
                await asyncio.sleep(rng.uniform(0.005, 0.04))
            await visitor.settled()
            await operator.settled()
            stored = await asyncio.to_thread(stored_lines, chat.engagement_id)
            last_seq = max(seq for seq, _, _ in stored)
            for side in (chat.visitor, chat.operator):  # both screens catch up to the last line
                await side.wait_for(
                    lambda f: f.get("type") == "message" and f["seq"] == last_seq, timeout=30, what="the last line"
                )
            return typed, visitor, operator, stored, chat
        finally:
            await chat.operator.close()
            await chat.visitor.close()

    typed, visitor, operator, stored, chat = run(scenario)
    # The kills really caught lines in flight: without the outbox's re-send these would be lost.
    assert visitor.resent + operator.resent > 0
    assert visitor.failed == {} and operator.failed == {}
    by_client_id = {client_id: body for _, body, client_id in stored}
    assert len(by_client_id) == len(stored)  # no line twice
    assert by_client_id == typed  # every typed line stored, with its own text
    assert set(visitor.acked) | set(operator.acked) == set(typed)
    seqs = [seq for seq, _, _ in stored]
    assert seqs == list(range(1, len(stored) + 1))  # gap-free
    for side in (chat.visitor, chat.operator):
        seen = [f["seq"] for f in side.messages(chat.engagement_id)]
        assert sorted(set(seen)) == seqs, f"{side.kind} missed lines"
        # A socket never repeats a line; after a reconnect the client's own de-duplication by seq
        # (LiveSocket's) hides the one re-read that a resume across processes may bring.
        per_connection_repeats = len(seen) - len(set(seen))
        assert per_connection_repeats <= side.connects, (side.kind, per_connection_repeats, side.connects)


def stored_lines(engagement_id: int) -> list[tuple[int, str, str]]:
    return list(
        Message.objects.filter(engagement_id=engagement_id).order_by("seq").values_list("seq", "body", "client_id")
    )
