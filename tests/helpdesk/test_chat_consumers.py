"""The chat sockets on the real ASGI app and the real Redis channel layer (transactional database)."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async

from helpdesk.models import Availability, Engagement, Message, Note
from helpdesk.services.engagements import start_chat
from tests.factories import OperatorFactory, QueueFactory, TeamFactory
from tests.helpdesk.chat_helpers import (
    connect,
    drain,
    operator_socket,
    receive_types,
    receive_until,
    send,
    visitor_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)


def make_chat_setup(capacity: int = 3):
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team], is_default=True)
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=capacity)
    return queue, operator


@database_sync_to_async
def routed_chat(queue, name="Vera Visitor") -> Engagement:
    engagement = start_chat(queue=queue, visitor_name=name)
    engagement.refresh_from_db()
    return engagement


def run(coroutine):
    return asyncio.run(coroutine)


def test_visitor_and_operator_exchange_messages_live():
    """A visitor's message reaches the owner's console and the owner's reply reaches the visitor."""
    queue, operator = make_chat_setup()

    async def scenario():
        console = await operator_socket(operator.user)
        hello = await connect(console)
        assert hello["operator"]["id"] == operator.pk
        engagement = await routed_chat(queue)
        assigned = await receive_until(console, "engagement.assigned")
        assert assigned["engagement"]["id"] == engagement.pk
        assert assigned["engagement"]["owner_id"] == operator.pk
        assert assigned["detail_follows"] is False  # a routed chat's console asks for it

        visitor = visitor_socket(engagement)
        visitor_hello = await connect(visitor)
        assert visitor_hello["state"] == "active" and visitor_hello["operator_name"] == operator.display_name

        await send(visitor, {"type": "message.send", "body": "Hello, my order is late"})
        message = await receive_until(console, "message")
        assert (message["seq"], message["sender"], message["body"]) == (1, "visitor", "Hello, my order is late")
        echo = await receive_until(visitor, "message")
        assert echo["seq"] == 1

        await send(console, {"type": "message.send", "engagement_id": engagement.pk, "body": "Let me check"})
        reply = await receive_until(visitor, "message")
        assert (reply["seq"], reply["sender"], reply["sender_name"]) == (2, "operator", operator.display_name)
        await console.disconnect()
        await visitor.disconnect()

    run(scenario())
    assert list(Message.objects.order_by("seq").values_list("seq", "sender")) == [(1, "visitor"), (2, "operator")]


def test_a_hand_over_pushes_the_whole_history_to_the_new_owner():
    """After a hand-over the new owner's console gets the history without asking for it."""
    from helpdesk.services.engagements import hand_over, post_message

    queue, first = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="Hana")
    engagement.refresh_from_db()
    assert engagement.owner_id == first.pk
    second = OperatorFactory(site=queue.site, teams=list(queue.teams.all()), available=["chat"], chat_capacity=3)
    for n in range(5):
        post_message(engagement_id=engagement.pk, sender="visitor", body=f"line {n}")

    async def scenario():
        console = await operator_socket(second.user)
        await connect(console)
        await database_sync_to_async(hand_over)(engagement_id=engagement.pk, to_operator_id=second.pk)
        assigned = await receive_until(console, "engagement.assigned")
        assert assigned["detail_follows"] is True
        detail = await receive_until(console, "engagement.detail")  # no engagement.open was sent
        await console.disconnect()
        return detail

    detail = run(scenario())
    assert detail["engagement"]["owner_id"] == second.pk
    assert [(m["seq"], m["body"]) for m in detail["messages"]] == [(n + 1, f"line {n}") for n in range(5)]
    assert [o["operator_id"] for o in detail["owners"]] == [first.pk, second.pk]


def test_operator_socket_refuses_anonymous_and_non_operators():
    from tests.factories import UserFactory

    async def scenario():
        anonymous = visitor_socket(token="x")  # wrong path kind, then the operator path without a session
        connected, _ = await anonymous.connect()
        assert not connected
        from channels.testing import WebsocketCommunicator

        from helpdesk.asgi import application

        bare = WebsocketCommunicator(application, "/ws/operator/", headers=[(b"origin", b"http://127.0.0.1")])
        connected, _ = await bare.connect()
        assert not connected
        manager = await database_sync_to_async(UserFactory)()
        not_operator = await operator_socket(manager)
        connected, _ = await not_operator.connect()
        assert not connected

    run(scenario())


def test_sockets_refuse_a_foreign_origin():
    queue, operator = make_chat_setup()

    async def scenario():
        console = await operator_socket(operator.user, origin=b"http://evil.example")
        connected, _ = await console.connect()
        assert not connected

    run(scenario())


def test_bad_frames_get_error_frames_and_store_nothing():
    """Bad JSON, unknown type, an oversized frame or body, or someone else's engagement: an error, nothing stored."""
    queue, operator = make_chat_setup()
    other = OperatorFactory(site=operator.site, teams=list(operator.teams.all()))
    engagement = start_chat(queue=queue, visitor_name="V")

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        intruder = await operator_socket(other.user)
        await connect(intruder)
        cases = [
            ("not json {", "bad_json"),
            ('["a list"]', "bad_frame"),
            ('{"no": "type"}', "bad_frame"),
            ('{"type": "launch.rockets"}', "unknown_type"),
            ('{"type": "message.send", "engagement_id": "1", "body": "x"}', "bad_frame"),
            (json.dumps({"type": "message.send", "engagement_id": engagement.pk, "body": "   "}), "empty"),
            (json.dumps({"type": "message.send", "engagement_id": engagement.pk, "body": "x" * 4001}), "too_long"),
            (json.dumps({"type": "message.send", "engagement_id": engagement.pk, "body": "x" * 40000}), "too_large"),
            ('{"type": "message.send", "engagement_id": 999999, "body": "hi"}', "not_found"),
            ('{"type": "availability.set", "media": "fax", "status": "available"}', "bad_frame"),
        ]
        for text, code in cases:
            await console.send_to(text_data=text)
            frame = await receive_until(console, "error")
            assert frame["code"] == code, (text[:60], frame)
        for frame in [
            {"type": "message.send", "engagement_id": engagement.pk, "body": "not mine", "ref": "r1"},
            {"type": "note.add", "engagement_id": engagement.pk, "body": "not mine"},
            {"type": "engagement.end", "engagement_id": engagement.pk},
            {"type": "engagement.open", "engagement_id": engagement.pk},
            {"type": "typing", "engagement_id": engagement.pk, "typing": True},
        ]:
            await send(intruder, frame)
            error = await receive_until(intruder, "error")
            assert error["code"] == "not_owner", (frame, error)
        assert error is not None
        await console.send_to(bytes_data=b"\x00\x01")
        assert (await receive_until(console, "error"))["code"] == "bad_frame"
        await console.disconnect()
        await intruder.disconnect()

    run(scenario())
    engagement.refresh_from_db()
    assert engagement.state == Engagement.State.ACTIVE and engagement.owner_id == operator.pk
    assert not Message.objects.exists() and not Note.objects.exists()


def test_error_frame_echoes_the_client_ref():
    queue, operator = make_chat_setup()

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        await send(console, {"type": "message.send", "engagement_id": 424242, "body": "x", "ref": "abc"})
        error = await receive_until(console, "error")
        assert error["ref"] == "abc"
        await console.disconnect()

    run(scenario())


def test_visitor_token_opens_only_its_engagement():
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")

    async def scenario():
        forged = visitor_socket(token=f"{engagement.pk}:forged")
        connected, _ = await forged.connect()
        assert not connected
        from helpdesk.visitor_tokens import make_visitor_token

        tampered = make_visitor_token(engagement_id=engagement.pk, visitor_id=engagement.visitor_id)
        tampered = tampered[:-2] + ("AA" if not tampered.endswith("AA") else "BB")
        connected, _ = await visitor_socket(token=tampered).connect()
        assert not connected
        visitor = visitor_socket(engagement)
        hello = await connect(visitor)
        assert hello["engagement_id"] == engagement.pk
        # A visitor frame cannot name another engagement: the token decides which one.
        await send(visitor, {"type": "message.send", "engagement_id": engagement.pk + 1, "body": "hi"})
        message = await receive_until(visitor, "message")
        assert message["engagement_id"] == engagement.pk
        await visitor.disconnect()

    run(scenario())


def test_visitor_is_rate_limited_with_an_error_frame(settings):
    settings.VISITOR_MESSAGES_PER_MINUTE = 5
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")

    async def scenario():
        visitor = visitor_socket(engagement)
        await connect(visitor)
        for i in range(7):
            await send(visitor, {"type": "message.send", "body": f"m{i}"})
        frames = await receive_types(visitor, {"message", "error"}, 7)
        assert [f.get("code") for f in frames if f["type"] == "error"] == ["rate_limited", "rate_limited"]
        assert await drain(visitor) == []
        await visitor.disconnect()

    run(scenario())
    assert Message.objects.filter(engagement=engagement).count() == 5


def test_reconnect_with_last_seq_gets_exactly_the_missed_messages_in_order():
    """Drop the visitor's socket, post messages meanwhile, reconnect with the last seq: all arrive once, in order."""
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        visitor = visitor_socket(engagement)
        await connect(visitor)
        for i in range(3):
            await send(visitor, {"type": "message.send", "body": f"before {i}"})
        seen = [(await receive_until(visitor, "message"))["seq"] for _ in range(3)]
        assert seen == [1, 2, 3]
        await visitor.disconnect()
        for i in range(5):
            await send(console, {"type": "message.send", "engagement_id": engagement.pk, "body": f"while away {i}"})
        await asyncio.sleep(0.3)
        back = visitor_socket(engagement, query=f"last_seq={seen[-1]}")
        await connect(back)
        await send(console, {"type": "message.send", "engagement_id": engagement.pk, "body": "after"})
        frames = await receive_types(back, {"message"}, 6)
        assert [f["seq"] for f in frames] == [4, 5, 6, 7, 8, 9]
        assert not [f for f in await drain(back) if f["type"] == "message"]
        assert frames[-1]["body"] == "after"
        await back.disconnect()

        # The operator socket resumes the same way, per engagement.
        await console.disconnect()
        await database_sync_to_async(post_visitor_message)(engagement, "while console away")
        console_back = await operator_socket(operator.user, query=f"resume={engagement.pk}:7")
        await connect(console_back)
        frames = await receive_types(console_back, {"message"}, 3)
        assert [f["seq"] for f in frames] == [8, 9, 10]
        assert not [f for f in await drain(console_back) if f["type"] == "message"]
        await console_back.disconnect()

    run(scenario())


def post_visitor_message(engagement, body):
    from helpdesk.services.engagements import post_message

    return post_message(engagement_id=engagement.pk, sender=Message.Sender.VISITOR, body=body)


def test_live_messages_during_catch_up_are_not_duplicated():
    """Messages committed while a socket catches up arrive once (read and live copies are merged)."""
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")
    for i in range(20):
        post_visitor_message(engagement, f"old {i}")

    async def scenario():
        async def writer():
            for i in range(20):
                await database_sync_to_async(post_visitor_message)(engagement, f"new {i}")

        visitor = visitor_socket(engagement, query="last_seq=0")
        task = asyncio.ensure_future(writer())
        await connect(visitor)
        await task
        frames = await receive_types(visitor, {"message"}, 40)
        frames += [f for f in await drain(visitor, quiet=0.5) if f["type"] == "message"]
        assert [f["seq"] for f in frames] == list(range(1, 41))
        await visitor.disconnect()

    run(scenario())


def test_console_features_over_the_socket():
    """Availability per media, notes (owner only), owner history, unread counts and ending."""
    queue, operator = make_chat_setup()

    async def scenario():
        console = await operator_socket(operator.user)
        hello = await connect(console)
        assert {a["media"]: a["status"] for a in hello["availability"]}["chat"] == "available"
        await send(console, {"type": "availability.set", "media": "video", "status": "away"})
        frame = await receive_until(console, "availability")
        assert (frame["media"], frame["status"]) == ("video", "away")

        engagement = await routed_chat(queue)
        await receive_until(console, "engagement.assigned")
        visitor = visitor_socket(engagement)
        await connect(visitor)
        await send(visitor, {"type": "message.send", "body": "one"})
        await send(visitor, {"type": "message.send", "body": "two"})
        await receive_until(console, "message")
        await receive_until(console, "message")
        await send(visitor, {"type": "typing", "typing": True})
        typing = await receive_until(console, "typing")
        assert typing == {"type": "typing", "engagement_id": engagement.pk, "who": "visitor", "typing": True}
        await send(console, {"type": "typing", "engagement_id": engagement.pk, "typing": True})
        assert (await receive_until(visitor, "typing"))["who"] == "operator"

        # Unread counts come with the hello of a new console.
        second = await operator_socket(operator.user)
        assert (await connect(second))["engagements"][0]["unread"] == 2
        await send(console, {"type": "read", "engagement_id": engagement.pk, "seq": 2})
        await asyncio.sleep(0.2)
        third = await operator_socket(operator.user)
        assert (await connect(third))["engagements"][0]["unread"] == 0

        await send(console, {"type": "note.add", "engagement_id": engagement.pk, "body": "VIP customer"})
        note = await receive_until(console, "note")
        assert note["body"] == "VIP customer"
        await send(console, {"type": "engagement.open", "engagement_id": engagement.pk})
        detail = await receive_until(console, "engagement.detail")
        assert [m["body"] for m in detail["messages"]] == ["one", "two"]
        assert [n["body"] for n in detail["notes"]] == ["VIP customer"]
        assert [(o["operator_name"], o["started_because"]) for o in detail["owners"]] == [
            (operator.display_name, "routed")
        ]
        # A console holding the lines up to a seq asks for the rest only; a bad seq is refused.
        await send(console, {"type": "engagement.open", "engagement_id": engagement.pk, "after_seq": 1, "ref": "r1"})
        since = await receive_until(console, "engagement.detail")
        assert since["ref"] == "r1" and [m["body"] for m in since["messages"]] == ["two"]
        assert [n["body"] for n in since["notes"]] == ["VIP customer"]
        await send(console, {"type": "engagement.open", "engagement_id": engagement.pk, "after_seq": 2})
        assert (await receive_until(console, "engagement.detail"))["messages"] == []
        for bad in (-1, "1", None, True):
            await send(console, {"type": "engagement.open", "engagement_id": engagement.pk, "after_seq": bad})
            error = await receive_until(console, "error")
            assert error["code"] == "bad_frame" and "after_seq" in error["message"]

        await send(console, {"type": "engagement.end", "engagement_id": engagement.pk})
        ended = await receive_until(console, "engagement.ended")
        assert ended["reason"] == "operator_ended"
        visitor_frames = await drain(visitor, quiet=0.5)
        assert not any(f["type"] == "note" for f in visitor_frames), "notes never reach the visitor"
        assert any(f["type"] == "engagement.state" and f["state"] == "ended" for f in visitor_frames)
        for socket in (console, second, third, visitor):
            await socket.disconnect()

    run(scenario())
    assert Availability.objects.get(operator=operator, media="video").status == "away"
    assert Availability.objects.get(operator=operator, media="chat").load == 0


def test_waiting_visitor_sees_position_and_queue_overview_updates():
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team])
    operator = OperatorFactory(site=team.site, teams=[team])  # offline: nobody takes the chats

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        first = await routed_chat(queue, "First")
        overview = await receive_until(console, "queues.changed")
        assert {q["id"]: q["waiting"] for q in overview["queues"]}[queue.pk] == 1
        second = await routed_chat(queue, "Second")
        visitor = visitor_socket(second)
        hello = await connect(visitor)
        assert (hello["state"], hello["position"]) == ("queued", 2)
        await database_sync_to_async(end_first)(first)
        position = await receive_until(visitor, "queue.position")
        assert position["position"] == 1
        await send(console, {"type": "availability.set", "media": "chat", "status": "available"})
        state = await receive_until(visitor, "engagement.state")
        assert (state["state"], state["operator_name"]) == ("active", operator.display_name)
        await visitor.disconnect()
        await console.disconnect()

    run(scenario())


def end_first(engagement):
    from helpdesk.services.engagements import end_engagement

    end_engagement(engagement_id=engagement.pk, reason=Engagement.EndReason.VISITOR_LEFT)


def test_visitor_can_end_the_chat_and_cannot_write_after():
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")

    async def scenario():
        visitor = visitor_socket(engagement)
        await connect(visitor)
        await send(visitor, {"type": "engagement.end"})
        state = await receive_until(visitor, "engagement.state")
        assert (state["state"], state["reason"]) == ("ended", "visitor_left")
        await send(visitor, {"type": "message.send", "body": "hello?"})
        assert (await receive_until(visitor, "error"))["code"] == "ended"
        await visitor.disconnect()

    run(scenario())
    assert not Message.objects.exists()


def test_ping_gets_pong():
    queue, operator = make_chat_setup()

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        await send(console, {"type": "ping", "ref": 7})
        assert await receive_until(console, "pong") == {"type": "pong", "ref": 7}
        await console.disconnect()

    run(scenario())


def test_messages_published_out_of_order_reach_the_client_in_order_and_once():
    """Two processes may publish seq 3 before seq 2: the consumer fills the gap from the database."""
    from channels.layers import get_channel_layer

    from helpdesk.frames import message_frame
    from helpdesk.realtime import engagement_group

    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")
    first = post_visitor_message(engagement, "one")

    async def scenario():
        visitor = visitor_socket(engagement, query="last_seq=1")
        await connect(visitor)
        second, third = await database_sync_to_async(
            lambda: [post_visitor_message_quietly(engagement, b) for b in ("two", "three")]
        )()
        layer = get_channel_layer()
        for message in (third, second, third):
            frame = await database_sync_to_async(message_frame)(message)
            await layer.group_send(engagement_group(engagement.pk), {"type": "frame.send", "frame": frame})
        frames = await receive_types(visitor, {"message"}, 2)
        assert [(f["seq"], f["body"]) for f in frames] == [(2, "two"), (3, "three")]
        assert not [f for f in await drain(visitor) if f["type"] == "message"]
        await visitor.disconnect()

    assert first.seq == 1
    run(scenario())


def post_visitor_message_quietly(engagement, body):
    """Store a message without publishing it (the test publishes by hand, out of order)."""
    from unittest import mock

    with mock.patch("helpdesk.events.message_created"):
        return post_visitor_message(engagement, body)


def test_a_stored_message_whose_publish_was_lost_arrives_with_the_next_heartbeat():
    """Redis down at publish time: the line is stored; the next ping delivers it before the pong."""
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")

    async def scenario():
        visitor = visitor_socket(engagement, query="last_seq=0")
        await connect(visitor)
        await database_sync_to_async(post_visitor_message_quietly)(engagement, "published nowhere")
        await send(visitor, {"type": "ping", "ref": 1})
        frames = await receive_types(visitor, {"message", "pong"}, 2)
        assert [(f["type"], f.get("seq")) for f in frames] == [("message", 1), ("pong", None)]
        await visitor.disconnect()

    run(scenario())


def test_sender_gets_their_own_line_even_if_its_publish_is_lost():
    from unittest import mock

    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        with mock.patch("helpdesk.events.message_created_soon"):
            await send(console, {"type": "message.send", "engagement_id": engagement.pk, "body": "hello"})
            own = await receive_until(console, "message")
        assert (own["seq"], own["body"]) == (1, "hello")
        await console.disconnect()

    run(scenario())


def test_logging_out_closes_the_operators_open_sockets(client):
    queue, operator = make_chat_setup()
    client.force_login(operator.user)

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        await database_sync_to_async(client.post)("/accounts/logout/")
        assert (await receive_until(console, "session.ended")) == {"type": "session.ended"}
        closed = await console.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}

    run(scenario())


# --- Visitor typing and resume limits ----------------------------------------------------------------


def test_visitor_typing_and_resume_past_their_limit_get_rate_limited(settings):
    settings.VISITOR_FRAME_LIMITS = {"typing": 3, "resume": 2}
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")
    other = start_chat(queue=queue, visitor_name="W")

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        await drain(console)
        visitor = visitor_socket(engagement)
        await connect(visitor)
        for i in range(5):
            await send(visitor, {"type": "typing", "typing": i % 2 == 0, "ref": f"t{i}"})
        errors = [f for f in await drain(visitor, quiet=0.5) if f["type"] == "error"]
        assert [(f["code"], f["ref"]) for f in errors] == [("rate_limited", "t3"), ("rate_limited", "t4")]
        assert "'typing' frames too fast" in errors[0]["message"]
        typing = [f for f in await drain(console) if f["type"] == "typing" and f["engagement_id"] == engagement.pk]
        assert [f["typing"] for f in typing] == [True, False, True]  # the refused ones were not passed on

        for i in range(3):
            await send(visitor, {"type": "resume", "last_seq": 0, "ref": f"r{i}"})
        errors = [f for f in await drain(visitor, quiet=0.5) if f["type"] == "error"]
        assert [(f["code"], f["ref"]) for f in errors] == [("rate_limited", "r2")]

        # Messages keep their own limit; another engagement's visitor has their own budget.
        await send(visitor, {"type": "message.send", "body": "still here"})
        assert (await receive_until(visitor, "message"))["body"] == "still here"
        neighbour = visitor_socket(other)
        await connect(neighbour)
        await send(neighbour, {"type": "typing", "typing": True, "ref": "mine"})
        assert [f for f in await drain(neighbour) if f["type"] == "error"] == []
        for socket in (visitor, neighbour, console):
            await socket.disconnect()

    run(scenario())


def test_default_visitor_limits_let_a_fast_typist_through():
    """A minute of a fast typist: a typing start every 3 s and a stop after each of 20 sends."""
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")

    async def scenario():
        visitor = visitor_socket(engagement)
        await connect(visitor)
        for i in range(40):
            await send(visitor, {"type": "typing", "typing": i % 2 == 0})
        await send(visitor, {"type": "resume", "last_seq": 0})
        assert [f for f in await drain(visitor, quiet=0.5) if f["type"] == "error"] == []
        await visitor.disconnect()

    run(scenario())


# --- Operator rate limits (finding R5) ---------------------------------------------------------------


def test_operator_frames_past_their_limit_get_rate_limited_and_store_nothing(settings):
    settings.OPERATOR_FRAME_LIMITS = {"message.send": 3, "note.add": 2}
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="V")

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        for i in range(5):
            await send(console, {"type": "message.send", "engagement_id": engagement.pk, "body": f"m{i}", "ref": i})
        frames = await receive_types(console, {"message", "error"}, 5)
        assert [f["type"] for f in frames] == ["message"] * 3 + ["error"] * 2
        assert [(f["code"], f["ref"]) for f in frames[3:]] == [("rate_limited", 3), ("rate_limited", 4)]
        assert "too fast" in frames[3]["message"]
        for i in range(4):
            await send(console, {"type": "note.add", "engagement_id": engagement.pk, "body": f"n{i}", "ref": f"n{i}"})
        await send(console, {"type": "ping", "ref": "p"})  # other frames still go through
        frames = [f for f in await drain(console, quiet=0.5) if f["type"] in {"error", "pong"}]
        assert [(f["type"], f.get("code"), f["ref"]) for f in frames] == [
            ("error", "rate_limited", "n2"),
            ("error", "rate_limited", "n3"),
            ("pong", None, "p"),
        ]
        await console.disconnect()

    run(scenario())
    assert list(Message.objects.order_by("seq").values_list("body", flat=True)) == ["m0", "m1", "m2"]
    assert sorted(Note.objects.filter(engagement=engagement).values_list("body", flat=True)) == ["n0", "n1"]


def test_operator_limits_count_all_their_sockets_together_and_every_frame_under_star(settings):
    settings.OPERATOR_FRAME_LIMITS = {"*": 6}
    queue, operator = make_chat_setup()
    other = OperatorFactory(site=operator.site, teams=list(operator.teams.all()))

    async def scenario():
        first, second = await operator_socket(operator.user), await operator_socket(operator.user)
        await connect(first)
        await connect(second)
        bystander = await operator_socket(other.user)
        await connect(bystander)
        for i in range(4):
            await send(first, {"type": "ping", "ref": f"a{i}"})
            await send(second, {"type": "ping", "ref": f"b{i}"})
        replies = await drain(first, quiet=0.5) + await drain(second, quiet=0.3)
        kinds = sorted(f.get("code") or f["type"] for f in replies if f["type"] in {"pong", "error"})
        assert kinds == ["pong"] * 6 + ["rate_limited"] * 2
        await send(bystander, {"type": "ping", "ref": "mine"})  # another operator has their own budget
        assert (await receive_until(bystander, "pong"))["ref"] == "mine"
        for socket in (first, second, bystander):
            await socket.disconnect()

    run(scenario())


def test_default_operator_limits_let_a_busy_console_and_its_reconnect_flush_through():
    """A reconnect flushes up to 100 queued frames at once: with the default limits none is refused."""
    queue, operator = make_chat_setup(capacity=5)
    engagements = [start_chat(queue=queue, visitor_name=f"V{i}") for i in range(5)]
    assert all(e.owner_id == operator.pk for e in Engagement.objects.all())

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        burst = []
        for round_ in range(10):
            for engagement in engagements[:2]:
                burst += [
                    {"type": "typing", "engagement_id": engagement.pk, "typing": True},
                    {"type": "message.send", "engagement_id": engagement.pk, "body": f"r{round_}"},
                    {"type": "typing", "engagement_id": engagement.pk, "typing": False},
                    {"type": "read", "engagement_id": engagement.pk, "seq": round_},
                ]
            burst += [{"type": "engagement.open", "engagement_id": engagements[round_ % 5].pk}, {"type": "ping"}]
        burst += [{"type": "note.add", "engagement_id": engagements[0].pk, "body": "n"}] * 10
        burst += [{"type": "availability.set", "media": "voice", "status": s} for s in ("away", "offline")] * 5
        assert len(burst) >= 100
        for frame in burst:
            await send(console, frame)
        frames = await drain(console, quiet=1.0)
        await console.disconnect()
        return frames

    frames = run(scenario())
    assert [f for f in frames if f["type"] == "error"] == []
    assert Message.objects.count() == 20 and Note.objects.filter(body="n").count() == 10


# --- A deactivated or deleted operator loses their sockets -----------------------------------------


def test_deactivating_the_user_closes_the_operators_open_sockets_and_takes_them_offline():
    queue, operator = make_chat_setup()

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)

        def deactivate():  # as the admin's change form does: a full save of the user
            user = type(operator.user).objects.get(pk=operator.user_id)
            user.is_active = False
            user.save()

        await database_sync_to_async(deactivate)()
        assert (await receive_until(console, "session.ended")) == {"type": "session.ended"}
        closed = await console.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}
        again = await operator_socket(operator.user)
        connected, code = await again.connect(timeout=5)
        assert (connected, code) == (False, 4401)

    run(scenario())
    assert set(Availability.objects.filter(operator=operator).values_list("status", flat=True)) == {"offline"}


def test_saving_an_active_user_or_an_already_inactive_one_leaves_sockets_alone():
    queue, operator = make_chat_setup()

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)

        def touch():
            user = type(operator.user).objects.get(pk=operator.user_id)
            user.first_name = "Renamed"
            user.save()

        await database_sync_to_async(touch)()
        await send(console, {"type": "ping", "ref": "alive"})
        assert (await receive_until(console, "pong"))["ref"] == "alive"
        assert not [f for f in await drain(console) if f["type"] == "session.ended"]
        await console.disconnect()

    run(scenario())
    assert Availability.objects.get(operator=operator, media="chat").status == "available"


@pytest.mark.parametrize("what", ["operator", "user"])
def test_deleting_the_operator_or_their_user_closes_their_open_sockets(what):
    team = TeamFactory()
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"])

    async def scenario():
        console = await operator_socket(operator.user)
        await connect(console)
        target = operator if what == "operator" else operator.user
        await database_sync_to_async(target.delete)()
        assert (await receive_until(console, "session.ended")) == {"type": "session.ended"}
        closed = await console.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}

    run(scenario())


# --- Visitor tokens expire a while after the engagement ended ----------------------------------------


def ended_chat(queue, *, hours_ago: float) -> Engagement:
    from datetime import timedelta

    from django.utils import timezone

    from helpdesk.services.engagements import end_engagement

    engagement = start_chat(queue=queue, visitor_name="Vera")
    post_visitor_message(engagement, "my card number ends 4242")
    end_engagement(engagement_id=engagement.pk, reason=Engagement.EndReason.VISITOR_LEFT)
    Engagement.objects.filter(pk=engagement.pk).update(ended_at=timezone.now() - timedelta(hours=hours_ago))
    engagement.refresh_from_db()
    return engagement


@database_sync_to_async
def close_sync_thread_connection():
    """A handshake refused after a database read leaves the sync thread's (reusable) connection open;
    close it so the test database can be dropped at the end of the run."""
    from django.db import connection

    connection.close()


def test_a_visitor_token_stops_opening_the_socket_a_day_after_the_engagement_ended(client):
    from tests.helpdesk.chat_helpers import visitor_token

    queue, operator = make_chat_setup()
    recent, old = ended_chat(queue, hours_ago=23), ended_chat(queue, hours_ago=25)

    async def scenario():
        socket = visitor_socket(recent)
        hello = await connect(socket)  # within the day: the visitor may still look back
        assert (hello["state"], hello["last_seq"]) == ("ended", 1)
        await socket.disconnect()
        refused = visitor_socket(old, query="last_seq=0")
        connected, code = await refused.connect(timeout=5)
        await close_sync_thread_connection()
        assert (connected, code) == (False, 4403)

    run(scenario())
    page = client.get(f"/chat/{visitor_token(recent)}/")
    assert page.status_code == 200 and "my card number" in page.content.decode()
    page = client.get(f"/chat/{visitor_token(old)}/")
    html = page.content.decode()
    assert page.status_code == 200 and "This chat has ended" in html
    assert "my card number" not in html and "visitor.js" not in html  # no transcript, no socket
    assert f"/chat/?site={old.site_id}" in html


def test_a_live_engagements_token_keeps_working_however_long_the_chat_lasts(settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.VISITOR_TOKEN_HOURS_AFTER_END = 1
    queue, operator = make_chat_setup()
    engagement = start_chat(queue=queue, visitor_name="Long talker")
    long_ago = timezone.now() - timedelta(days=3)
    Engagement.objects.filter(pk=engagement.pk).update(created_at=long_ago, queued_at=long_ago, answered_at=long_ago)
    short = ended_chat(queue, hours_ago=2)  # past the 1 h setting

    async def scenario():
        socket = visitor_socket(engagement)
        hello = await connect(socket)
        assert hello["state"] == "active"
        await send(socket, {"type": "message.send", "body": "still here"})
        assert (await receive_until(socket, "message"))["body"] == "still here"
        await socket.disconnect()
        connected, _ = await visitor_socket(short).connect(timeout=5)
        await close_sync_thread_connection()
        assert not connected

    run(scenario())
