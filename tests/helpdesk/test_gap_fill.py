"""Filling a gap in the seqs a socket forwards, read on the event loop (PostgreSQL's async pool).

The async reader runs the ORM's own query (`selectors.message_rows`), compiled once: it must give
exactly the frames the ORM gives, every kind of sender and name included.
"""

from __future__ import annotations

import asyncio

import pytest

from helpdesk import selectors
from helpdesk.models import Message
from helpdesk.services.messages_async import amessage_frames_between, between_statement
from tests.factories import EngagementFactory, MessageFactory, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_event_loop_read_gives_what_the_orm_gives_for_every_kind_of_sender():
    engagement = EngagementFactory()
    other = EngagementFactory(site=engagement.site)
    MessageFactory(engagement=other, body="another chat's line")
    supervisor_with_profile = OperatorFactory(site=engagement.site, display_name="Sam Supervisor").user
    named = UserFactory(username="nina", first_name="Nina", last_name="Nadel")
    bare = UserFactory(username="plain.user")
    lines = [
        MessageFactory(engagement=engagement, body="visitor line", client_id="c-1"),
        MessageFactory(
            engagement=engagement,
            sender=Message.Sender.OPERATOR,
            operator=OperatorFactory(site=engagement.site, display_name="Olga"),
            body="operator 'quoted' line\nwith a break",
        ),
        MessageFactory(engagement=engagement, sender=Message.Sender.SYSTEM, body="You are now chatting with Olga"),
        MessageFactory(engagement=engagement, sender=Message.Sender.SUPERVISOR, supervisor=supervisor_with_profile),
        MessageFactory(engagement=engagement, sender=Message.Sender.SUPERVISOR, supervisor=named),
        MessageFactory(engagement=engagement, sender=Message.Sender.SUPERVISOR, supervisor=bare),
        MessageFactory(engagement=engagement, body="after the gap"),
    ]
    assert [line.seq for line in lines] == list(range(1, 8))

    between = asyncio.run(amessage_frames_between(engagement_id=engagement.pk, after_seq=1, before_seq=7))

    assert between == selectors.message_frames_after(engagement_id=engagement.pk, after_seq=1, before_seq=7)
    assert [(f["seq"], f["sender_name"]) for f in between] == [
        (2, "Olga"),
        (3, ""),
        (4, "Sam Supervisor"),
        (5, "Nina Nadel"),
        (6, "plain.user"),
    ]
    assert between[0]["created_at"] == lines[1].created_at.isoformat()  # UTC, as the ORM gives it


def test_nothing_between_neighbours_and_nothing_of_other_chats():
    engagement = EngagementFactory()
    MessageFactory(engagement=engagement)
    MessageFactory(engagement=engagement)
    assert asyncio.run(amessage_frames_between(engagement_id=engagement.pk, after_seq=1, before_seq=2)) == []
    assert asyncio.run(amessage_frames_between(engagement_id=engagement.pk + 1000, after_seq=0, before_seq=9)) == []


def test_each_call_fills_its_own_values_into_the_compiled_statement():
    first_sql, first = between_statement(engagement_id=11, after_seq=2, before_seq=5)
    second_sql, second = between_statement(engagement_id=12, after_seq=3, before_seq=9)
    assert first_sql is second_sql
    assert [p for p in first if isinstance(p, int)] == [11, 2, 5]
    assert [p for p in second if isinstance(p, int)] == [12, 3, 9]
