"""Chat across processes and through faults: a second web process, Redis and Daphne restarts, logout.

Everything runs for real: two Daphne processes and two Celery workers on the test database
and a private redis-server (the shared one is never touched); the clients are real
WebSocket clients that reconnect and resume by seq like static/js/core/socket.js.
"""

import asyncio
from types import SimpleNamespace

import pytest

from helpdesk.models import Message
from tests.reliability.clients import operator_socket, signed_in_session, start_visitor_chat, visitor_socket


async def open_chat(desk, *, visitor_url: str, operator_url: str):
    """The operator's console socket on one process, a new visitor on another; routed to the operator."""
    session = await asyncio.to_thread(signed_in_session, operator_url, desk.operator.user.username)
    operator = await operator_socket(operator_url, session).start()
    token = await asyncio.to_thread(start_visitor_chat, visitor_url, queue_id=desk.queue.pk)
    visitor = await visitor_socket(visitor_url, token).start()
    assigned = await operator.wait_for(lambda f: f["type"] == "engagement.assigned", what="assignment")
    return SimpleNamespace(
        operator=operator, visitor=visitor, engagement_id=assigned["engagement"]["id"], session=session, token=token
    )


def body_is(body):
    return lambda frame: frame.get("type") == "message" and frame.get("body") == body


async def say(chat, side: str, body: str) -> None:
    """One side sends; both sides see it."""
    if side == "visitor":
        await chat.visitor.send({"type": "message.send", "body": body})
    else:
        await chat.operator.send({"type": "message.send", "engagement_id": chat.engagement_id, "body": body})
    await chat.operator.wait_for(body_is(body), what=f"operator sees {body!r}")
    await chat.visitor.wait_for(body_is(body), what=f"visitor sees {body!r}")


async def say_until_accepted(chat, side: str, body: str, attempts: int = 5) -> int:
    """Like a person would: send, and send again while the server refuses it with an error frame.

    Returns how many refusals came first. Never silent: each try is either refused visibly
    (error frame with its ref) or stored and shown on both sides.
    """
    socket = chat.visitor if side == "visitor" else chat.operator
    for attempt in range(attempts):
        ref = f"{body}#{attempt}"
        frame = {"type": "message.send", "body": body, "ref": ref}
        if side == "operator":
            frame["engagement_id"] = chat.engagement_id
        await socket.send(frame)
        outcome = await socket.wait_for(
            lambda f, ref=ref: body_is(body)(f) or (f["type"] == "error" and f.get("ref") == ref),
            what=f"{body!r} shown or refused",
        )
        if outcome["type"] == "message":
            await chat.operator.wait_for(body_is(body), what=f"operator sees {body!r}")
            await chat.visitor.wait_for(body_is(body), what=f"visitor sees {body!r}")
            return attempt
        await asyncio.sleep(0.5)
    raise AssertionError(f"{body!r} refused {attempts} times")


def stored_bodies(engagement_id: int) -> list[str]:
    return list(Message.objects.filter(engagement_id=engagement_id).order_by("seq").values_list("body", flat=True))


def assert_each_once_in_order(chat, expected: list[str]) -> None:
    for side in (chat.operator, chat.visitor):
        seqs = [f["seq"] for f in side.messages(chat.engagement_id)]
        assert seqs == sorted(set(seqs)), f"{side.kind} got duplicates or disorder: {seqs}"
        assert side.bodies(chat.engagement_id) == expected, side.kind
    assert stored_bodies(chat.engagement_id) == expected


def run(scenario):
    return asyncio.run(scenario())


def test_visitor_on_one_web_process_and_operator_on_the_other_chat_normally(web_pair, desk):
    web_a, web_b = web_pair.daphnes

    async def scenario():
        chat = await open_chat(desk, visitor_url=web_a.url, operator_url=web_b.url)
        try:
            for i in range(5):
                await say(chat, "visitor", f"visitor {i}")
                await say(chat, "operator", f"operator {i}")
        finally:
            await chat.operator.close()
            await chat.visitor.close()
        return chat

    chat = run(scenario)
    assert_each_once_in_order(chat, [f"{who} {i}" for i in range(5) for who in ("visitor", "operator")])


def test_redis_down_mid_chat_a_visitor_message_is_stored_and_acked_all_the_same(web_pair, desk):
    """While Redis is down a visitor's message is stored and acked: its rate limit is checked in the
    database, in the INSERT itself (it used to be a Redis round trip, and the line was refused)."""
    web_a, web_b = web_pair.daphnes

    async def scenario():
        chat = await open_chat(desk, visitor_url=web_a.url, operator_url=web_b.url)
        try:
            await say(chat, "visitor", "before")
            web_pair.redis.kill()
            frame = {"type": "message.send", "body": "during", "client_id": "v-during"}
            return chat, await answer_to(chat.visitor, frame, within=8)
        finally:
            await chat.operator.close()
            await chat.visitor.close()

    chat, answer = run(scenario)
    assert answer["type"] == "message.ack"
    assert stored_bodies(chat.engagement_id) == ["before", "during"]


async def answer_to(socket, frame: dict, *, within: float) -> dict:
    """Send a line and return the ack or the error naming its client id (fail if neither comes in time)."""
    await socket.send(frame)
    return await socket.wait_for(
        lambda f: f["type"] in ("message.ack", "error") and f.get("client_id") == frame["client_id"],
        timeout=within,
        what=f"an ack or an error for {frame['client_id']}",
    )


@pytest.mark.parametrize("outage", ["killed", "hung"])
def test_while_redis_is_down_every_line_sent_is_answered_with_an_ack_or_an_error(web_pair, desk, outage):
    """Found by the outside probe: with Redis down `message.send` got no answer at all. Killed (connections
    refused) or hung (SIGSTOP: nothing answers, nothing refuses), each side hears back about each line
    within a few seconds; what was acked is stored, and reaches the other side once Redis is back."""
    web_a, web_b = web_pair.daphnes

    async def scenario():
        chat = await open_chat(desk, visitor_url=web_a.url, operator_url=web_b.url)
        try:
            await say(chat, "visitor", "before")
            web_pair.redis.kill() if outage == "killed" else web_pair.redis.pause()
            answers = []
            for i in range(3):
                line = {"type": "message.send", "engagement_id": chat.engagement_id, "body": f"during {i}"}
                answers.append(await answer_to(chat.operator, {**line, "client_id": f"o-{i}"}, within=8))
            answers.append(
                await answer_to(chat.visitor, {"type": "message.send", "body": "v", "client_id": "v-1"}, within=8)
            )
            web_pair.redis.start() if outage == "killed" else web_pair.redis.resume()
            acked = [a["client_id"] for a in answers if a["type"] == "message.ack"]
            for answer in answers:
                if answer["type"] == "message.ack":
                    body = "v" if answer["client_id"] == "v-1" else f"during {answer['client_id'][2:]}"
                    other = chat.visitor if answer["client_id"].startswith("o-") else chat.operator
                    await other.wait_for(body_is(body), timeout=40, what=f"{body!r} on the other side")
            return answers, acked
        finally:
            await chat.operator.close()
            await chat.visitor.close()

    answers, acked = run(scenario)
    assert all(a["type"] == "message.ack" for a in answers[:3]), answers  # operators' lines are stored
    stored = Message.objects.filter(engagement__in=desk.queue.engagements.all()).exclude(client_id="")
    assert sorted(stored.values_list("client_id", flat=True)) == sorted(acked)


def test_redis_restarted_mid_chat_sockets_stay_up_or_come_back(web_pair, desk):
    web_a, web_b = web_pair.daphnes

    async def scenario():
        chat = await open_chat(desk, visitor_url=web_a.url, operator_url=web_b.url)
        try:
            await say(chat, "visitor", "before")
            web_pair.redis.restart(down_for=2)
            await asyncio.sleep(1.5)  # the layer's receiver retries every second
            await chat.visitor.wait_open()
            await chat.operator.wait_open()
            await chat.visitor.send({"type": "ping", "ref": "v"})
            await chat.operator.send({"type": "ping", "ref": "o"})
            await chat.visitor.wait_for(lambda f: f["type"] == "pong" and f["ref"] == "v")
            await chat.operator.wait_for(lambda f: f["type"] == "pong" and f["ref"] == "o")
        finally:
            await chat.operator.close()
            await chat.visitor.close()

    run(scenario)


def test_redis_restarted_mid_chat_every_stored_message_reaches_both_sides(web_pair, desk):
    """Right after Redis returns a message is either refused visibly or stored and shown, once."""
    web_a, web_b = web_pair.daphnes

    async def scenario():
        chat = await open_chat(desk, visitor_url=web_a.url, operator_url=web_b.url)
        try:
            await say(chat, "visitor", "before")
            web_pair.redis.restart(down_for=2)
            await asyncio.sleep(1.5)
            await say_until_accepted(chat, "visitor", "after, from the visitor")
            await say_until_accepted(chat, "operator", "after, from the operator")
        finally:
            await chat.operator.close()
            await chat.visitor.close()
        return chat

    chat = run(scenario)
    assert stored_bodies(chat.engagement_id) == ["before", "after, from the visitor", "after, from the operator"]
    assert_each_once_in_order(chat, stored_bodies(chat.engagement_id))


def test_operator_message_sent_while_redis_is_down_is_delivered_once_redis_is_back(web_pair, desk):
    web_a, web_b = web_pair.daphnes

    async def scenario():
        chat = await open_chat(desk, visitor_url=web_a.url, operator_url=web_b.url)
        try:
            await say(chat, "visitor", "before")
            web_pair.redis.kill()
            await chat.operator.send({"type": "message.send", "engagement_id": chat.engagement_id, "body": "during"})
            await asyncio.sleep(1)
            web_pair.redis.start()
            await asyncio.sleep(1.5)
            await say(chat, "operator", "after")
            # Stored, so it must reach both screens (or have been refused with an error: it was not).
            await chat.visitor.wait_for(body_is("during"), timeout=30, what="the message sent during the outage")
            await chat.operator.wait_for(body_is("during"), timeout=5, what="the operator's own message")
        finally:
            await chat.operator.close()
            await chat.visitor.close()

    run(scenario)


def test_daphne_restarted_both_sides_reconnect_and_resume_by_seq(web_pair, desk):
    """Each side's web process restarts in turn; what the other side wrote meanwhile arrives once."""
    web_a, web_b = web_pair.daphnes

    async def scenario():
        chat = await open_chat(desk, visitor_url=web_a.url, operator_url=web_b.url)
        try:
            await say(chat, "visitor", "hello")
            web_a.stop()  # the visitor's process
            await chat.operator.send(
                {"type": "message.send", "engagement_id": chat.engagement_id, "body": "while visitor is away"}
            )
            await chat.operator.wait_for(body_is("while visitor is away"))
            await asyncio.to_thread(web_a.start)
            await chat.visitor.wait_for(body_is("while visitor is away"), timeout=30, what="resumed message")
            await say(chat, "visitor", "back")

            web_b.stop()  # the operator's process
            await chat.visitor.send({"type": "message.send", "body": "while operator is away"})
            await chat.visitor.wait_for(body_is("while operator is away"))
            await asyncio.to_thread(web_b.start)
            await chat.operator.wait_for(body_is("while operator is away"), timeout=30, what="resumed message")
            await say(chat, "operator", "back too")
        finally:
            await chat.operator.close()
            await chat.visitor.close()
        return chat

    chat = run(scenario)
    assert chat.visitor.connects >= 2 and chat.operator.connects >= 2
    assert_each_once_in_order(chat, ["hello", "while visitor is away", "back", "while operator is away", "back too"])


def test_logged_out_operator_cannot_open_a_socket(web_pair, desk):
    web_a, _ = web_pair.daphnes

    async def scenario():
        session = await asyncio.to_thread(signed_in_session, web_a.url, desk.operator.user.username)
        csrf = session.cookies["csrftoken"]
        cookies = session.cookies.get_dict()
        response = await asyncio.to_thread(
            session.post, f"{web_a.url}/accounts/logout/", headers={"X-CSRFToken": csrf}, allow_redirects=False
        )
        assert response.status_code == 302
        stale = operator_socket(web_a.url, session)
        stale.cookies = cookies  # the old session cookie, as a stolen or stale tab would still send
        with pytest.raises(TimeoutError):
            await stale.start(timeout=3)
        await stale.close()
        return stale

    stale = run(scenario)
    assert stale.connects == 0
    assert 4401 in stale.closes or None in stale.closes


def test_operator_logged_out_elsewhere_loses_their_socket(web_pair, desk):
    web_a, web_b = web_pair.daphnes

    async def scenario():
        chat = await open_chat(desk, visitor_url=web_a.url, operator_url=web_b.url)
        try:
            other_tab = chat.session
            response = await asyncio.to_thread(
                other_tab.post,
                f"{web_a.url}/accounts/logout/",
                headers={"X-CSRFToken": other_tab.cookies["csrftoken"]},
                allow_redirects=False,
            )
            assert response.status_code == 302
            await chat.visitor.send({"type": "message.send", "body": "private details"})
            await chat.visitor.wait_for(body_is("private details"))
            await asyncio.sleep(1)
            assert not chat.operator.is_open, "the signed-out console still has a live socket"
            assert "private details" not in chat.operator.bodies()
        finally:
            await chat.operator.close()
            await chat.visitor.close()

    run(scenario)
