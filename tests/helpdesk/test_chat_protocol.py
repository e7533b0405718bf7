"""The chat protocol's promises under real concurrency and failure, on PostgreSQL and the real Redis layer.

- Several writers at once on one chat get seqs 1..N, gap-free and unique, whichever path posts:
  the ORM's `post_message` (sync code: pages, services, system lines) and the sockets'
  `apost_message` (one autocommit statement on the event loop, PostgreSQL only), or both mixed.
- Persist, then publish: a line whose transaction rolls back reaches no socket.
- The `queues.changed` frame carries each queue's oldest waiting time, which the console's
  "Longest" column counts from.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from helpdesk import async_db, selectors
from helpdesk.models import Engagement, Message
from helpdesk.services.engagements import end_engagement, post_message, start_chat
from helpdesk.services.messages_async import apost_message
from helpdesk.services.routing import route_engagement
from tests.factories import EngagementFactory, OperatorFactory, QueueFactory, TeamFactory
from tests.helpdesk.chat_helpers import connect, drain, operator_socket, receive_until, visitor_socket
from tests.helpdesk.test_routing_concurrency import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat():
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team])
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=3)
    engagement = start_chat(queue=queue, visitor_name="Vera")
    engagement.refresh_from_db()
    assert engagement.owner_id == operator.pk
    return engagement, operator


def orm_writer(engagement_id: int, label: str, count: int, sender: str = Message.Sender.VISITOR):
    """A thread posting `count` lines one after the other through the ORM (its own connection)."""

    def write():
        for number in range(count):
            post_message(engagement_id=engagement_id, sender=sender, body=f"{label}-{number}")

    return write


def async_writer(engagement_id: int, label: str, count: int):
    """A thread with its own event loop posting `count` lines at once through its async connection pool."""

    async def lines():
        try:
            await asyncio.gather(
                *(
                    apost_message(engagement_id=engagement_id, sender=Message.Sender.VISITOR, body=f"{label}-{n}")
                    for n in range(count)
                )
            )
        finally:
            async_db.pool().close()

    return lambda: asyncio.run(lines())


def assert_gap_free(engagement: Engagement, expected_bodies: set[str]) -> list[tuple[int, str]]:
    lines = list(Message.objects.filter(engagement=engagement).order_by("seq").values_list("seq", "body"))
    assert [seq for seq, _ in lines] == list(range(1, len(expected_bodies) + 1))
    assert {body for _, body in lines} == expected_bodies  # none lost, none twice
    engagement.refresh_from_db()
    assert engagement.last_seq == len(expected_bodies)
    return lines


def assert_each_writer_in_order(lines: list[tuple[int, str]], labels: list[str]) -> None:
    """A writer that posts one line after another sees its lines in that order."""
    for label in labels:
        numbers = [int(body.rsplit("-", 1)[1]) for _, body in lines if body.startswith(f"{label}-")]
        assert numbers == sorted(numbers), label


def test_threads_posting_at_once_through_the_orm_get_seqs_one_to_n(chat):
    engagement, operator = chat
    labels = [f"orm{n}" for n in range(8)]
    writers = [orm_writer(engagement.pk, label, 6) for label in labels]
    writers.append(orm_writer(engagement.pk, "system", 6, sender=Message.Sender.SYSTEM))
    errors = run_in_threads(writers)
    assert not errors, errors
    lines = assert_gap_free(engagement, {f"{label}-{n}" for label in [*labels, "system"] for n in range(6)})
    assert_each_writer_in_order(lines, [*labels, "system"])


def test_sockets_posting_at_once_through_the_async_path_get_seqs_one_to_n(chat):
    assert async_db.available()
    engagement, operator = chat
    labels = [f"loop{n}" for n in range(4)]
    errors = run_in_threads([async_writer(engagement.pk, label, 10) for label in labels])
    assert not errors, errors
    assert_gap_free(engagement, {f"{label}-{n}" for label in labels for n in range(10)})


def test_orm_and_async_writers_mixed_on_one_chat_get_seqs_one_to_n(chat):
    """System lines (ORM) and chat lines (sockets' async path) interleave on the same engagement row."""
    engagement, operator = chat
    orm_labels, async_labels = ["orm0", "orm1", "orm2"], ["loop0", "loop1", "loop2"]
    writers = [orm_writer(engagement.pk, label, 8) for label in orm_labels]
    writers += [async_writer(engagement.pk, label, 8) for label in async_labels]
    errors = run_in_threads(writers)
    assert not errors, errors
    lines = assert_gap_free(engagement, {f"{label}-{n}" for label in orm_labels + async_labels for n in range(8)})
    assert_each_writer_in_order(lines, orm_labels)


# --- persist, then publish ---------------------------------------------------------------------------


class Abandoned(Exception):
    pass


@database_sync_to_async
def post_then_roll_back(engagement_id: int) -> None:
    with pytest.raises(Abandoned), transaction.atomic():
        post_message(engagement_id=engagement_id, sender=Message.Sender.SYSTEM, body="rolled back")
        raise Abandoned


@database_sync_to_async
def post_in_a_rolled_back_savepoint_then_commit(engagement_id: int) -> None:
    with transaction.atomic():
        with pytest.raises(Abandoned), transaction.atomic():
            post_message(engagement_id=engagement_id, sender=Message.Sender.SYSTEM, body="savepoint rolled back")
            raise Abandoned
        post_message(engagement_id=engagement_id, sender=Message.Sender.SYSTEM, body="committed")


def test_a_message_whose_transaction_rolls_back_reaches_no_socket(chat):
    engagement, operator = chat

    async def scenario():
        visitor = visitor_socket(engagement)
        await connect(visitor)
        console = await operator_socket(operator.user)
        await connect(console)
        await drain(console)

        await post_then_roll_back(engagement.pk)
        assert await drain(visitor, quiet=0.5) == []
        assert [f for f in await drain(console, quiet=0.2) if f["type"] == "message"] == []

        # Only the outer, committed line goes out, with the seq the rolled-back ones gave back.
        await post_in_a_rolled_back_savepoint_then_commit(engagement.pk)
        for socket in (visitor, console):
            message = await receive_until(socket, "message")
            assert (message["seq"], message["body"]) == (1, "committed")
        assert [f for f in await drain(visitor) if f["type"] == "message"] == []
        await visitor.disconnect()
        await console.disconnect()

    asyncio.run(scenario())
    assert list(Message.objects.filter(engagement=engagement).values_list("seq", "body")) == [(1, "committed")]


# --- queue overview -----------------------------------------------------------------------------------


def test_queues_changed_frame_carries_each_queues_oldest_waiting_time():
    """Waiting counts and the oldest queued time count only engagements still waiting."""
    team = TeamFactory()
    general = QueueFactory(site=team.site, teams=[team], name="General")
    billing = QueueFactory(site=team.site, teams=[team], name="Billing")
    OperatorFactory(site=team.site, teams=[team], available=["chat"], chat_capacity=1)
    now = timezone.now()
    answered = EngagementFactory(queue=general, queued_at=now - timedelta(minutes=20))
    route_engagement(engagement_id=answered.pk)  # the only operator takes the oldest: no longer waiting
    abandoned = EngagementFactory(queue=general, queued_at=now - timedelta(minutes=15))
    end_engagement(engagement_id=abandoned.pk, reason=Engagement.EndReason.VISITOR_LEFT)
    oldest = EngagementFactory(queue=general, queued_at=now - timedelta(minutes=7))
    EngagementFactory(queue=general, queued_at=now - timedelta(minutes=2))
    other_site = QueueFactory(name="Elsewhere")
    EngagementFactory(queue=other_site, queued_at=now - timedelta(hours=1))

    frame = selectors.queues_frame(team.site_id)

    assert frame["type"] == "queues.changed" and frame["site_id"] == team.site_id
    by_name = {queue["name"]: queue for queue in frame["queues"]}
    assert set(by_name) == {"General", "Billing"}
    assert by_name["General"]["id"] == general.pk
    assert by_name["General"]["waiting"] == 2
    assert by_name["General"]["oldest_queued_at"] == oldest.queued_at.isoformat()
    assert (by_name["Billing"]["id"], by_name["Billing"]["waiting"], by_name["Billing"]["oldest_queued_at"]) == (
        billing.pk,
        0,
        None,
    )


def test_a_visitor_entering_a_queue_sends_the_oldest_waiting_time_to_the_sites_consoles():
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team])
    operator = OperatorFactory(site=team.site, teams=[team])  # offline: the chat waits
    earlier = EngagementFactory(queue=queue, queued_at=timezone.now() - timedelta(minutes=3))

    async def scenario():
        console = await operator_socket(operator.user)
        hello = await connect(console)
        (before,) = [q for q in hello["queues"] if q["id"] == queue.pk]
        assert (before["waiting"], before["oldest_queued_at"]) == (1, earlier.queued_at.isoformat())
        await database_sync_to_async(start_chat)(queue=queue, visitor_name="Late")
        frame = await receive_until(console, "queues.changed")
        await console.disconnect()
        return frame

    frame = asyncio.run(scenario())
    (published,) = [q for q in frame["queues"] if q["id"] == queue.pk]
    assert published["waiting"] == 2
    assert published["oldest_queued_at"] == earlier.queued_at.isoformat()


def test_a_line_with_a_client_id_keeps_its_savepoint(chat):
    """Only lines without a client id may skip their savepoint (`post_system_message` does): a
    duplicate gives its seq back by rolling its savepoint back, so asking otherwise is refused
    before anything is written."""
    engagement, _ = chat
    lines_before = Message.objects.filter(engagement_id=engagement.pk).count()
    with pytest.raises(ValueError, match="needs its savepoint"):
        post_message(
            engagement_id=engagement.pk, sender=Message.Sender.VISITOR, body="Hi", client_id="c-1", savepoint=False
        )
    assert Message.objects.filter(engagement_id=engagement.pk).count() == lines_before
    assert Engagement.objects.get(pk=engagement.pk).last_seq == engagement.last_seq
