"""The client outbox's server side: every line carries a client id, is stored once whatever the client
re-sends, and is answered with an ack (or an error) naming that id; a socket sends each message once.

Real ASGI app, real Redis channel layer, transactional PostgreSQL.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from helpdesk.models import Engagement, Message
from helpdesk.services.engagements import post_message, start_chat
from tests.factories import OperatorFactory, QueueFactory, TeamFactory
from tests.helpdesk.chat_helpers import connect, drain, operator_socket, receive_until, send, visitor_socket

pytestmark = pytest.mark.django_db(transaction=True)


def make_chat() -> tuple[Engagement, object]:
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], is_default=True)
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"])
    engagement = start_chat(queue=queue, visitor_name="Vera")
    engagement.refresh_from_db()
    assert engagement.owner_id == operator.pk
    return engagement, operator


def stored(engagement) -> list[tuple[int, str, str]]:
    return list(Message.objects.filter(engagement=engagement).order_by("seq").values_list("seq", "body", "client_id"))


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_line_sent_again_with_its_client_id_is_stored_once_and_acked_with_the_same_seq():
    engagement, operator = make_chat()

    async def scenario():
        visitor = visitor_socket(engagement)
        await connect(visitor)
        await send(visitor, {"type": "message.send", "body": "Hello?", "client_id": "v-1", "ref": "a"})
        first = await receive_until(visitor, "message.ack")
        await send(visitor, {"type": "message.send", "body": "Hello?", "client_id": "v-1", "ref": "b"})
        again = await receive_until(visitor, "message.ack")
        await visitor.disconnect()

        console = await operator_socket(operator.user)
        await connect(console)
        frame = {"type": "message.send", "engagement_id": engagement.pk, "body": "Hi", "client_id": "o-1"}
        await send(console, frame)
        mine = await receive_until(console, "message.ack")
        await send(console, frame)
        mine_again = await receive_until(console, "message.ack")
        await console.disconnect()
        return first, again, mine, mine_again

    first, again, mine, mine_again = run(scenario())
    assert (first["client_id"], first["seq"], first["ref"], first["duplicate"]) == ("v-1", 1, "a", False)
    assert (again["client_id"], again["seq"], again["ref"], again["duplicate"]) == ("v-1", 1, "b", True)
    assert (mine["seq"], mine_again["seq"], mine_again["duplicate"]) == (2, 2, True)
    assert stored(engagement) == [(1, "Hello?", "v-1"), (2, "Hi", "o-1")]
    assert Engagement.objects.get(pk=engagement.pk).last_seq == 2  # no seq spent on the re-sends


def test_the_same_client_id_may_be_used_on_another_engagement():
    engagement, operator = make_chat()
    other = start_chat(queue=engagement.queue, visitor_name="Otto")
    post_message(engagement_id=engagement.pk, sender="visitor", body="one", client_id="same")
    post_message(engagement_id=other.pk, sender="visitor", body="two", client_id="same")
    assert stored(engagement) == [(1, "one", "same")] and stored(other) == [(1, "two", "same")]


def test_the_sync_path_stores_a_repeated_client_id_once_and_spends_no_seq():
    engagement, _ = make_chat()
    first = post_message(engagement_id=engagement.pk, sender="visitor", body="Hello?", client_id="v-9")
    again = post_message(engagement_id=engagement.pk, sender="visitor", body="Hello?", client_id="v-9")
    assert (first.seq, again.seq, again.pk) == (1, 1, first.pk)
    assert getattr(again, "duplicate", False) is True
    assert Engagement.objects.get(pk=engagement.pk).last_seq == 1


@pytest.mark.parametrize(
    "client_id", [5, "", "x" * 65, "has space", "<script>"], ids=["number", "empty", "long", "space", "markup"]
)
def test_a_malformed_client_id_is_refused_with_an_error_frame_and_nothing_is_stored(client_id):
    engagement, _ = make_chat()

    async def scenario():
        visitor = visitor_socket(engagement)
        await connect(visitor)
        await send(visitor, {"type": "message.send", "body": "Hi", "client_id": client_id, "ref": "r"})
        error = await receive_until(visitor, "error")
        await visitor.disconnect()
        return error

    error = run(scenario())
    assert (error["code"], error["ref"]) == ("bad_frame", "r") and "client_id" in error["message"]
    assert stored(engagement) == []


def test_a_refused_line_is_answered_with_an_error_naming_its_client_id():
    engagement, operator = make_chat()
    other_operator = OperatorFactory(site=engagement.site)

    async def scenario():
        console = await operator_socket(other_operator.user)
        await connect(console)
        await send(console, {"type": "message.send", "engagement_id": engagement.pk, "body": "Hi", "client_id": "o-7"})
        error = await receive_until(console, "error")
        await console.disconnect()
        return error

    error = run(scenario())
    assert (error["code"], error["client_id"], error["engagement_id"]) == ("not_owner", "o-7", engagement.pk)


def test_history_and_resume_carry_each_line_s_client_id_so_a_client_can_match_its_outbox():
    engagement, operator = make_chat()
    post_message(engagement_id=engagement.pk, sender="visitor", body="one", client_id="v-1")
    post_message(engagement_id=engagement.pk, sender="visitor", body="two")

    async def scenario():
        visitor = visitor_socket(engagement, query="last_seq=0")
        await connect(visitor)
        frames = [await receive_until(visitor, "message") for _ in range(2)]
        await visitor.disconnect()
        return frames

    frames = run(scenario())
    assert [(f["seq"], f["client_id"]) for f in frames] == [(1, "v-1"), (2, "")]


def test_a_resume_frame_after_a_resuming_connect_sends_no_message_twice():
    """Found by the outside probe: a console that reconnected with ?resume= and then sent `resume`
    got seq 7-12 twice. Each socket sends each message once, whatever the client asks again."""
    engagement, operator = make_chat()
    for i in range(12):
        post_message(engagement_id=engagement.pk, sender="visitor", body=f"line {i + 1}")

    async def scenario():
        console = await operator_socket(operator.user, query=f"resume={engagement.pk}:6")
        await connect(console)
        await send(console, {"type": "resume", "last_seq": {str(engagement.pk): 6}})
        operator_frames = await drain(console, quiet=0.6)
        await console.disconnect()

        visitor = visitor_socket(engagement, query="last_seq=6")
        await connect(visitor)
        await send(visitor, {"type": "resume", "last_seq": 6})
        visitor_frames = await drain(visitor, quiet=0.6)
        await visitor.disconnect()
        return operator_frames, visitor_frames

    operator_frames, visitor_frames = run(scenario())
    assert [f["seq"] for f in operator_frames if f["type"] == "message"] == [7, 8, 9, 10, 11, 12]
    assert [f["seq"] for f in visitor_frames if f["type"] == "message"] == [7, 8, 9, 10, 11, 12]


def test_a_resume_frame_still_fills_what_the_socket_never_sent():
    engagement, operator = make_chat()
    for i in range(4):
        post_message(engagement_id=engagement.pk, sender="visitor", body=f"line {i + 1}")

    async def scenario():
        visitor = visitor_socket(engagement)  # no last_seq: starts at the current end, sends no history
        await connect(visitor)
        await send(visitor, {"type": "resume", "last_seq": 2})
        frames = await drain(visitor, quiet=0.6)
        await visitor.disconnect()
        return frames

    frames = run(scenario())
    assert [f["seq"] for f in frames if f["type"] == "message"] == [3, 4]


@database_sync_to_async
def _count(engagement):
    return Message.objects.filter(engagement=engagement).count()
