"""The visitor's message limit (VISITOR_MESSAGES_PER_MINUTE in any 60 s), checked in the post's own
statement on PostgreSQL (no Redis round trip), and by the same rule on the ORM path."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from helpdesk import async_db, selectors
from helpdesk.errors import ChatError
from helpdesk.models import Engagement, Message
from helpdesk.services.engagements import end_engagement, post_message, start_chat
from helpdesk.services.messages_async import apost_message
from tests.factories import OperatorFactory, QueueFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)
VISITOR = Message.Sender.VISITOR


@pytest.fixture
def engagement(settings):
    settings.VISITOR_MESSAGES_PER_MINUTE = 3
    team = TeamFactory()
    queue = QueueFactory(site=team.site, teams=[team])
    operator = OperatorFactory(site=team.site, teams=[team], available=["chat"])
    engagement = start_chat(queue=queue, visitor_name="Vera")
    return engagement, operator


def post_all(engagement_id: int, lines: list[tuple[str, str]]) -> list[object]:
    """Post (sender, client id) lines one after the other on the socket path; each result or error code."""

    owner = Engagement.objects.select_related("owner").get(pk=engagement_id).owner

    async def go():
        results = []
        try:
            for sender, client_id in lines:
                try:
                    operator = owner if sender == Message.Sender.OPERATOR else None
                    line = await apost_message(
                        engagement_id=engagement_id,
                        sender=sender,
                        body=client_id,
                        client_id=client_id,
                        operator=operator,
                    )
                    results.append("duplicate" if line.duplicate else line.frame["seq"])
                except ChatError as error:
                    results.append(error.code)
        finally:
            async_db.pool().close()
        return results

    return asyncio.run(go())


def test_lines_past_the_limit_are_refused_and_nothing_is_written(engagement):
    engagement, _ = engagement
    results = post_all(engagement.pk, [(VISITOR, f"v{n}") for n in range(5)])
    assert results == [1, 2, 3, "rate_limited", "rate_limited"]
    engagement.refresh_from_db()
    assert engagement.last_seq == 3  # a refused line spends no seq
    assert Message.objects.filter(engagement=engagement).count() == 3


def test_operator_lines_do_not_count_and_a_resent_line_at_the_limit_is_its_stored_copy(engagement):
    engagement, _ = engagement
    lines = [(VISITOR, "v0"), (Message.Sender.OPERATOR, "o0"), (VISITOR, "v1"), (VISITOR, "v2")]
    lines += [(VISITOR, "v2"), (Message.Sender.OPERATOR, "o1"), (VISITOR, "v3")]
    assert post_all(engagement.pk, lines) == [1, 2, 3, 4, "duplicate", 5, "rate_limited"]


def test_the_window_slides_lines_older_than_a_minute_stop_counting(engagement):
    engagement, _ = engagement
    assert post_all(engagement.pk, [(VISITOR, f"v{n}") for n in range(3)]) == [1, 2, 3]
    # The oldest line is now 61 s old: one more may go, then the limit holds again.
    Message.objects.filter(engagement=engagement, seq=1).update(created_at=timezone.now() - timedelta(seconds=61))
    assert post_all(engagement.pk, [(VISITOR, "v3"), (VISITOR, "v4")]) == [4, "rate_limited"]


def test_an_ended_chat_says_ended_not_rate_limited(engagement):
    engagement, _ = engagement
    post_all(engagement.pk, [(VISITOR, f"v{n}") for n in range(3)])
    end_engagement(engagement_id=engagement.pk, reason=Engagement.EndReason.VISITOR_LEFT)
    assert post_all(engagement.pk, [(VISITOR, "late")]) == ["ended"]


def test_the_orm_path_asks_the_same_rule(engagement):
    engagement, _ = engagement
    for n in range(3):
        assert not selectors.visitor_over_message_limit(engagement_id=engagement.pk)
        post_message(engagement_id=engagement.pk, sender=VISITOR, body=f"v{n}")
    assert selectors.visitor_over_message_limit(engagement_id=engagement.pk)
    later = timezone.now() + timedelta(seconds=61)
    assert not selectors.visitor_over_message_limit(engagement_id=engagement.pk, now=later)


def test_the_limits_lookup_reads_the_index_of_visitor_lines_not_the_whole_chat(engagement):
    """On a long chat the planner took the foreign key's own index, read every line and sorted them,
    once per visitor line (docs/performance.md; bench/visitor_line.py). Migration 0010 drops that
    index and adds `message_visitor_lines`: the lookup reads backwards from it alone."""
    from django.db import connection

    from helpdesk.services.messages_async import POST_VISITOR_LINE

    engagement, _ = engagement
    old = timezone.now() - timedelta(hours=1)
    Message.objects.bulk_create(
        Message(engagement=engagement, seq=seq, sender=VISITOR if seq % 2 else "system", body="x", created_at=old)
        for seq in range(1, 2001)
    )
    now = timezone.now()
    params = {
        "engagement": engagement.pk,
        "sender": VISITOR,
        "operator": None,
        "body": "y",
        "client_id": "",
        "created_at": now,
        "limit_offset": 59,
        "window_start": now - timedelta(seconds=60),
    }
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE helpdesk_message")
        cursor.execute("EXPLAIN " + POST_VISITOR_LINE, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan Backward using message_visitor_lines" in plan, plan
    assert "Sort" not in plan, plan
