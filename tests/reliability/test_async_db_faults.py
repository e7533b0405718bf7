"""The chat's async PostgreSQL pool (helpdesk/async_db.py) after its connections are lost.

The loss is real: PostgreSQL terminates the pooled connections' backends (`pg_terminate_backend`,
only ever on this test's own database), as a failover or a restart would. The sockets are
driven in-process on the real ASGI app and the real Redis channel layer, so the pool under test
is this process's own and its backends are known exactly.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from types import SimpleNamespace

import psycopg
import pytest

from helpdesk import async_db
from helpdesk.models import Engagement, Media, Message
from helpdesk.services.engagements import start_chat
from helpdesk.services.routing import route_engagement
from tests import processes
from tests.factories import OperatorFactory, QueueFactory, SiteFactory, TeamFactory
from tests.helpdesk.chat_helpers import connect, operator_socket, receive, send, visitor_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat():
    """One chat, answered by its operator."""
    site = SiteFactory()
    team = TeamFactory(site=site)
    queue = QueueFactory(site=site, teams=[team], is_default=True)
    operator = OperatorFactory(site=site, teams=[team], available=[Media.CHAT])
    engagement = start_chat(queue=queue, visitor_name="Vera")
    route_engagement(engagement_id=engagement.pk)
    engagement.refresh_from_db()
    assert engagement.owner_id == operator.pk
    return SimpleNamespace(operator=operator, engagement=engagement)


def admin_sql(sql: str, params=()) -> list[tuple]:
    """A statement on a connection of its own (not the pool's, not Django's)."""
    with psycopg.connect(processes.test_database_url(), autocommit=True) as admin:
        return admin.execute(sql, params).fetchall()


async def terminate_and_wait(pids: list[int]) -> None:
    """Kill the backends and wait until PostgreSQL has them gone (their sockets then say so)."""
    for pid in pids:
        await asyncio.to_thread(admin_sql, "SELECT pg_terminate_backend(%s)", (pid,))
    for _ in range(200):
        alive = await asyncio.to_thread(admin_sql, "SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,))
        if not alive:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"backends {pids} still alive")


async def fill_pool() -> list[int]:
    """Check out every connection the pool may open at once, so all CHAT_ASYNC_DB_CONNECTIONS exist
    (and will each be handed out again after the loss); return their backend pids."""
    current = async_db.pool()
    async with AsyncExitStack() as stack:
        for _ in range(current.size):
            await stack.enter_async_context(async_db.connection())
    assert len(current.opened) == current.size == current.idle.qsize()
    return [conn.info.backend_pid for conn in current.opened]


class Frames:
    """Every frame a communicator received, so a wait never loses the frames it skipped."""

    def __init__(self, socket):
        self.socket = socket
        self.seen: list[dict] = []

    async def wait_for(self, predicate, timeout: float = 5) -> dict:
        for frame in self.seen:
            if predicate(frame):
                return frame
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await receive(self.socket, timeout=max(0.05, deadline - loop.time()))
            self.seen.append(frame)
            if predicate(frame):
                return frame

    async def outcome(self, *, body: str, ref: str) -> dict:
        """The sender's own copy of its line, or the error frame refusing it; never silence."""
        return await self.wait_for(
            lambda f: (f["type"] == "message" and f["body"] == body) or (f["type"] == "error" and f.get("ref") == ref)
        )

    async def sees(self, body: str) -> dict:
        return await self.wait_for(lambda f: f["type"] == "message" and f["body"] == body)

    async def drain(self, quiet: float = 0.5) -> None:
        while not await self.socket.receive_nothing(timeout=quiet):
            self.seen.append(json.loads(await self.socket.receive_from()))

    def bodies(self) -> list[str]:
        return [f["body"] for f in self.seen if f["type"] == "message"]


def stored(engagement_id: int) -> list[tuple[int, str]]:
    return list(Message.objects.filter(engagement_id=engagement_id).order_by("seq").values_list("seq", "body"))


def test_every_pooled_connection_killed_the_next_lines_are_stored_and_delivered_once(chat):
    """All CHAT_ASYNC_DB_CONNECTIONS backends terminated: the next two lines are posted, on fresh
    connections, not failed one per dead connection."""
    engagement_id = chat.engagement.pk

    async def scenario():
        operator_ws = await operator_socket(chat.operator.user)
        visitor_ws = visitor_socket(chat.engagement)
        await connect(operator_ws)
        await connect(visitor_ws)
        operator, visitor = Frames(operator_ws), Frames(visitor_ws)
        try:
            await send(visitor_ws, {"type": "message.send", "body": "before", "ref": "v0"})
            assert (await visitor.outcome(body="before", ref="v0"))["type"] == "message"
            await operator.sees("before")

            killed = await fill_pool()
            await terminate_and_wait(killed)

            results = {}
            await send(visitor_ws, {"type": "message.send", "body": "after, visitor", "ref": "v1"})
            results["after, visitor"] = await visitor.outcome(body="after, visitor", ref="v1")
            await send(
                operator_ws,
                {"type": "message.send", "engagement_id": engagement_id, "body": "after, operator", "ref": "o1"},
            )
            results["after, operator"] = await operator.outcome(body="after, operator", ref="o1")
            await operator.sees("after, visitor")
            await visitor.sees("after, operator")
            now_open = [conn.info.backend_pid for conn in async_db.pool().opened]
            await operator.drain()  # anything more (a second copy of a line) would arrive now
            await visitor.drain()
            return killed, results, now_open, operator.bodies(), visitor.bodies()
        finally:
            await operator_ws.disconnect()
            await visitor_ws.disconnect()

    killed, results, now_open, operator_saw, visitor_saw = asyncio.run(scenario())
    errors = {body: frame for body, frame in results.items() if frame["type"] == "error"}
    assert not errors, f"lines refused after the connection loss: {errors}"
    assert [body for _, body in stored(engagement_id)] == ["before", "after, visitor", "after, operator"]
    seqs = [seq for seq, _ in stored(engagement_id)]
    assert seqs == sorted(set(seqs)), "a line was stored twice"
    assert not set(killed) & set(now_open), "a dead connection is still in the pool"
    assert operator_saw == visitor_saw == ["before", "after, visitor", "after, operator"], (operator_saw, visitor_saw)


def backends_waiting_for_a_lock(holder_pid: int) -> list[int]:
    rows = admin_sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND %s = ANY(pg_blocking_pids(pid))",
        (holder_pid,),
    )
    return [pid for (pid,) in rows]


def test_connection_killed_while_the_post_runs_refuses_the_line_visibly_and_the_resend_is_stored_once(chat):
    """Once the statement was sent it is not run again (it may have committed): the sender gets an
    error frame with its ref, nothing is half-stored, the other idle connections are dropped, and
    the resend goes through on a fresh connection."""
    engagement_id = chat.engagement.pk

    async def scenario():
        visitor_ws = visitor_socket(chat.engagement)
        await connect(visitor_ws)
        visitor = Frames(visitor_ws)
        try:
            await send(visitor_ws, {"type": "message.send", "body": "before", "ref": "v0"})
            assert (await visitor.outcome(body="before", ref="v0"))["type"] == "message"
            pooled_before = await fill_pool()

            # Hold the engagement's row lock so the post blocks inside PostgreSQL, then kill it there.
            holder = await psycopg.AsyncConnection.connect(processes.test_database_url())
            try:
                await holder.execute(
                    f"SELECT id FROM {Engagement._meta.db_table} WHERE id = %s FOR UPDATE", (engagement_id,)
                )
                holder_pid = holder.info.backend_pid
                await send(visitor_ws, {"type": "message.send", "body": "while killed", "ref": "v1"})
                for _ in range(200):
                    waiting = await asyncio.to_thread(backends_waiting_for_a_lock, holder_pid)
                    if waiting:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the post never reached the lock")
                await terminate_and_wait(waiting)
                refused = await visitor.outcome(body="while killed", ref="v1")
            finally:
                await holder.rollback()
                await holder.close()

            still_pooled = [conn.info.backend_pid for conn in async_db.pool().opened]
            await send(visitor_ws, {"type": "message.send", "body": "while killed", "ref": "v2"})
            resent = await visitor.outcome(body="while killed", ref="v2")
            return refused, resent, pooled_before, still_pooled
        finally:
            await visitor_ws.disconnect()

    refused, resent, pooled_before, still_pooled = asyncio.run(scenario())
    assert refused["type"] == "error" and refused["ref"] == "v1" and refused["message"], refused
    assert still_pooled == [], f"idle connections kept after a lost one: {still_pooled} of {pooled_before}"
    assert resent["type"] == "message", resent
    bodies = [body for _, body in stored(engagement_id)]
    assert bodies == ["before", "while killed"], bodies
